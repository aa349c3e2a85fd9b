"""SLA clocks in business time end to end: spans from the real OpenTelemetry SDK through a real collector, a
warehouse calendar with a cut-off and a Monday holiday, and the transaction states and stage SLA adherence
that the read model computes from them."""

from __future__ import annotations

from datetime import UTC, datetime

from biztrace.config import loads
from biztrace.readmodel import rules
from biztrace.readmodel.figures import sla_adherence, stage_sla
from biztrace.readmodel.transactions import query_parameters, transactions, transactions_query

# The warehouse wms-east works Monday to Friday 08:00-17:00 in Berlin (UTC+1 in November); orders after 15:00
# count from the next working day; Monday 23 November 2026 is a holiday. Support's T0 is Friday 20 November,
# 08:00 UTC (09:00 in Berlin).
CONFIG = """
calendars:
  berlin_wh:
    timezone: Europe/Berlin
    hours: {mon: "08:00-17:00", tue: "08:00-17:00", wed: "08:00-17:00", thu: "08:00-17:00", fri: "08:00-17:00"}
    holidays: [2026-11-23]
    cutoff: "15:00"
  none_247:
    timezone: UTC
    hours: {mon: "00:00-24:00", tue: "00:00-24:00", wed: "00:00-24:00", thu: "00:00-24:00", fri: "00:00-24:00",
            sat: "00:00-24:00", sun: "00:00-24:00"}
sites:
  wms-east: berlin_wh
processes:
  order_to_cash:  # the warehouse accepts the order (the reconciliation rules of the defaults need every stage)
    key: order.id
    calendar: berlin_wh
    stages:
      - name: order.captured
      - name: order.accepted
        system: wms-east
        sla: {within: 4h}
      - name: inventory.allocated
        system: erp
        sla: {within: 10d, calendar: none_247}  # its own calendar: 240 hours, not 30 working days
      - name: shipment.confirmed
      - name: invoice.posted
      - name: payment.received
"""
MONDAY_NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # the holiday
TUESDAY = datetime(2026, 11, 24, 11, 30, tzinfo=UTC)  # 12:30 in Berlin
DAY = 1440


def test_captured_after_cutoff_before_a_holiday_is_due_on_tuesday(producers) -> None:
    config = loads(CONFIG)
    # (order, captured at, accepted at: minutes after T0)
    orders = [
        ("O-1", 390, None),  # Friday 15:30 in Berlin, after the cut-off: 4 working hours from Tuesday 08:00
        ("O-2", 240, 450),  # Friday 13:00 -> 16:30: 3.5 working hours, met
        ("O-3", 420, 4 * DAY + 60),  # Friday 16:00 (after the cut-off) -> Tuesday 10:00: 2 working hours, met
        ("O-4", 0, 4 * DAY),  # Friday 09:00 -> Tuesday 09:00: 8 + 1 working hours, missed
    ]
    for key, captured, accepted in orders:
        producers.span("crm", "capture", captured, **{"order.id": key, "biz.stage": "order.captured"})
        if accepted is not None:
            producers.span("wms-east", "accept", accepted, **{"order.id": key, "biz.stage": "order.accepted"})
    store = producers.flush()

    on_holiday = {t.key: t for t in transactions(store, config, MONDAY_NOON)}
    # the 24x7 clock would say 18:30 UTC on Friday, and stuck
    assert on_holiday["O-1"].state == "in_flight"
    assert on_holiday["O-1"].due_at.replace(tzinfo=UTC) == datetime(2026, 11, 24, 11, 0, tzinfo=UTC)
    assert on_holiday["O-2"].due_at.replace(tzinfo=UTC) == datetime(2026, 11, 30, 15, 30, tzinfo=UTC)

    on_tuesday = {t.key: t.state for t in transactions(store, config, TUESDAY)}
    assert on_tuesday == {"O-1": "stuck", "O-2": "in_flight", "O-3": "in_flight", "O-4": "in_flight"}

    query, parameters = transactions_query(store, config, TUESDAY)
    with store.memory_table(f"SELECT *, '' AS system FROM ({query})", parameters) as table:
        found = {(row.stage, row.met, row.measured) for row in stage_sla(store, config, store.table(table))}
    # O-2 and O-3 met it in working hours (O-3 took 90 hours on the wall clock); O-4 missed it; O-1 is stuck
    assert found == {("order.accepted", 2, 4)}
    assert query_parameters(store, config, TUESDAY)["index_calendar"][:6] == [1, 1, 2, 1, 1, 1]

    # end to end in business time: the order is done once the warehouse accepts it, within 4 working hours
    done_at_acceptance = CONFIG.replace(
        "    calendar: berlin_wh\n",
        "    calendar: berlin_wh\n    completes_at: order.accepted\n    end_to_end: {within: 4h}\n",
    )
    for text, met, missed in (
        (done_at_acceptance, 2, 2),
        (done_at_acceptance.replace("    calendar: berlin_wh\n", ""), 1, 3),
    ):
        e2e = loads(text)
        with rules.snapshot(store, e2e, TUESDAY) as snapshot:
            [overall] = sla_adherence(store, e2e, snapshot, TUESDAY, datetime(2026, 11, 1), group=())
        # business time: O-2 (3.5 h) and O-3 (2 working hours; 90 on the wall clock) met, O-4 (9) and the stuck O-1
        # missed; without the process's calendar only O-2 meets it
        assert (overall.met, overall.missed) == (met, missed), text
