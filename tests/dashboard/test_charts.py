"""The figures are pure functions of DataFrames: checked here without Streamlit or a browser."""

from __future__ import annotations

import pandas as pd

from biztrace.dashboard import charts


def test_heat_map_rows_follow_the_process_stage_order_and_show_adherence() -> None:
    sla = pd.DataFrame(
        [("p", "b.second", "high", 1, 2, 0.5), ("p", "a.first", "high", 3, 3, 1.0), ("p", "a.first", "low", 0, 1, 0.0)],
        columns=["process", "stage", "priority", "met", "measured", "adherence"],
    )
    figure = charts.sla_heatmap(sla, ["p · a.first", "p · b.second"])
    heat = figure.data[0]
    assert list(heat.y) == ["p · b.second", "p · a.first"], "first stage drawn at the top"
    assert list(heat.x) == ["high", "low"]
    assert heat.text[1][0] == "100%" and heat.text[0][0] == "50%"


def test_heat_map_colours_breaches_of_the_target_red_and_met_green_whatever_the_value() -> None:
    sla = pd.DataFrame(
        [("p", "a", "high", 90, 100, 0.90), ("p", "a", "low", 96, 100, 0.96), ("p", "b", "high", 95, 100, 0.95)],
        columns=["process", "stage", "priority", "met", "measured", "adherence"],
    )
    heat = charts.sla_heatmap(sla, ["p · a", "p · b"], target=0.95).data[0]
    colour = {0: charts.BREACH, 1: charts.MET}
    cells = {(y, x): colour[int(heat.z[i][j])] for i, y in enumerate(heat.y) for j, x in enumerate(heat.x)
             if heat.z[i][j] == heat.z[i][j]}  # fmt: skip
    assert cells[("p · a", "high")] == charts.BREACH, "90% is a breach of 95%, not nearly green"
    assert cells[("p · a", "low")] == charts.MET and cells[("p · b", "high")] == charts.MET
    assert heat.colorscale[0][1] == charts.BREACH and heat.colorscale[-1][1] == charts.MET
    assert heat.texttemplate == "%{text}" and heat.text[list(heat.y).index("p · a")][0] == "90%"


def test_the_last_bucket_still_filling_is_marked_partial_not_drawn_as_a_fall() -> None:
    buckets = pd.to_datetime(["2026-12-05 10:00", "2026-12-05 11:00", "2026-12-05 12:00"])
    current = pd.DataFrame({"bucket": buckets, "met": [95, 90, 3], "measured": [100, 100, 10],
                            "adherence": [0.95, 0.90, 0.30]})  # fmt: skip
    previous = current.assign(adherence=[0.97, 0.96, 0.98])
    figure = charts.sla_trend(current, previous, target=0.95, partial_from=buckets[-1], bucket_s=3600)
    this = next(t for t in figure.data if t.name == "this period")
    assert list(this.y) == [0.95, 0.90], "the solid line stops at the last complete bucket"
    partial = next(t for t in figure.data if t.name == "partial bucket (still filling)")
    assert list(partial.y) == [0.90, 0.30] and partial.line.dash == "dot" and partial.marker.symbol == "circle-open"
    assert any(t.name == "previous period" for t in figure.data)
    assert any(a.text == "partial: still filling" for a in figure.layout.annotations)
    assert any(a.text == "target 95%" for a in figure.layout.annotations)
    counts = pd.DataFrame({"bucket": buckets, "process": "p", "started": [10, 10, 1], "complete": [8, 8, 0],
                           "in_flight": [2, 2, 1], "stuck": 0, "failed": 0})  # fmt: skip
    trend = charts.trend(counts, buckets[-1], 3600)
    assert any(a.text == "partial: still filling" for a in trend.layout.annotations)
    assert not any(a.text == "partial: still filling" for a in charts.trend(counts).layout.annotations)


def test_worst_stages_put_the_most_stuck_first_and_count_dead_letters_as_failed() -> None:
    states = pd.DataFrame(
        [("p", "stuck", "ship", "wms", "normal", 5), ("p", "stuck", "invoice", "erp", "normal", 9),
         ("p", "dead_letter", "accept", "middleware", "normal", 2), ("p", "in_flight", "ship", "wms", "normal", 99)],
        columns=["process", "state", "waiting_for", "system", "priority", "transactions"],
    )  # fmt: skip
    worst = charts.worst_stages(states)
    assert list(worst["waiting for"]) == ["invoice", "ship", "accept"]
    assert list(worst["failed"]) == [0, 0, 2]


def test_the_flow_links_carry_the_volumes_and_median_times() -> None:
    transitions = pd.DataFrame(
        [("p", "(start)", "a", 10, 0.0), ("p", "a", "b", 8, 7200.0), ("p", "a", "(stuck)", 2, 90000.0)],
        columns=["process", "from_stage", "to_stage", "transactions", "median_s"],
    )
    sankey = charts.process_flow(transitions).data[0]
    labels = list(sankey.node.label)
    assert labels == ["(start)", "a", "b", "(stuck)"]
    assert list(sankey.link.value) == [10, 8, 2]
    assert list(sankey.link.customdata) == ["0s", "2.0h", "1.0d"]


def test_empty_frames_draw_a_message_not_an_error() -> None:
    empty = pd.DataFrame()
    for figure in (charts.states_by_process(empty), charts.sla_heatmap(empty), charts.trend(empty),
                   charts.sla_trend(empty), charts.latency(empty), charts.timeline(empty), charts.process_flow(empty),
                   charts.parity(empty), charts.exceptions_by_kind(empty), charts.money_stuck(empty)):  # fmt: skip
        assert figure.layout.annotations and not figure.data


def test_exceptions_by_kind_draws_the_counted_exceptions_not_the_rows() -> None:
    counts = pd.DataFrame(
        [("p", "stuck", "open", 120), ("p", "stuck", "acknowledged", 3), ("p", "failed", "open", 40),
         ("q", "mismatch", "open", 7)],
        columns=["process", "kind", "state", "exceptions"],
    )  # fmt: skip
    figure = charts.exceptions_by_kind(counts)
    drawn = {
        (trace.name, process): length for trace in figure.data for length, process in zip(trace.x, trace.y, strict=True)
    }
    assert drawn == {("stuck", "p"): 123, ("failed", "p"): 40, ("mismatch", "q"): 7}


def test_the_parity_chart_shows_each_periods_rate_over_all_its_pairs_not_a_stack_of_channel_rates() -> None:
    parity = pd.DataFrame(
        [("2026-11-20", "r", "web", 100, 1, 0.01), ("2026-11-20", "r", "edi", 10, 2, 0.2),
         ("2026-11-21", "r", "web", 50, 0, 0.0)],
        columns=["period", "rule", "channel", "pairs", "mismatched", "mismatch_rate"],
    )  # fmt: skip
    [bars] = charts.parity(parity).data
    assert list(bars.x) == ["2026-11-20", "2026-11-21"]
    assert list(bars.y) == [3 / 110, 0.0]
    assert bars.type == "bar"


def test_money_stuck_stacks_states_per_stage_with_a_panel_per_currency() -> None:
    """Amounts in two currencies are never added up: each currency has its own panel and scale; a state's
    bars carry its colour and one legend entry; the states in trouble stack per process · stage."""
    frame = pd.DataFrame(
        [("o2c · shipment.confirmed", "stuck", "EUR", 300.0), ("o2c · shipment.confirmed", "failed", "EUR", 50.0),
         ("o2c · invoice.posted", "stuck", "EUR", 20.0), ("o2c · shipment.confirmed", "stuck", "USD", 7.5)],
        columns=["where", "state", "currency", "amount"],
    )  # fmt: skip
    figure = charts.money_stuck(frame)
    drawn = {(t.name, t.xaxis, x, y) for t in figure.data for x, y in zip(t.x, t.y, strict=True)}
    assert drawn == {("stuck", "x", "o2c · shipment.confirmed", 300.0), ("stuck", "x", "o2c · invoice.posted", 20.0),
                     ("failed", "x", "o2c · shipment.confirmed", 50.0),
                     ("stuck", "x2", "o2c · shipment.confirmed", 7.5)}  # fmt: skip
    assert [a.text for a in figure.layout.annotations] == ["currency=EUR", "currency=USD"]
    assert figure.layout.barmode == "stack" and figure.layout.yaxis2.matches is None
    assert [t.name for t in figure.data if t.showlegend] == ["stuck", "failed"]
    assert {t.name: t.marker.color for t in figure.data} == {"stuck": charts.STATE_COLORS["stuck"],
                                                             "failed": charts.STATE_COLORS["failed"]}  # fmt: skip
