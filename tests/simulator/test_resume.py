"""A simulation carried on after its last stored hop: nothing sent twice, the same business goes on.

``biztrace up --demo`` on a store that already holds its simulation resumes it (``Demo`` with a
store, ``simulator.run.resume``) instead of backfilling the same days again.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from biztrace.cli.up import Demo, last_simulated
from biztrace.simulator.run import backfill, live_day, resume
from biztrace.simulator.scenario import FaultRates, Scenario
from biztrace.simulator.sender import OtlpHttpSender
from biztrace.simulator.world import World, generate
from biztrace.store import Store
from support import wait_for

RATES = FaultRates(stuck=0.03, failed=0.02, dead_letter=0.01, duplicate=0.05, amount_mismatch=0.02)


def _planted_duplicates(scenario: Scenario, days: int) -> set[str]:
    world = World()
    for part in (scenario, *(live_day(scenario, day) for day in range(1, days + 1))):
        for _ in generate(part, world):
            pass
    return {str(f.detail["event_id"]) for f in world.faults if f.kind == "duplicate"}


def _deliveries(store: Store) -> tuple[int, int, set[str]]:
    """(spans stored, distinct span ids, event ids stored more than once)."""
    table = store.table("otel_traces")
    [[rows, spans]] = store.client.query(f"SELECT count(), uniqExact(TraceId, SpanId) FROM {table}").result_rows
    repeated = store.client.query(
        f"SELECT SpanAttributes['biz.event_id'] AS event FROM {table} WHERE event != '' GROUP BY event "
        "HAVING count() > 1"
    ).result_rows  # fmt: skip
    return rows, spans, {event for (event,) in repeated}


def test_resume_sends_only_what_came_after_the_last_stored_hop(start_collector):
    collector = start_collector()
    endpoint = f"http://127.0.0.1:{collector.ports.http}"
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    scenario = Scenario(seed=21, days=0.5, orders_per_day=3000, now=now, faults=RATES)
    sender = OtlpHttpSender(endpoint, concurrency=4)
    first, _, _ = backfill(scenario, sender)
    stored = last_simulated(collector.store)
    assert stored is not None and stored[1] == scenario
    later = now + timedelta(hours=3)
    summary, _, future, days = resume(scenario, stored[0], sender, until=later)
    sender.close()
    assert days == 1 and summary.spans_sent > 300 and future
    rows, spans, repeated = _deliveries(collector.store)
    assert rows == spans == first.spans_sent + summary.spans_sent, "a span was sent twice"
    assert repeated <= _planted_duplicates(scenario, days)
    continued = collector.store.client.query(
        f"SELECT count() FROM {collector.store.table('biz_hops')} WHERE Timestamp > {{now:DateTime64(9)}} "
        "AND OrderId IN (SELECT OrderId FROM {db:Identifier}.biz_hops WHERE Stage = 'order.captured' "
        "AND Timestamp <= {now:DateTime64(9)})",
        parameters={"now": now.replace(tzinfo=None), "db": collector.store.database},
    ).result_rows[0][0]  # fmt: skip
    assert continued > 100, "orders captured before the stop go on after it"
    assert last_simulated(collector.store)[0] <= int(later.timestamp() * 1e9)


def _demo_run(endpoint: str, store: Store, seconds: float) -> Demo:
    demo = Demo(endpoint, 0.2, 4000, 7, None, store=Store(store.address, store.new_client()))
    demo.thread.start()
    wait_for(demo.backfilled.is_set, timeout_s=120)
    time.sleep(seconds)
    demo.stop.set()
    demo.thread.join(60)
    assert not demo.thread.is_alive()
    return demo


def test_up_demo_twice_on_one_store_carries_on_instead_of_backfilling_again(start_collector):
    collector = start_collector()
    endpoint = f"http://127.0.0.1:{collector.ports.http}"
    first = _demo_run(endpoint, collector.store, 1.0)
    assert first.after_ns is None
    rows_before, _, _ = _deliveries(collector.store)
    second = _demo_run(endpoint, collector.store, 1.0)
    assert second.after_ns is not None and second.scenario == first.scenario, "the second run resumes the first"
    rows, spans, repeated = _deliveries(collector.store)
    assert rows == spans, f"{rows - spans} spans were sent again"
    assert rows - rows_before < rows_before / 10, "the second run backfilled again"
    assert repeated <= _planted_duplicates(first.scenario, 1), "event ids delivered again that nobody planted"


def test_a_store_without_a_marker_gets_only_the_gap_with_new_ids(start_collector):
    """Spans of a simulator that named no scenario: the demo fills the time since with other order ids."""
    from biztrace.simulator.otlp import requests

    collector = start_collector()
    sender = OtlpHttpSender(f"http://127.0.0.1:{collector.ports.http}")
    earlier = Scenario(seed=7, days=0.1, orders_per_day=500, now=datetime.now(UTC) - timedelta(hours=2))
    until_ns = int(earlier.now.timestamp() * 1e9)
    for body, _ in requests(hop for hop in generate(earlier) if hop.start_ns <= until_ns):
        sender.submit(body).result()
    sender.close()
    stored = last_simulated(collector.store)
    assert stored is not None and stored[1] is None
    demo = Demo("http://127.0.0.1:9", 3.0, 1500, 7, None, store=collector.store)
    assert demo.after_ns is None and demo.scenario.seed != 7
    assert timedelta(hours=1) < timedelta(days=demo.scenario.days) < timedelta(hours=3)
