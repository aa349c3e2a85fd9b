"""The order page for support: a failed stage marked failed, the whole tree from an invoice with a
link to its order, dates with the year, no "None", a clean URL after an unknown id, and spans
readable (ms, dates, attributes as a table). Checked on the simulated store."""

from __future__ import annotations

import re

import pandas as pd
from streamlit.testing.v1 import AppTest

from biztrace import config as alerts_config
from biztrace.dashboard import charts, queries, spans, ui
from biztrace.readmodel.transactions import transactions


def _run(at: AppTest) -> AppTest:
    at.run()
    at.switch_page("views/search.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _markdown(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown]


def test_a_failed_order_marks_its_failed_stage_failed_not_reached(app, populated) -> None:
    _, store = populated
    config = alerts_config.load()
    failed = [t for t in transactions(store, config, ui.tick(), states=["failed"]) if t.process == "order_to_cash"
              and t.trouble_stage in config.processes["order_to_cash"].stage_names()]  # fmt: skip
    assert failed, "the simulator fails some orders at a stage"
    tx = failed[0]
    at = _run(app("support", key=tx.key))
    [strip] = [h.value for h in at.html if "bt-stages" in h.value]
    cells = dict(re.findall(r'data-stage="([^"]+)" data-kind="(\w+)"', strip))
    assert list(cells) == config.processes["order_to_cash"].stage_names(), strip
    assert cells[tx.trouble_stage] == "failed", "the failed stage is marked failed, not 'reached'"
    failed_cell = strip[strip.index(f'data-stage="{tx.trouble_stage}"') :].split('class="bt-stage"')[0]
    assert "✖" in failed_cell and "failed: " in failed_cell, failed_cell
    bar = at.get("progress")[0]
    assert f"failed at {tx.trouble_stage}" in bar.proto.text
    reached = [s for s in tx.stages_reached if s != tx.trouble_stage]
    assert bar.proto.text.startswith(f"{len(reached)} of 6 stages reached")
    assert list(cells.values()).count("reached") == len(reached)
    assert len(re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d", strip)) >= len(reached), "dates with their year"


def test_an_invoice_search_shows_its_order_with_a_link_to_it(app, populated) -> None:
    _, store = populated
    invoice, order = store.client.query(
        f"SELECT InvoiceId, OrderId FROM {store.table('biz_hops')} WHERE InvoiceId != '' AND OrderId != '' LIMIT 1"
    ).result_rows[0]
    at = _run(app("support", key=invoice))
    links = [e for e in at.main if e.type == "page_link"]
    assert any(link.proto.label == f"Open order {order}" and link.proto.query_string == f"key={order}"
               for link in links), [link.proto.label for link in links]  # fmt: skip
    assert any(ui.literal(order) in m and "order_to_cash" in m for m in _markdown(at)), "the order's progress shows"
    hops = next(d.value for d in at.dataframe if "span_id" in d.value.columns)
    assert "order.captured" in set(hops["stage"]), "the whole tree, not the invoice's one hop"
    assert any(re.match(r"\d+ hops in \d+ traces? across", c.value) for c in at.caption)


def test_no_none_in_empty_cells_and_dates_with_the_year(app, populated) -> None:
    _, store = populated
    order = store.client.query(
        f"SELECT OrderId FROM {store.table('biz_hops')} WHERE OrderId != '' LIMIT 1"
    ).result_rows[0][0]
    at = _run(app("support", key=order))
    for frame in at.dataframe:
        values = frame.value.astype(str).to_numpy().ravel().tolist()
        assert "None" not in values and "nan" not in values and "NaT" not in values, frame.value
    hops = next(d.value for d in at.dataframe if "span_id" in d.value.columns)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", v) for v in hops["start"]), hops["start"]
    # when biztrace stored each hop (the store's clock): after the store was filled, not before
    stored = pd.to_datetime(hops["stored_at"], format="%Y-%m-%d %H:%M:%S")
    filled = store.client.command(f"SELECT toString(toDateTime(min(Ingested), 'UTC')) FROM {store.table('biz_hops')}")
    assert (stored >= pd.Timestamp(str(filled))).all() and stored.notna().all(), hops["stored_at"]
    assert "Unset" not in set(hops["status"]), "OpenTelemetry's Unset reads as ok"


def test_an_unknown_id_clears_the_previous_key_from_the_url(app, populated) -> None:
    _, store = populated
    order = store.client.query(
        f"SELECT OrderId FROM {store.table('biz_hops')} WHERE OrderId != '' LIMIT 1"
    ).result_rows[0][0]
    at = _run(app("support", key=order))
    assert at.query_params["key"] in (order, [order])
    at.text_input(key="search_key").input("NO-SUCH-ID-42").run()
    assert any("NO-SUCH-ID-42" in w.value for w in at.warning)
    assert "key" not in at.query_params, at.query_params


def test_a_span_reads_in_ms_dates_and_an_attribute_table(populated) -> None:
    _, store = populated
    trace_id, span_id = store.client.query(
        f"SELECT TraceId, SpanId FROM {store.table('biz_hops')} LIMIT 1"
    ).result_rows[0]
    queries.data.share_store(store)
    try:
        record = queries.span(trace_id, span_id)
    finally:
        queries.data.share_store(None)
    facts = spans.facts(record)
    assert re.fullmatch(r"[\d,]+\.\d ms", facts["duration"]), facts
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", facts["started"]), facts
    assert facts["outcome"].split(":")[0] in ("ok", "error"), "never 'Unset'"
    table = spans.attributes(record)
    assert list(table.columns) == ["of", "attribute", "value"]
    assert "biz.stage" in set(table["attribute"]) or "order.id" in set(table["attribute"])


def test_counts_agree_with_their_noun_and_unset_is_no_legend() -> None:
    assert spans.plural(1, "hop") == "1 hop" and spans.plural(1, "trace") == "1 trace"
    assert spans.plural(2, "hop") == "2 hops"
    hops = pd.DataFrame({"start": pd.to_datetime(["2026-12-05 10:00", "2026-12-05 10:05"]), "duration_ms": [5.0, 7.0],
                         "system": ["crm", "erp"], "status": ["Unset", "Unset"], "stage": ["a", "b"],
                         "span_name": ["x", "y"], "trace_id": ["t", "t"]})  # fmt: skip
    figure = charts.timeline(hops)
    assert "Unset" not in {t.name for t in figure.data} and figure.layout.showlegend is False
    failing = charts.timeline(hops.assign(status=["Unset", "Error"]))
    assert {t.name for t in failing.data if t.showlegend is not False} >= {"ok", "error"}
