"""Producers written with the plain OpenTelemetry SDK (no biztrace code), sending through a real collector."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

from biztrace.collector.service import Collector
from biztrace.store import Store

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
"""When the test data starts; each span is placed at T0 + minutes."""


class Producers:
    """One OTel SDK tracer provider per service.name, exporting OTLP/HTTP to the collector."""

    t0 = T0
    now = T0 + timedelta(hours=6)
    """A time after every span the tests send."""

    def __init__(self, collector: Collector) -> None:
        self.collector = collector
        self._providers: dict[str, TracerProvider] = {}

    @property
    def store(self) -> Store:
        return self.collector.store

    def span(self, service: str, name: str, minute: float, error: bool = False, **attributes: Any) -> None:
        """One root span of ``service`` named ``name`` at T0 + ``minute``, lasting 100 ms."""
        provider = self._providers.get(service)
        if provider is None:
            provider = TracerProvider(resource=Resource.create({"service.name": service}))
            exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{self.collector.ports.http}/v1/traces")
            provider.add_span_processor(BatchSpanProcessor(exporter))
            self._providers[service] = provider
        start = T0 + timedelta(minutes=minute)
        start_ns = int(start.timestamp() * 1e9)
        span = provider.get_tracer("producer").start_span(name, start_time=start_ns, attributes=attributes)
        if error:
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=start_ns + 100_000_000)

    def flush(self) -> Store:
        """Deliver everything sent so far; returns the store it landed in."""
        for provider in self._providers.values():
            assert provider.force_flush(30_000)
        return self.store

    def shutdown(self) -> None:
        for provider in self._providers.values():
            provider.shutdown()


@pytest.fixture
def producers(start_collector: Callable[..., Collector]) -> Iterator[Producers]:
    made = Producers(start_collector())
    yield made
    made.shutdown()
