"""Every fact that two surfaces show is the same number on each (issue 12, item 6).

On one simulated store, for the same window and filters: the CLI's ``--json`` (run in-process),
the dashboard's pages (AppTest, reading what the page shows: metrics, their help text, the
chart's bars) and the alert rules' values (``readmodel.rules.evaluate``). Where a fact has a
written definition (SLA adherence), it is also computed here from the transactions' states by
that definition alone, so that changing the one SQL definition fails the suite too.
"""

from __future__ import annotations

import base64
import json
import re
from collections import Counter
from datetime import UTC, timedelta

import numpy as np
import pytest

from biztrace.cli.main import main
from biztrace.dashboard import ui
from biztrace.readmodel import rules
from biztrace.readmodel.transactions import transactions

from .conftest import WINDOW, Surfaces

SPAN = timedelta(days=7)


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> object:
    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


def _rule_values(surfaces: Surfaces, moment) -> dict[str, list[rules.RuleResult]]:
    found, errors = rules.evaluate(surfaces.store, surfaces.config, moment)
    assert not errors, errors
    values: dict[str, list[rules.RuleResult]] = {}
    for result in found:
        values.setdefault(result.rule, []).append(result)
    return values


def _cli_alert_values(surfaces: Surfaces, capsys, moment) -> dict[str, float]:
    report = _cli(capsys, "alerts", "evaluate", "--dry-run", "--json", "--store", surfaces.dsn,
                  "--config", str(surfaces.config_file), "--now", moment.isoformat())  # fmt: skip
    return {alert["rule"]: alert["value"] for alert in report["alerts"]}


def _metrics(at) -> dict[str, tuple[str, str]]:
    return {m.label: (m.value, m.proto.help) for m in at.metric}


def _count(text: str) -> int:
    return int(text.replace(",", ""))


def _sla_by_definition(
    surfaces: Surfaces, moment, only: str | None = None, *, span: timedelta = SPAN, before: bool = False
) -> tuple[int, int]:
    """(met, measured) by the written definition (readmodel/figures.py), from the transactions' states at
    ``moment``: of those started in the ``span`` before it, or (``before``) in the period as long before that."""
    config = surfaces.config
    met = measured = 0
    since = moment - span * (2 if before else 1)
    start, end = since.replace(tzinfo=None), (moment - span * before).replace(tzinfo=None)
    for tx in transactions(surfaces.store, config, moment, since=since):
        process = config.processes[tx.process]
        if (only not in (None, tx.process) or process.end_to_end is None or tx.started_at < start
                or (before and tx.started_at >= end)):  # fmt: skip
            continue
        deadline = tx.started_at + process.end_to_end.within
        if process.completes_at in tx.stages_reached and tx.state == "complete":
            completed_at = tx.stages_reached_at[tx.stages_reached.index(process.completes_at)]
            measured += 1
            met += completed_at <= deadline
        elif tx.state == "stuck" or deadline < moment.replace(tzinfo=None):
            measured += 1
    return met, measured


def test_sla_adherence_is_one_figure_on_the_overview_in_the_rule_and_in_the_cli(surfaces, page, capsys) -> None:
    moment = surfaces.moment()
    met, measured = _sla_by_definition(surfaces, moment)
    assert measured > met > 0, "the simulated store has both met and missed SLAs"
    expected = met / measured

    overview = _metrics(page("overview"))
    shown, help_text = overview["End-to-end SLA adherence"]
    assert shown == f"{expected:.1%}"
    assert help_text.startswith(f"{met:,} of {measured:,} transactions started in the last {WINDOW}")

    [rule] = _rule_values(surfaces, moment)["EndToEndSlaLow"]
    assert rule.labels == {} and rule.value == pytest.approx(expected)
    assert _cli_alert_values(surfaces, capsys, moment)["EndToEndSlaLow"] == pytest.approx(expected)
    # what it counted, beside it: in the JSON and in the text a person reads
    report = _cli(capsys, "alerts", "evaluate", "--dry-run", "--json", "--store", surfaces.dsn,
                  "--config", str(surfaces.config_file), "--now", moment.isoformat())  # fmt: skip
    assert [a["sample"] for a in report["alerts"] if a["rule"] == "EndToEndSlaLow"] == [measured]
    assert main(["alerts", "evaluate", "--dry-run", "--store", surfaces.dsn, "--config", str(surfaces.config_file),
                 "--now", moment.isoformat()]) == 0  # fmt: skip
    [line] = [line for line in capsys.readouterr().out.splitlines() if " EndToEndSlaLow " in line]
    assert f"value={rule.value:g} of {measured:,}" in line, line
    figures = _cli(capsys, "figures", "--window", WINDOW, "--now", moment.isoformat(), "--json", "--store",
                   surfaces.dsn, "--config", str(surfaces.config_file))  # fmt: skip
    assert figures["sla_adherence_overall"]["adherence"] == pytest.approx(expected)
    assert (figures["sla_adherence_overall"]["met"], figures["sla_adherence_overall"]["measured"]) == (met, measured)

    for process in ("order_to_cash", "customer_master"):  # the sidebar's process filter narrows it the same way
        met, measured = _sla_by_definition(surfaces, moment, only=process)
        assert measured > 0
        shown, help_text = _metrics(page("overview", f_process=process))["End-to-end SLA adherence"]
        assert (shown, help_text.split(" transactions")[0]) == (f"{met / measured:.1%}", f"{met:,} of {measured:,}")


def test_the_overview_headline_shows_its_counts_and_its_change_from_the_period_before(surfaces, page) -> None:
    moment = surfaces.moment()
    day = timedelta(days=1)  # the store holds a week: a day's window has a previous period
    met, measured = _sla_by_definition(surfaces, moment, span=day)
    prior_met, prior_measured = _sla_by_definition(surfaces, moment, span=day, before=True)
    assert measured > 0 and prior_measured > 0, "the simulated store has both periods"
    at = page("overview", f_window="24h")
    [headline] = [m for m in at.metric if m.label == "End-to-end SLA adherence"]
    assert headline.value == f"{met / measured:.1%}"
    points = round((met / measured - prior_met / prior_measured) * 100, 1)
    assert headline.delta == (f"{points:+.1f} pts" if points else "0.0 pts")
    assert headline.proto.delta_description == "vs the previous period"
    prior = f"{prior_met / prior_measured:.1%}, {prior_met:,} of {prior_measured:,}"
    assert headline.proto.help.endswith(f"as long: {prior}.")
    # the counts under the share, so a handful measured does not read like a collapse
    assert any(c.value.startswith(f"{met:,} of {measured:,} measured · ") for c in at.caption), [
        c.value for c in at.caption
    ]


def test_stuck_counts_agree_on_the_overview_the_queue_the_rules_and_the_cli(surfaces, page, capsys) -> None:
    moment = surfaces.moment()
    states = Counter((t.process, t.state) for t in transactions(surfaces.store, surfaces.config, moment,
                                                                  since=moment - SPAN))  # fmt: skip
    stuck_orders = states[("order_to_cash", "stuck")]
    stuck = sum(n for (_, state), n in states.items() if state == "stuck")
    assert stuck_orders > 0

    assert _count(_metrics(page("overview"))["Stuck"][0]) == stuck
    assert _count(_metrics(page("overview", f_process="order_to_cash"))["Stuck"][0]) == stuck_orders

    values = _rule_values(surfaces, moment)
    assert [r.value for r in values["StuckAnywhere"]] == [stuck]
    assert [r.value for r in values["StuckOrders"]] == [stuck_orders]
    cli = _cli_alert_values(surfaces, capsys, moment)
    assert (cli["StuckAnywhere"], cli["StuckOrders"]) == (stuck, stuck_orders)

    listed = [item for state in ("open", "acknowledged", "resolved") for item in _cli(
        capsys, "exceptions", "--kind", "stuck", "--state", state, "--json", "--store", surfaces.dsn,
        "--config", str(surfaces.config_file), "--now", moment.isoformat())]  # fmt: skip
    assert sum(1 for item in listed if item["detected"]) == stuck, "every stuck transaction is a stuck exception"


def _queue_from_cli(surfaces: Surfaces, capsys, moment) -> list[dict]:
    return [item for state in ("open", "acknowledged", "resolved") for item in _cli(
        capsys, "exceptions", "--state", state, "--json", "--store", surfaces.dsn, "--config",
        str(surfaces.config_file), "--now", moment.isoformat())]  # fmt: skip


def _values(array: list | dict) -> list:
    """A plotly JSON array: a list, or numbers packed as base64 (``{"dtype": "i8", "bdata": ...}``)."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


def _bars(at) -> dict[tuple[str, str], int]:
    """What the "exceptions by kind" chart draws: (process, kind) -> bar length."""
    [chart] = [c for c in at.get("plotly_chart") if c.proto.id and "kinds_chart" in c.proto.id]
    drawn: dict[tuple[str, str], int] = {}
    for trace in json.loads(chart.proto.spec)["data"]:
        for length, process in zip(_values(trace["x"]), _values(trace["y"]), strict=True):
            drawn[(process, trace["name"])] = drawn.get((process, trace["name"]), 0) + int(length)
    return drawn


def test_exceptions_by_kind_and_state_and_time_to_resolve_agree_on_the_queue_and_in_the_cli(
    surfaces, page, capsys
) -> None:
    moment = surfaces.moment()
    listed = _queue_from_cli(surfaces, capsys, moment)
    by_state = Counter(item["state"] for item in listed)
    assert by_state["resolved"] >= 6 and by_state["acknowledged"] >= 3 and by_state["open"] > 50

    at = page("exceptions")
    shown = _metrics(at)
    assert {state: _count(shown[label][0]) for state, label in (
        ("open", "Open"), ("acknowledged", "Acknowledged"), ("resolved", "Resolved"))} == dict(by_state)  # fmt: skip
    unresolved = Counter((item["process"], item["kind"]) for item in listed if item["state"] != "resolved")
    assert _bars(at) == dict(unresolved), "each bar is the number of exceptions, not of rows"
    assert len(set(kind for _, kind in unresolved)) == 5, "every kind of CONVENTIONS was detected"

    times = [item["resolution_s"] for item in listed if item["state"] == "resolved"]
    assert all(t is not None and t > 0 for t in times)
    assert shown["Median time to resolve"][0] == ui.age(float(np.percentile(times, 50)))
    assert shown["p90 time to resolve"][0] == ui.age(float(np.percentile(times, 90)))


def test_mismatch_rates_agree_on_the_reconciliation_page_in_the_rule_and_in_the_cli(surfaces, page, capsys) -> None:
    moment = surfaces.moment()
    parity = _cli(capsys, "reconcile", "--json", "--store", surfaces.dsn, "--config", str(surfaces.config_file),
                  "--now", moment.isoformat(), "--since", (moment - SPAN).isoformat())["parity"]  # fmt: skip
    process_of = {rule.name: rule.process for rule in surfaces.config.reconciliation}
    pairs, mismatched = Counter(), Counter()
    for row in parity:
        for scope in (process_of[row["rule"]], row["rule"]):
            pairs[scope] += row["pairs"]
            mismatched[scope] += row["mismatched"]
    assert mismatched["order_to_cash"] > 0

    shown = _metrics(page("reconciliation"))
    for scope in pairs:
        label = f"{scope} (every rule)" if scope in process_of.values() else scope
        value, help_text = shown[label]
        assert value == f"{mismatched[scope] / pairs[scope]:.2%} mismatched", scope
        assert re.match(rf"{mismatched[scope]:,} of {pairs[scope]:,} pairs", help_text), scope

    rule_values = {r.labels["process"]: r.value for r in _rule_values(surfaces, moment)["SystemsDisagree"]}
    assert rule_values == pytest.approx({p: mismatched[p] / pairs[p] for p in set(process_of.values()) if pairs[p]})
    assert _cli_alert_values(surfaces, capsys, moment)["SystemsDisagree"] == pytest.approx(rule_values["order_to_cash"])


def test_the_api_gives_the_same_figures_and_the_same_queue_as_the_cli(surfaces, capsys) -> None:
    """The HTTP API (issue 15) is one more surface over the same read model: real HTTP, an admin token."""
    import httpx

    from biztrace.api import tokens
    from biztrace.api.app import build_app
    from biztrace.api.server import ApiServer

    moment = surfaces.moment()
    naive = moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
    server = ApiServer(build_app(surfaces.store, surfaces.config, lambda: naive), port=0).start()
    _, secret = tokens.create(surfaces.store, "consistency", ["admin"], "test", naive)
    try:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {secret}"}, timeout=120) as api:
            figures = _cli(capsys, "figures", "--window", WINDOW, "--now", moment.isoformat(), "--json", "--store",
                           surfaces.dsn, "--config", str(surfaces.config_file))  # fmt: skip
            served = api.get("/api/v1/figures", params={"window": WINDOW}).json()
            assert served["sla_adherence_overall"] == figures["sla_adherence_overall"]
            assert served["mismatch_rates"] == figures["mismatch_rates"]

            queue = _queue_from_cli(surfaces, capsys, moment)
            listed = Counter((item["state"], item["kind"], item["key"]) for item in queue)
            paged: Counter[tuple[str, str, str]] = Counter()
            for state in ("open", "acknowledged", "resolved"):
                offset, total = 0, None
                while total is None or offset < total:
                    page = api.get("/api/v1/exceptions", params={"state": state, "offset": offset, "limit": 500}).json()
                    total = page["total"]
                    paged.update((item["state"], item["kind"], item["key"]) for item in page["items"])
                    offset += 500
            assert paged == listed and sum(listed.values()) > 50
    finally:
        server.stop()
