"""biztrace's instrumentation: business hops as OpenTelemetry spans.

Example:
    from biztrace import tracing
    tracing.configure("erp-integration", processes_file="biztrace.yaml")  # the server's YAML (optional)
    with tracing.hop("order.accepted", system="erp", order_id="O-1182"):
        accept(order)

Any OpenTelemetry SDK that sets the attributes of ``shared/CONVENTIONS.md`` is a
producer; this package is one convenient way to set them.
"""

from __future__ import annotations

from biztrace.tracing.api import (
    HopAttributes,
    HopFailure,
    HopValidationError,
    hop,
    link_to,
    mark_dead_letter,
    mark_duplicate,
    mark_failed,
    mark_mapping_failure,
    mark_retry,
    record,
)
from biztrace.tracing.bootstrap import configure, exporter
from biztrace.tracing.context import business_context, current_keys
from biztrace.tracing.processes import ProcessesFileError, load_processes, register_process
from biztrace.tracing.processor import BusinessSpanProcessor
from biztrace.tracing.propagation import attached, extract, inject, propagate, span_context_from_traceparent, submit
from biztrace.tracing.sampling import BusinessKeySampler

__all__ = [
    "BusinessKeySampler",
    "BusinessSpanProcessor",
    "HopAttributes",
    "HopFailure",
    "HopValidationError",
    "ProcessesFileError",
    "attached",
    "business_context",
    "configure",
    "current_keys",
    "exporter",
    "extract",
    "hop",
    "inject",
    "link_to",
    "load_processes",
    "mark_dead_letter",
    "mark_duplicate",
    "mark_failed",
    "mark_mapping_failure",
    "mark_retry",
    "propagate",
    "record",
    "register_process",
    "span_context_from_traceparent",
    "submit",
]
