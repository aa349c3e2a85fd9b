"""A real SDK provider with the in-memory exporter (the SDK's own test exporter)."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from biztrace.tracing import BusinessSpanProcessor


class Spans:
    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(resource=Resource.create({"service.name": "test"}))
        self.provider.add_span_processor(BusinessSpanProcessor())
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("test")

    def finished(self):
        return self.exporter.get_finished_spans()

    def named(self, name: str):
        return next(span for span in self.finished() if span.name == name)


@pytest.fixture
def spans() -> Spans:
    return Spans()


@pytest.fixture
def development(monkeypatch):
    monkeypatch.setenv("BIZTRACE_TRACING_MODE", "development")


@pytest.fixture(autouse=True)
def no_processes_configured(monkeypatch):
    """Every test starts with no processes file and nothing registered (the vocabulary is global)."""
    from biztrace.tracing import processes

    for name in processes.FILE_ENVS:
        monkeypatch.delenv(name, raising=False)
    processes._reset()
    yield
    processes._reset()
