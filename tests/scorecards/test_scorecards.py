"""SLA scorecards against figures computed here from the producer's ground truth, against the
Overview's own figures for the same transactions, and through every surface (API, CLI, page)."""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from scorecard_data import CONFIG, NOW, ORDERS, PERIOD, N, Order, naive

from biztrace import config as alerts_config
from biztrace.api import tokens
from biztrace.api.app import build_app
from biztrace.api.server import ApiServer
from biztrace.readmodel import figures
from biztrace.readmodel.scorecards import Scorecards, scorecards
from biztrace.readmodel.transactions import transactions
from biztrace.store import Store

STAGES = ["sc.captured", "sc.accepted", "sc.shipped"]
SLA_MIN = {"sc.accepted": (60, {"C-ACME": 30}, {"edi-gw": 120}), "sc.shipped": (240, {}, {})}
"""Per stage: minutes allowed, the customers' and the partners' contracts (as CONFIG says)."""
E2E_MIN = 360


def allowed(order: Order, stage: str) -> float:
    within, by_customer, by_partner = SLA_MIN[stage]
    return by_customer.get(order.customer, by_partner.get(order.hops[0][2], within))


def quantile(values: list[float], q: float) -> float | None:
    """The inclusive quantile (numpy's default): interpolated between the two nearest values."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def truth(order: Order) -> dict:
    """What the order is at NOW, from what the producer sent."""
    # a stage is reached by a hop that did not fail: the failing hop's stage meets no SLA
    reached = {stage: minute for stage, minute, _ in order.hops if stage != order.failed_at}
    measured = [(stage, reached[stage] - reached[prev] <= allowed(order, stage), reached[stage] - reached[prev])
                for prev, stage in zip(STAGES, STAGES[1:], strict=False) if stage in reached]  # fmt: skip
    last = max(reached.values())
    waiting = next((stage for stage in STAGES if stage not in reached), None)
    complete = waiting is None
    stuck = bool(waiting) and not order.failed_at and last + allowed(order, waiting) < N
    if stuck:
        measured.append((waiting, False, None))
    took = reached.get("sc.shipped", 0) - reached["sc.captured"]
    e2e = (
        ("met" if took <= E2E_MIN else "missed")
        if complete
        else ("missed" if stuck or reached["sc.captured"] + E2E_MIN < N else "pending")
    )
    kinds = [kind for kind, yes in (("duplicate", order.duplicate), ("stuck", stuck), ("failed", bool(order.failed_at)))
             if yes]  # fmt: skip
    return {"measured": measured, "complete": complete, "stuck": stuck, "e2e": e2e, "kinds": kinds}


def expected(orders: list[Order]) -> dict:
    """A scorecard's period as the test computes it from the ground truth."""
    facts = [(order, truth(order)) for order in orders]
    stages = {}
    for stage in STAGES[1:]:
        rows = [(met, took) for _, t in facts for s, met, took in t["measured"] if s == stage]
        if rows:
            times = [took * 60 for _, took in rows if took is not None]
            stages[stage] = (sum(met for met, _ in rows), len(rows), _r(quantile(times, 0.5)), _r(quantile(times, 0.9)))
    exceptions: dict[str, int] = {}
    money: dict[str, float] = {}
    for order, t in facts:
        for kind in t["kinds"]:
            exceptions[kind] = exceptions.get(kind, 0) + 1
        if t["kinds"]:
            money[order.currency] = money.get(order.currency, 0.0) + order.amount
    met = sum(met for _, t in facts for _, met, _ in t["measured"])
    measured = sum(len(t["measured"]) for _, t in facts)
    return {
        "transactions": len(orders), "complete": sum(t["complete"] for _, t in facts),
        "stuck": sum(t["stuck"] for _, t in facts),
        "e2e": tuple(sum(t["e2e"] == o for _, t in facts) for o in ("met", "missed", "pending")),
        "stages": stages, "stage_sla": (met, measured), "exceptions": exceptions, "money": money,
    }  # fmt: skip


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def shown(period) -> dict:
    """The same figures as the scorecard has them."""
    return {
        "transactions": period.transactions, "complete": period.complete, "stuck": period.stuck,
        "e2e": (period.end_to_end.met, period.end_to_end.missed, period.end_to_end.pending),
        "stages": {s.stage: (s.met, s.measured, _r(s.p50_s), _r(s.p90_s)) for s in period.stages},
        "stage_sla": (period.stage_met, period.stage_measured), "exceptions": period.exceptions,
        "money": {currency: round(amount, 2) for currency, amount in period.money_affected.items()},
    }  # fmt: skip


def _split(scope) -> tuple[list[Order], list[Order]]:
    chosen = [o for o in ORDERS if scope(o)]
    start = N - PERIOD.total_seconds() / 60
    return [o for o in chosen if o.hops[0][1] >= start], [o for o in chosen if o.hops[0][1] < start]


@pytest.fixture(scope="module")
def by_customer(filled, config) -> Scorecards:
    return scorecards(filled[1], config, naive(NOW), period=PERIOD, by="customer", process="sc_orders")


def test_scorecards_by_customer_equal_the_ground_truth(by_customer: Scorecards) -> None:
    """Every figure of every customer, both periods, as computed here from what the producer sent; the
    customer found on whichever hop carried it (O-2 on its third, O-3 on its second), none left out."""
    assert {row.name for row in by_customer.rows} == {"C-ACME", "C-BETA", "(none)"}
    assert by_customer.scopes == 3
    for row in by_customer.rows:
        customer = "" if row.name == "(none)" else row.name
        current, previous = _split(lambda o, c=customer: o.customer == c)
        assert shown(row.current) == expected(current), row.name
        assert shown(row.previous) == expected(previous), row.name
    acme = next(row for row in by_customer.rows if row.name == "C-ACME")
    assert acme.current.money_affected == {"EUR": 170.0}  # O-1 duplicated, O-7 stuck
    assert acme.trend.transactions == 1 and acme.trend.end_to_end == pytest.approx(1 / 3 - 1)
    assert acme.trend.stage_sla == pytest.approx(2 / 5 - 3 / 4)
    assert by_customer.rows[0].name == "C-ACME"  # the most transactions first


def test_partner_is_the_system_that_reported_the_capture(filled, config) -> None:
    cards = scorecards(filled[1], config, naive(NOW), period=PERIOD, by="partner", process="sc_orders")
    for row in cards.rows:
        current, previous = _split(lambda o, p=row.name: o.hops[0][2] == p)
        assert (row.current.transactions, row.previous.transactions) == (len(current), len(previous))
        assert shown(row.current) == expected(current), row.name
    assert {row.name for row in cards.rows} == {"edi-gw", "web"}


def test_a_contract_overrides_the_process_sla(filled, config) -> None:
    """C-ACME's 30 min acceptance makes O-7 (45 min without one) stuck; the process's 1 h would not."""
    stuck = {tx.key for tx in transactions(filled[1], config, naive(NOW), states=["stuck"])}
    assert stuck == {"O-3", "O-7"}
    stage = config.processes["sc_orders"].stages[1]
    plain = config.model_copy(deep=True)
    plain.processes["sc_orders"].stages[1] = stage.model_copy(update={"sla": stage.sla.model_copy(
        update={"by_customer": {}, "by_partner": {}})})  # fmt: skip
    assert {tx.key for tx in transactions(filled[1], plain, naive(NOW), states=["stuck"])} == {"O-3"}


def test_the_scorecard_of_a_customer_is_the_overviews_figures_of_its_transactions(filled, config, by_customer):
    """The Overview's stage heat map and end-to-end adherence over the same transactions (its own snapshot,
    dashboard/sql/snapshot.sql, narrowed to C-ACME's keys) give the scorecard's figures."""
    from biztrace.dashboard import data, queries

    dsn, store = filled
    data.share_store(store)
    try:
        filters = queries.Filters(window="24h", process="sc_orders")
        with queries.snapshot(config, filters, naive(NOW)) as table:
            keys = [o.key for o in _split(lambda o: o.customer == "C-ACME")[0]]
            mine = f"(SELECT * FROM {table} WHERE key IN {keys!r})".replace("[", "(").replace("]", ")")
            stages = figures.stage_sla(store, config, mine)
            [e2e] = figures.sla_adherence(store, config, mine, naive(NOW), filters.since(naive(NOW)))
    finally:
        data.share_store(None)
    acme = next(row for row in by_customer.rows if row.name == "C-ACME").current
    overview = {}
    for row in stages:  # per priority in the Overview: summed
        met, measured = overview.get(row.stage, (0, 0))
        overview[row.stage] = (met + row.met, measured + row.measured)
    assert overview == {s.stage: (s.met, s.measured) for s in acme.stages}
    assert (e2e.met, e2e.missed, e2e.pending, e2e.adherence) == (
        acme.end_to_end.met,
        acme.end_to_end.missed,
        acme.end_to_end.pending,
        acme.end_to_end.adherence,
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("end_to_end: {within: 6h, by_customer: {C-ACME: 2h}}", "by_customer and by_partner apply to stage SLAs only"),
        ("stages: [{name: a}, {name: b, sla: {within: 1h, by_partner: {'': 2h}}}]", "an override needs a name"),
        ("stages: [{name: a}, {name: b, sla: {within: 1h, by_customer: {C-1: soon}}}]", "is not a duration"),
    ],
)
def test_contracts_are_checked_at_load(tmp_path, text: str, problem: str) -> None:
    body = "processes:\n  p:\n    key: order.id\n    " + (
        text if text.startswith("stages") else "stages: [{name: a}, {name: b}]\n    " + text
    )
    path = tmp_path / "c.yaml"
    path.write_text(body + "\n")
    with pytest.raises(alerts_config.ConfigError) as failure:
        alerts_config.load(str(path))
    assert problem in str(failure.value) and "\n" not in str(failure.value).strip()


def test_the_api_and_the_cli_serve_the_same_scorecards(filled, config, tmp_path, capsys) -> None:
    dsn, store = filled
    path = tmp_path / "sc.yaml"
    path.write_text(CONFIG)
    now = naive(datetime.now(UTC)).replace(microsecond=0)
    server = ApiServer(build_app(store, config, lambda: now), port=0).start()
    _, secret = tokens.create(store, "sc-bot", ["operations"], "test", NOW)
    try:
        answer = httpx.get(
            server.url + "/api/v1/scorecards",
            headers={"Authorization": f"Bearer {secret}"},
            params={"by": "partner", "period": "30d", "process": "sc_orders"},
            timeout=120,
        )
        assert answer.status_code == 200, answer.text
        bad = httpx.get(
            server.url + "/api/v1/scorecards",
            headers={"Authorization": f"Bearer {secret}"},
            params={"period": "soon"},
            timeout=60,
        )
        assert bad.status_code == 400 and "duration" in bad.json()["detail"]
    finally:
        server.stop()
    api = Scorecards.model_validate(answer.json())
    direct = scorecards(store, config, now, period=PERIOD * 30, by="partner", process="sc_orders")
    assert api == direct
    assert {row.name: row.current.transactions for row in api.rows} == {"web": 4, "edi-gw": 3}
    from biztrace.cli.main import main

    command = ["scorecards", "--store", dsn, "--config", str(path), "--by", "partner", "--period", "30d",
               "--process", "sc_orders"]  # fmt: skip
    capsys.readouterr()
    assert main([*command, "--json"]) == 0
    cli = Scorecards.model_validate(json.loads(capsys.readouterr().out))
    assert [(r.name, r.current.transactions, r.current.money_affected) for r in cli.rows] == [
        (r.name, r.current.transactions, r.current.money_affected) for r in api.rows
    ]
    assert main([*command, "--csv"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["partner"], int(r["transactions"])) for r in table] == [(r.name, r.current.transactions)
                                                                         for r in api.rows]  # fmt: skip
    assert "sc_orders/sc.accepted adherence" in table[0] and "money affected EUR" in table[0]
    assert main([*command[:-2], "--process", "nope"]) == 2
    err = capsys.readouterr().err
    assert "not defined" in err and err.strip().count("\n") == 0


def test_the_first_rows_and_the_trend_are_those_of_every_row(filled, config, by_customer: Scorecards) -> None:
    """``limit`` keeps the first rows (most transactions first, ties by name) and still counts every scope;
    each trend is its row's period less the previous one (scorecard_rows.sql computes it), every currency of
    either period in the money's."""
    first = scorecards(filled[1], config, naive(NOW), period=PERIOD, by="customer", process="sc_orders", limit=2)
    assert [row.model_dump() for row in first.rows] == [row.model_dump() for row in by_customer.rows[:2]]
    assert (first.scopes, len(first.rows)) == (3, 2)
    ordered = sorted(by_customer.rows, key=lambda row: (-row.current.transactions, row.name))
    assert [row.name for row in by_customer.rows] == [row.name for row in ordered]
    for row in by_customer.rows:
        now, before = row.current, row.previous
        currencies = set(now.money_affected) | set(before.money_affected)
        money = {c: now.money_affected.get(c, 0.0) - before.money_affected.get(c, 0.0) for c in currencies}
        assert row.trend.model_dump() == {
            "transactions": now.transactions - before.transactions,
            "end_to_end": None if None in (now.end_to_end.adherence, before.end_to_end.adherence)
            else now.end_to_end.adherence - before.end_to_end.adherence,
            "stage_sla": None if None in (now.stage_adherence, before.stage_adherence)
            else now.stage_adherence - before.stage_adherence,
            "exceptions": sum(now.exceptions.values()) - sum(before.exceptions.values()),
            "money_affected": money,
        }, row.name  # fmt: skip
        assert all(stage.adherence == (stage.met / stage.measured) for stage in now.stages + before.stages)
    assert any(row.trend.money_affected for row in by_customer.rows)


def test_a_name_that_is_not_utf8_is_a_row_of_its_own(store: Store) -> None:
    """The scorecards are read as JSON: a customer id carrying bytes that are not UTF-8 (what a producer sent)
    is its row, its bad bytes replaced, not an error."""
    store.client.command(
        f"INSERT INTO {store.table('biz_hops')} (Timestamp, SpanId, OrderId, CustomerId, Process, Stage, System) "
        "VALUES (now64(9) - INTERVAL 2 HOUR, 'u1', 'O-U1', concat('C-', unhex('FF')), 'order_to_cash', "
        "'order.captured', 'shop'), (now64(9) - INTERVAL 1 HOUR, 'u2', 'O-U2', 'C-2', 'order_to_cash', "
        "'order.captured', 'shop')"
    )
    cards = scorecards(store, alerts_config.load(), naive(datetime.now(UTC)), period=timedelta(days=1))
    assert sorted((row.name, row.current.transactions) for row in cards.rows) == [("C-2", 1), ("C-\ufffd", 1)]
