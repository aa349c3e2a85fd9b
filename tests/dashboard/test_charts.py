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
    assert heat.z[1][0] == 1.0 and heat.z[0][0] == 0.5


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
                   charts.latency(empty), charts.timeline(empty), charts.process_flow(empty), charts.parity(empty),
                   charts.exceptions_by_kind(empty)):  # fmt: skip
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
