"""An order's trace as a waterfall beside its business timeline (issue 16, item 5): spans sent by
plain OpenTelemetry SDK producers (a business hop calling another system through technical spans,
one of them failing) through a real collector, read back as a tree and drawn on the order page."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode
from streamlit.testing.v1 import AppTest

from biztrace.dashboard import data
from biztrace.readmodel.traces import trace_spans
from tests.dashboard.conftest import APP

ORDER = "O-WF-1"
# (service, name, parent name, start ms, duration ms, error, attributes): one order's capture calling the ERP
SPANS = [
    (
        "crm",
        "order.capture",
        None,
        0,
        900,
        False,
        {"order.id": ORDER, "biz.stage": "order.captured", "biz.channel": "web", "biz.amount": 120.5},
    ),
    ("crm", "crm.validate", "order.capture", 5, 40, False, {"rule.count": 3}),
    ("crm", "POST /erp/orders", "order.capture", 60, 800, False, {"http.method": "POST"}),
    ("erp", "erp.accept_order", "POST /erp/orders", 70, 700, True, {"order.id": ORDER, "biz.stage": "order.accepted"}),
    ("erp", "SELECT credit", "erp.accept_order", 80, 2500, False, {"db.system": "postgresql"}),
]


@pytest.fixture
def sdk_store(start_collector) -> Iterator[str]:
    """The spans above, exported by the OpenTelemetry SDK (one provider per service) to a real
    collector, an hour ago; yields the store's DSN."""
    collector = start_collector()
    providers = {}
    for service in {s[0] for s in SPANS}:
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{collector.ports.http}/v1/traces")
        provider.add_span_processor(BatchSpanProcessor(exporter))
        providers[service] = provider
    t0 = int((datetime.now(UTC) - timedelta(hours=1)).timestamp() * 1e9)
    made = {}
    for service, name, parent, start_ms, duration_ms, error, attributes in SPANS:
        context = trace.set_span_in_context(made[parent]) if parent else None
        start = t0 + start_ms * 1_000_000
        kind = SpanKind.CLIENT if name.startswith("POST") else SpanKind.INTERNAL
        span = (
            providers[service]
            .get_tracer("shop")
            .start_span(name, context=context, kind=kind, start_time=start, attributes=attributes)
        )
        if error:
            span.set_status(Status(StatusCode.ERROR, "credit check failed"))
        span.end(end_time=start + duration_ms * 1_000_000)
        made[name] = span
    for provider in providers.values():
        assert provider.force_flush(30_000)
        provider.shutdown()
    yield collector.settings.store


def test_the_order_page_draws_its_trace_as_a_waterfall(sdk_store, users_file, monkeypatch) -> None:
    from biztrace.dashboard import auth
    from biztrace.store import connect

    with connect(sdk_store) as store:
        traces = [
            r[0] for r in store.client.query(f"SELECT DISTINCT TraceId FROM {store.table('biz_hops')}").result_rows
        ]
        found = trace_spans(store, traces)
        assert found.total == len(SPANS) and not found.spans[0].parent_span_id
        assert [(s.name, s.depth) for s in found.spans] == [
            ("order.capture", 0), ("crm.validate", 1), ("POST /erp/orders", 1), ("erp.accept_order", 2),
            ("SELECT credit", 3),
        ]  # fmt: skip
        assert [round(s.offset_ms) for s in found.spans] == [0, 5, 60, 70, 80]
        assert len(trace_spans(store, traces, limit=2).spans) == 2

    monkeypatch.setenv("BIZTRACE_STORE", sdk_store)
    monkeypatch.setenv("BIZTRACE_USERS_FILE", str(users_file))
    monkeypatch.delenv("BIZTRACE_CONFIG", raising=False)
    data.share_store(None)
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["key"] = ORDER
    at.session_state["auto_refresh"] = False
    at.session_state["user"] = auth.User(name="support", roles=["support"], via="local")
    at.run()
    at.switch_page("views/search.py").run()
    assert not at.exception, [e.value for e in at.exception]
    charts = {c.proto.id: json.loads(c.proto.spec) for c in at.get("plotly_chart")}
    waterfall = next(spec for spec in charts.values() if spec["layout"].get("meta") == "waterfall")
    # a row per span, children under their parent, indented by depth, the failing span marked
    names = [(a["text"], a["y"], a["xshift"]) for a in waterfall["layout"]["annotations"]]
    assert [n[0] for n in names] == [
        "order.capture", "crm.validate", "POST /erp/orders", "✖ erp.accept_order", "SELECT credit"
    ]  # fmt: skip
    assert [n[1] for n in names] == [0, 1, 2, 3, 4]
    shifts = [n[2] - names[0][2] for n in names]
    assert shifts == [0, 14, 14, 28, 42], "indented by depth"
    bars = {t["name"]: t for t in waterfall["data"]}
    assert set(bars) == {"ok", "error"}
    error = bars["error"]
    assert error["marker"]["color"] == "#c62828" and len(error["y"]) == 1
    hover = " ".join(str(c) for c in error["customdata"][0])
    assert "700.0 ms" in hover and "credit check failed" in hover and "biz.stage = order.accepted" in hover
    assert "2.50 s" in " ".join(str(c) for c in bars["ok"]["customdata"][-1]), "durations read as a person would"
    assert any("all 5 spans of 1 trace" in c.value for c in at.caption), [c.value for c in at.caption]
