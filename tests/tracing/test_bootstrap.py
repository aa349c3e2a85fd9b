"""configure(): adds to an existing provider, never replaces it; the business-key sampler."""

from __future__ import annotations

import subprocess
import sys

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from biztrace import tracing
from biztrace.tracing import BusinessKeySampler, hop


def test_configure_adds_to_an_existing_provider_once():
    provider = TracerProvider()
    theirs = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(theirs))
    ours = InMemorySpanExporter()
    assert tracing.configure("erp", provider=provider, span_exporter=ours) is provider
    assert tracing.configure("erp", provider=provider, span_exporter=ours) is provider
    processors = provider._active_span_processor._span_processors
    assert len(processors) == 3  # theirs, BusinessSpanProcessor, our batch exporter: not twice
    with hop("order.accepted", system="erp", order_id="O-1", tracer=provider.get_tracer("t")):
        pass
    provider.force_flush()
    assert [s.name for s in theirs.get_finished_spans()] == ["erp.order.accepted"]
    assert [s.name for s in ours.get_finished_spans()] == ["erp.order.accepted"]


def test_configure_sets_a_global_provider_from_otel_environment():
    script = (
        "from biztrace import tracing\n"
        "from opentelemetry import trace\n"
        "p = tracing.configure()\n"
        "assert trace.get_tracer_provider() is p\n"
        "print(p.resource.attributes['service.name'], p.sampler.get_description())\n"
    )
    env = {"OTEL_SERVICE_NAME": "wms-bridge", "OTEL_TRACES_SAMPLER_ARG": "0.25",
           "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "PATH": "/usr/bin:/bin"}  # fmt: skip
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["wms-bridge", "BusinessKeySampler{ratio=0.25}"]


def test_sampler_never_drops_a_business_span():
    provider = TracerProvider(sampler=BusinessKeySampler(ratio=0.0))
    exporter = InMemorySpanExporter()
    provider.add_span_processor(tracing.BusinessSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    tracer.start_span("health.check").end()
    with hop("order.accepted", system="erp", order_id="O-S", tracer=tracer):
        tracer.start_span("erp.db.query").end()  # no key attribute, but the key is in baggage
    assert sorted(s.name for s in exporter.get_finished_spans()) == ["erp.db.query", "erp.order.accepted"]
