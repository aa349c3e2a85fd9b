"""A configuration without calendars counts every SLA on the 24x7 clock: no statement that measures SLAs
computes a business clock for nothing (``calendars.expand`` makes each macro a constant). The stage
figures did, for every stage measurement, until they were given the configuration (the scorecards' stage
statement 30% longer at 1M transactions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from biztrace.config import load, loads
from biztrace.readmodel import figures, rules, scorecards
from biztrace.store import Store

CALENDAR = """
calendars:
  office:
    timezone: Europe/Berlin
    hours: {mon: "08:00-17:00", tue: "08:00-17:00", wed: "08:00-17:00", thu: "08:00-17:00", fri: "08:00-17:00"}
processes:
  order_to_cash:  # every stage: the defaults' reconciliation rules name them
    key: order.id
    calendar: office
    stages:
      - name: order.captured
      - name: order.accepted
        sla: {within: 4h}
      - name: inventory.allocated
      - name: shipment.confirmed
      - name: invoice.posted
      - name: payment.received
"""
CLOCK = "cal_cum_ms"
"""A parameter every business clock reads (``sql/clock.sql``'s ``$cum``) and nothing else does."""


def _statements(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement text the store's client is sent from now on (the statements still run)."""
    sent: list[str] = []
    for name in ("query", "command", "raw_query"):
        original = getattr(store.client, name)

        def spy(text, *args, _original=original, **kwargs):
            sent.append(text)
            return _original(text, *args, **kwargs)

        monkeypatch.setattr(store.client, name, spy)
    return sent


@pytest.mark.parametrize("calendars", [False, True], ids=["24x7", "business calendars"])
def test_the_sla_statements_compute_a_clock_only_with_calendars(
    store: Store, monkeypatch: pytest.MonkeyPatch, calendars: bool
) -> None:
    config = loads(CALENDAR) if calendars else load()
    store.client.command(
        f"INSERT INTO {store.table('biz_hops')} (Timestamp, SpanId, OrderId, CustomerId, Process, Stage, System) "
        "VALUES (now64(9) - INTERVAL 3 HOUR, 's1', 'O-1', 'C-1', 'order_to_cash', 'order.captured', 'shop'), "
        "(now64(9) - INTERVAL 1 HOUR, 's2', 'O-1', 'C-1', 'order_to_cash', 'order.accepted', 'erp')"
    )
    now = datetime.now(UTC)
    sent = _statements(store, monkeypatch)
    with rules.snapshot(store, config, now) as snapshot:
        assert [(s.stage, s.measured) for s in figures.stage_sla(store, config, snapshot)] == [("order.accepted", 1)]
        figures.sla_adherence(store, config, snapshot, now, now - timedelta(days=1))
    cards = scorecards.scorecards(store, config, now, period=timedelta(days=1))
    assert [(row.name, row.current.stage_measured) for row in cards.rows] == [("C-1", 1)]
    measuring = [text for text in sent if "stage_ms" in text or "sla_from" in text or "due_business_ms" in text]
    assert len(measuring) >= 4  # the snapshot's classification, the stage figures, the scorecards' two
    with_clock = [text for text in measuring if CLOCK in text]
    assert (len(with_clock) == len(measuring)) if calendars else not with_clock, [t[:200] for t in with_clock]
