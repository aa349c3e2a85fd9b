"""Transaction state for a process keyed by its own attribute, configured without code."""

from __future__ import annotations

from datetime import datetime, timedelta

from biztrace import config as alerts_config
from biztrace.readmodel.transactions import transactions

NOW = datetime(2026, 11, 20, 12, 0)
CONFIG = alerts_config.loads("""
processes:
  procure_to_pay:
    key: invoice.id
    stages:
      - name: po.created
      - name: goods.received
        system: wms
        sla: {within: 2h}
      - name: invoice.matched
        sla: {within: 1d}
""")


def _hop(store, invoice: str, stage: str, at: datetime, span: str, status: str = "Unset") -> None:
    store.client.command(
        f"INSERT INTO {store.table('biz_hops')} (Timestamp, SpanId, InvoiceId, OrderId, Process, Stage, System, "
        "StatusCode) VALUES ({at:DateTime64(9)}, {span:String}, {invoice:String}, 'PO-SHARED', 'procure_to_pay', "
        "{stage:String}, 'erp', {status:String})",
        parameters={"at": at, "span": span, "invoice": invoice, "stage": stage, "status": status},
    )


def test_a_new_process_is_keyed_by_its_attribute(store):
    _hop(store, "INV-1", "po.created", NOW - timedelta(hours=5), "a1")
    _hop(store, "INV-2", "po.created", NOW - timedelta(hours=1), "b1")
    _hop(store, "INV-2", "goods.received", NOW - timedelta(minutes=30), "b2")
    _hop(store, "INV-3", "po.created", NOW - timedelta(hours=1), "c1")
    _hop(store, "INV-3", "goods.received", NOW - timedelta(minutes=20), "c2", status="Error")
    states = {t.key: (t.state, t.current_stage) for t in transactions(store, CONFIG, NOW)
              if t.process == "procure_to_pay"}  # fmt: skip
    assert states == {
        "INV-1": ("stuck", "po.created"),  # goods not received within 2h
        "INV-2": ("in_flight", "goods.received"),
        "INV-3": ("failed", "goods.received"),  # the stage it failed at
    }


def test_a_stuck_order_is_reported_within_one_evaluation_interval_of_its_breach(store):
    from biztrace.readmodel.exceptions import detect

    config = alerts_config.load()
    accepted = NOW - timedelta(hours=3)
    for stage, at, span in (("order.captured", accepted - timedelta(minutes=20), "x1"),
                            ("order.accepted", accepted, "x2")):  # fmt: skip
        store.client.command(
            f"INSERT INTO {store.table('biz_hops')} (Timestamp, SpanId, OrderId, Process, Stage, System, StatusCode) "
            "VALUES ({at:DateTime64(9)}, {span:String}, 'O-SLA', 'order_to_cash', {stage:String}, 'erp', 'Unset')",
            parameters={"at": at, "span": span, "stage": stage},
        )
    breach = accepted + config.processes["order_to_cash"].stages[2].sla.within  # allocation due 4h after acceptance
    interval = config.evaluation_interval
    before = [e.kind for e in detect(store, config, breach - timedelta(seconds=1), keys=["O-SLA"])]
    after = [e for e in detect(store, config, breach + interval, keys=["O-SLA"])]
    assert before == []
    assert [(e.kind, e.stage, e.system, e.since) for e in after] == [("stuck", "order.accepted", "wms", breach)]


def test_since_keeps_exactly_the_transactions_whose_first_stage_came_since_with_their_full_state(simulated):
    config = alerts_config.load()
    since = NOW - timedelta(hours=30)
    # customer_master reuses its key (one customer, many updates): a transaction is its latest cycle, in a window too
    everything = {(t.process, t.key): t for t in transactions(simulated.store, config, NOW)}
    recent = {(t.process, t.key): t for t in transactions(simulated.store, config, NOW, since=since)}
    assert any(process == "customer_master" for process, _ in recent)
    first = {name: process.stage_names()[0] for name, process in config.processes.items()}
    started = {k: dict(zip(t.stages_reached, t.stages_reached_at, strict=True)).get(first[t.process])
               for k, t in everything.items()}  # fmt: skip
    expected = {k for k, at in started.items() if at is not None and at >= since.replace(tzinfo=None)}
    assert set(recent) == expected and 0 < len(expected) < len(everything)
    for key, tx in recent.items():
        assert tx == everything[key], "a transaction is judged on all its hops, whatever the window"


def test_keys_find_a_transaction_by_any_of_its_ids(simulated):
    config = alerts_config.load()
    some = next(t for t in transactions(simulated.store, config, NOW) if t.process == "order_to_cash")
    found = transactions(simulated.store, config, NOW, keys=[some.key])
    assert found == [some]


def _order_hop(store, order: str, stage: str, at: datetime, span: str, *, status: str = "Unset",
               error_type: str = "", dead_letter: bool = False, event: str = "") -> None:  # fmt: skip
    store.client.command(
        f"INSERT INTO {store.table('biz_hops')} (Timestamp, SpanId, OrderId, Process, Stage, System, StatusCode, "
        "ErrorType, DeadLetter, EventId) VALUES ({at:DateTime64(9)}, {span:String}, {order:String}, 'order_to_cash', "
        "{stage:String}, 'billing', {status:String}, {error:String}, {dead:Bool}, {event:String})",
        parameters={"at": at, "span": span, "order": order, "stage": stage, "status": status, "error": error_type,
                    "dead": dead_letter, "event": event},
    )  # fmt: skip


def test_a_completion_stage_that_failed_does_not_complete_the_transaction(store):
    from biztrace.readmodel.exceptions import detect

    config = alerts_config.load()
    stages = config.processes["order_to_cash"].stage_names()
    start = NOW - timedelta(hours=10)
    for order in ("O-PAY-FAILED", "O-PAY-PARKED", "O-PAY-RETRIED"):
        for n, stage in enumerate(stages[:-1]):
            _order_hop(store, order, stage, start + timedelta(minutes=10 * n), f"{order}-{n}")
    paid = start + timedelta(hours=2)
    _order_hop(store, "O-PAY-FAILED", stages[-1], paid, "f", status="Error", error_type="card_declined")
    _order_hop(store, "O-PAY-PARKED", stages[-1], paid, "p", dead_letter=True)
    _order_hop(store, "O-PAY-RETRIED", stages[-1], paid, "r1", status="Error", error_type="timeout")
    _order_hop(store, "O-PAY-RETRIED", stages[-1], paid + timedelta(minutes=5), "r2")
    found = {t.key: t for t in transactions(store, config, NOW)}
    assert [
        (found[k].state, found[k].trouble_stage, found[k].error_type)
        for k in ("O-PAY-FAILED", "O-PAY-PARKED", "O-PAY-RETRIED")
    ] == [
        ("failed", "payment.received", "card_declined"),
        ("dead_letter", "payment.received", ""),
        ("complete", "", ""),  # the retry that went through completes it
    ]
    # a stage whose hop failed is not reached (its SLA is not met by the failure); the retry reaches it
    assert found["O-PAY-FAILED"].stages_reached == found["O-PAY-PARKED"].stages_reached == stages[:-1]
    assert found["O-PAY-FAILED"].current_stage == "payment.received"  # the stage it failed at
    retried = found["O-PAY-RETRIED"]
    assert retried.stages_reached == stages and retried.stages_reached_at[-1] == paid + timedelta(minutes=5)
    kinds = {(e.key, e.kind, e.stage) for e in detect(store, config, NOW, keys=list(found))}
    assert kinds == {("O-PAY-FAILED", "failed", "payment.received"),
                     ("O-PAY-PARKED", "dead_letter", "payment.received")}  # fmt: skip


def test_a_retry_of_a_delivery_that_failed_or_was_parked_is_not_a_duplicate(store):
    from biztrace.readmodel import rules
    from biztrace.readmodel.exceptions import detect
    from biztrace.readmodel.reconcile import system_parity

    config = alerts_config.load()
    at = NOW - timedelta(minutes=30)
    # the ERP timed out on the first delivery; the middleware retried the same event, which went through
    _order_hop(store, "O-RETRY", "order.captured", at, "a1", status="Error", error_type="timeout", event="E-1")
    _order_hop(store, "O-RETRY", "order.captured", at + timedelta(minutes=1), "a2", event="E-1")
    # parked in a dead-letter queue, then replayed (biztrace hands the same event id to the resubmit endpoint)
    _order_hop(store, "O-REPLAY", "order.captured", at, "b1", dead_letter=True, event="E-2")
    _order_hop(store, "O-REPLAY", "order.captured", at + timedelta(minutes=2), "b2", event="E-2")
    # delivered twice, both processed: a business duplicate
    _order_hop(store, "O-TWICE", "order.captured", at, "c1", event="E-3")
    _order_hop(store, "O-TWICE", "order.captured", at + timedelta(minutes=3), "c2", event="E-3")
    found = detect(store, config, NOW, keys=["O-RETRY", "O-REPLAY", "O-TWICE"])
    assert sorted((e.key, e.evidence) for e in found if e.kind == "duplicate") == [("O-TWICE", ["c1", "c2"])]
    assert [(e.key, e.kind) for e in found if e.kind != "duplicate"] == []  # the retries went through
    [parity] = system_parity(store, config, NOW, since=at - timedelta(hours=1))
    assert (parity.events, parity.duplicate_events) == (4, 1)  # the deliveries that went through
    [rule] = [r for r in config.rules if r.kind == "duplicate_rate"]
    with rules.snapshot(store, config, NOW) as snapshot:
        [result] = rules.evaluate_rule(store, config, rule, NOW, snapshot)
    assert (result.value, result.sample, result.keys) == (1 / 3, 3, ["O-TWICE"])


def test_pages_of_the_queue_by_largest_amount_first_carry_a_healthy_orders_duplicate_in_its_place(store):
    """A duplicate in an order that is otherwise fine (in flight, not in trouble) has its transaction's value in the
    queue itself, so a page sorted by amount (the dashboard's, in ClickHouse) puts it where its value says, not
    last; paged one row at a time, the queue reads as the whole list sorted."""
    from biztrace.readmodel.exceptions import queue_page

    config = alerts_config.load()
    at = NOW - timedelta(minutes=20)
    amounts = {"O-DUP-BIG": 9_000.0, "O-FAIL-MID": 500.0, "O-FAIL-SMALL": 20.0}
    for order, amount in amounts.items():
        store.client.command(
            f"INSERT INTO {store.table('biz_hops')} (Timestamp, SpanId, OrderId, Process, Stage, System, StatusCode, "
            "EventId, Amount, Currency) VALUES ({at:DateTime64(9)}, {span:String}, {order:String}, 'order_to_cash', "
            "'order.captured', 'shop', {status:String}, {event:String}, {amount:Float64}, 'EUR')",
            parameters={"at": at, "span": f"{order}-1", "order": order, "event": f"{order}-E",
                        "amount": amount, "status": "Error" if "FAIL" in order else "Unset"},
        )  # fmt: skip
    _order_hop(store, "O-DUP-BIG", "order.captured", at + timedelta(minutes=1), "O-DUP-BIG-2", event="O-DUP-BIG-E")
    [state] = [t.state for t in transactions(store, config, NOW, keys=["O-DUP-BIG"])]
    assert state == "in_flight"  # healthy: its only exception is the duplicate
    pages = [queue_page(store, config, NOW, sort="largest amount first", page=n, page_size=1).items for n in range(3)]
    assert [(i.key, i.kind, i.amount) for [i] in pages] == [
        ("O-DUP-BIG", "duplicate", 9_000.0),
        ("O-FAIL-MID", "failed", 500.0),
        ("O-FAIL-SMALL", "failed", 20.0),
    ]


def test_a_duplicate_or_a_mismatch_carries_its_transactions_priority_and_channel_in_every_detection(store):
    """A duplicate and a mismatch are their transaction's exceptions: the queue filtered by priority or channel
    keeps them, and "priority, then age" ranks them with their order (they carried no priority, and a
    duplicate no channel, so a filter on either dropped them). The same in a window's detection, the alert
    loop's pass (its snapshot) and a few keys' detection (the order page's)."""
    from biztrace.alerts.loop import run_pass
    from biztrace.readmodel import last_pass
    from biztrace.readmodel.exceptions import Filters, detect, list_exceptions, queue_page

    config = alerts_config.load()
    at = NOW - timedelta(minutes=20)

    def hop(order: str, stage: str, span: str, when: datetime, *, event: str = "", amount: float = 100.0) -> None:
        store.client.command(
            f"INSERT INTO {store.table('biz_hops')} (Timestamp, SpanId, OrderId, Process, Stage, System, EventId, "
            "Amount, Currency, Priority, Channel) VALUES ({at:DateTime64(9)}, {span:String}, {order:String}, "
            "'order_to_cash', {stage:String}, 'erp', {event:String}, {amount:Float64}, 'EUR', 'high', 'edi')",
            parameters={"at": when, "span": span, "order": order, "stage": stage, "event": event, "amount": amount},
        )  # fmt: skip

    hop("O-HIGH-DUP", "order.captured", "d1", at, event="E-DUP")
    hop("O-HIGH-DUP", "order.captured", "d2", at + timedelta(minutes=1), event="E-DUP")  # delivered twice
    hop("O-HIGH-MIS", "order.captured", "m1", at)
    hop("O-HIGH-MIS", "order.accepted", "m2", at + timedelta(minutes=2), amount=120.0)  # accepted for more
    expected = [("O-HIGH-DUP", "duplicate", "high", "edi"), ("O-HIGH-MIS", "mismatch", "high", "edi")]

    def shown(items) -> list[tuple]:
        return sorted((i.key, i.kind, i.priority, i.channel) for i in items)

    window = queue_page(store, config, NOW, priority="high", channel="edi").items
    assert shown(window) == expected
    assert shown(detect(store, config, NOW, keys=["O-HIGH-DUP", "O-HIGH-MIS"])) == expected
    assert shown(list_exceptions(store, config, NOW, keys=["O-HIGH-DUP", "O-HIGH-MIS"])) == expected  # the order page's
    # a key's exceptions filtered by priority or channel (`biztrace exceptions --key O-1 --priority high`, the API's)
    for key, row in zip(["O-HIGH-DUP", "O-HIGH-MIS"], expected, strict=True):
        for filters in (Filters(key=key, priority="high"), Filters(key=key, channel="edi")):
            assert shown(list_exceptions(store, config, NOW, filters)) == [row], filters
    run_pass(store, config, NOW, channels={})  # the loop's bookkeeping: its snapshot is the classified source
    try:
        assert shown(queue_page(store, config, NOW, priority="high", channel="edi", shared=True).items) == expected
    finally:
        last_pass.forget(store)


def test_an_exception_resolved_and_no_longer_detected_keeps_its_system_priority_and_channel(store):
    """The loop resolves an exception it no longer detects (a failed step retried and gone through); the queue
    then lists it from its lifecycle alone. Its system, priority and channel are those recorded when it was
    opened, so the queue filtered by any of them still counts it resolved, with its time to resolve (they
    were empty: the filter dropped it, and the page said "0 resolved" and no time to resolve)."""
    from biztrace.alerts.loop import run_pass
    from biztrace.readmodel import last_pass
    from biztrace.readmodel.exceptions import queue_page

    config = alerts_config.load()
    at = NOW - timedelta(hours=2)

    def hop(stage: str, span: str, when: datetime, status: str = "Unset") -> None:
        store.client.command(
            f"INSERT INTO {store.table('biz_hops')} (Timestamp, SpanId, OrderId, Process, Stage, System, StatusCode, "
            "ErrorType, Priority, Channel) VALUES ({at:DateTime64(9)}, {span:String}, 'O-RETRIED', 'order_to_cash', "
            "{stage:String}, 'erp', {status:String}, {error:String}, 'high', 'edi')",
            parameters={"at": when, "span": span, "stage": stage, "status": status,
                        "error": "timeout" if status == "Error" else ""},
        )  # fmt: skip

    hop("order.captured", "r1", at)
    hop("order.accepted", "r2", at + timedelta(minutes=5), status="Error")
    filters = {"system": "erp", "priority": "high", "channel": "edi"}
    try:
        run_pass(store, config, NOW - timedelta(hours=1), channels={})  # opens it
        opened = queue_page(store, config, NOW - timedelta(hours=1), **filters).items
        assert [(i.key, i.kind, i.state) for i in opened] == [("O-RETRIED", "failed", "open")]
        hop("order.accepted", "r3", NOW - timedelta(minutes=50))  # the retry went through
        run_pass(store, config, NOW, channels={})  # no longer detected: resolved
        every = ("open", "acknowledged", "postponed", "resolved")
        for name, value in filters.items():
            page = queue_page(store, config, NOW, states=every, **{name: value})
            assert [(i.key, i.state, i.system, i.priority, i.channel) for i in page.items] == [
                ("O-RETRIED", "resolved", "erp", "high", "edi")
            ], name
            assert page.resolved == 1 and page.median_resolution_s is not None, (name, page.resolved)
    finally:
        last_pass.forget(store)


def _customer_hop(store, customer: str, stage: str, at: datetime, span: str, *, system: str = "crm",
                  status: str = "Unset", event: str = "") -> None:  # fmt: skip
    store.client.command(  # no biz.process: the stage places it (customer_master, which `repeats:`)
        f"INSERT INTO {store.table('biz_hops')} (Timestamp, SpanId, CustomerId, Stage, System, StatusCode, EventId) "
        "VALUES ({at:DateTime64(9)}, {span:String}, {customer:String}, {stage:String}, {system:String}, "
        "{status:String}, {event:String})",
        parameters={"at": at, "span": span, "customer": customer, "stage": stage, "system": system, "status": status,
                    "event": event},
    )  # fmt: skip


def test_a_key_reused_cycle_after_cycle_is_its_latest_cycle(store):
    config = alerts_config.load()
    first, second = NOW - timedelta(days=2), NOW - timedelta(hours=3)
    for customer in ("C-1", "C-2", "C-3"):  # a first update cycle, complete
        _customer_hop(store, customer, "customer.updated", first, f"{customer}-1a", event=f"{customer}:1")
        _customer_hop(store, customer, "customer.validated", first + timedelta(minutes=5), f"{customer}-1b")
        _customer_hop(store, customer, "customer.synced", first + timedelta(minutes=30), f"{customer}-1c")
    # C-1: a second cycle validated, its sync failed
    _customer_hop(store, "C-1", "customer.updated", second, "C-1-2a", system="portal")
    _customer_hop(store, "C-1", "customer.validated", second + timedelta(minutes=5), "C-1-2b")
    _customer_hop(store, "C-1", "customer.synced", second + timedelta(minutes=9), "C-1-2c", status="Error")
    # C-2: a second update never validated (SLA 30 min); and one more after {now}, not there yet
    _customer_hop(store, "C-2", "customer.updated", second, "C-2-2a")
    _customer_hop(store, "C-2", "customer.updated", NOW + timedelta(minutes=1), "C-2-3a")
    # C-3: the first update's event delivered again after its sync: a duplicate, not a new cycle
    _customer_hop(store, "C-3", "customer.updated", second, "C-3-1a-again", event="C-3:1")

    now = {t.key: t for t in transactions(store, config, NOW)}
    assert {key: (t.state, t.current_stage) for key, t in now.items()} == {
        "C-1": ("failed", "customer.synced"), "C-2": ("stuck", "customer.updated"),
        "C-3": ("complete", "customer.synced"),
    }  # fmt: skip
    c1 = now["C-1"]
    assert (c1.started_at, c1.hops, c1.first_system) == (second, 3, "portal")  # the cycle's, not the key's
    assert c1.stages_reached == ["customer.updated", "customer.validated"]
    assert c1.stages_reached_at == [second, second + timedelta(minutes=5)]
    assert now["C-3"].started_at == first
    # before the second cycles, every customer was complete; a window holds the cycles that started in it
    assert {t.state for t in transactions(store, config, second - timedelta(minutes=1))} == {"complete"}
    window = {t.key: t for t in transactions(store, config, NOW, since=NOW - timedelta(hours=6))}
    assert (window["C-1"], window["C-2"]) == (c1, now["C-2"])
    assert transactions(store, config, NOW, keys=["C-1"]) == [c1]
