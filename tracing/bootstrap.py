"""One call configures OpenTelemetry for a service that reports business hops."""

from __future__ import annotations

import logging
import os

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from biztrace.tracing import processes
from biztrace.tracing.processor import BusinessSpanProcessor
from biztrace.tracing.sampling import BusinessKeySampler

logger = logging.getLogger(__name__)
_MARK = "_biztrace_configured"


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def _headers(text: str | None) -> dict[str, str]:
    headers = {}
    for item in (text or "").split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            headers[key.strip()] = value.strip()
    return headers


def exporter(endpoint: str | None = None, protocol: str | None = None, headers: dict[str, str] | None = None,
             token: str | None = None) -> SpanExporter:  # fmt: skip
    """The OTLP exporter for ``protocol`` (``http/protobuf`` default, or ``grpc``)."""
    protocol = protocol or _env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf"
    merged = _headers(_env("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"))
    merged.update(headers or {})
    if token:
        merged["authorization"] = f"Bearer {token}"
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        target = endpoint or _env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
        target = target or "http://localhost:4317"
        return GrpcExporter(endpoint=target, insecure=target.startswith("http://"), headers=merged or None)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    target = endpoint or _env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if target is None:
        base = _env("OTEL_EXPORTER_OTLP_ENDPOINT") or "http://localhost:4318"
        target = base.rstrip("/") + "/v1/traces"
    return HttpExporter(endpoint=target, headers=merged or None)


def configure(
    service_name: str | None = None,
    *,
    endpoint: str | None = None,
    protocol: str | None = None,
    headers: dict[str, str] | None = None,
    token: str | None = None,
    sample_ratio: float | None = None,
    mode: str | None = None,
    provider: TracerProvider | None = None,
    span_exporter: SpanExporter | None = None,
    processes_file: str | os.PathLike[str] | None = None,
) -> TracerProvider:
    """Configure OpenTelemetry for one service; returns the provider in use.

    Reads ``OTEL_SERVICE_NAME``, ``OTEL_EXPORTER_OTLP_*`` and ``OTEL_TRACES_SAMPLER_ARG``;
    explicit arguments win. When the application already set an SDK TracerProvider
    (or passes ``provider``), biztrace adds its processors to it and never replaces it (its
    sampler then stays the application's); calling again adds nothing twice.
    ``processes_file`` is the server's configuration file (its ``processes:`` section): hops
    are placed in and checked against those processes (default: ``BIZTRACE_PROCESSES_FILE``
    or ``BIZTRACE_CONFIG``; none, and no stage is unknown).

    Raises:
        ProcessesFileError: ``processes_file`` cannot be read or its processes are not valid.

    Example:
        configure("wms-integration", endpoint="http://collector:4318/v1/traces", token="s3cret",
                  processes_file="/etc/biztrace/biztrace.yaml")
    """
    if mode:
        os.environ[processes.MODE_ENV] = mode
    if processes_file is not None:
        processes.load_processes(processes_file)
    existing = provider or trace.get_tracer_provider()
    if isinstance(existing, TracerProvider):
        target = existing
    else:
        name = service_name or _env("OTEL_SERVICE_NAME") or "unknown_service"
        ratio = sample_ratio if sample_ratio is not None else float(_env("OTEL_TRACES_SAMPLER_ARG") or 1.0)
        target = TracerProvider(resource=Resource.create({"service.name": name}), sampler=BusinessKeySampler(ratio))
        trace.set_tracer_provider(target)
    if getattr(target, _MARK, False):
        return target
    target.add_span_processor(BusinessSpanProcessor())
    target.add_span_processor(BatchSpanProcessor(span_exporter or exporter(endpoint, protocol, headers, token)))
    setattr(target, _MARK, True)
    return target
