"""One evaluation pass, and the loop that repeats it on schedule.

A pass: evaluate every rule in ClickHouse, step each alert's lifecycle, record the
transitions, plan the notifications due and hand them to the receivers' delivery workers
(:mod:`biztrace.alerts.delivery`), and keep the exception lifecycle in step. The pass never
waits for a receiver: the loop runs every ``evaluation_interval`` whatever they do.

One bad part never stops a pass. A rule whose query fails keeps its alerts as they were,
each annotated with ``evaluation_error``, and is listed in :attr:`PassReport.failed_rules`
(and logged); the other rules go on. A stored silence that cannot be evaluated (a regex an
older version accepted) mutes nothing and is listed in :attr:`PassReport.silence_problems`.
A receiver whose channels cannot be built is listed in :attr:`PassReport.receiver_problems`
and its notifications are logged as failed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

from pydantic import BaseModel, Field

from biztrace.alerts import dispatch, state
from biztrace.alerts.delivery import Channels, Deliver, Delivery, Dispatcher
from biztrace.config import AlertsConfig
from biztrace.config.silences import stored_silences
from biztrace.readmodel import alert_store, at_risk, exceptions, last_pass, mapping, rules
from biztrace.readmodel.models import AlertInstance, naive_utc
from biztrace.readmodel.snapshots import Snapshots, Taken
from biztrace.store import Store

__all__ = ["Deliver", "Delivery", "PassReport", "build_channels", "run_forever", "run_pass"]

logger = logging.getLogger(__name__)

EVALUATION_ERROR = "evaluation_error"
"""The annotation a failing rule's alerts carry: why this pass could not evaluate the rule."""

ONE_SHOT_WAIT_S = 120.0
"""How long a single pass (``biztrace alerts evaluate``) waits for its deliveries at most."""


class PassReport(BaseModel):
    """What ``biztrace alerts evaluate --json`` prints."""

    evaluated_at: datetime
    alerts: list[AlertInstance]
    muted: dict[str, str] = Field(description="fingerprint -> silenced by <id> | inhibited")
    notifications: list[Delivery] = Field(description="delivery outcomes: this pass's, or those since the last pass")
    queued: int = Field(0, description="deliveries this pass handed to the receivers' workers")
    rule_errors: list[str]
    failed_rules: dict[str, str] = Field(default_factory=dict, description="rule -> why it was not evaluated")
    silence_problems: dict[str, str] = Field(default_factory=dict, description="silence id -> why it mutes nothing")
    receiver_problems: dict[str, str] = Field(default_factory=dict, description="receiver -> why it cannot send")
    exception_events: dict[str, int]
    snapshot: str = Field(
        "full",
        description="how the pass's snapshot was made: full, or incremental (the kept one "
        "brought up to date, readmodel/snapshots.py)",
    )
    snapshot_recomputed: int = Field(
        0, description="transactions classified from their hops in this pass (counted when the loop keeps its snapshot)"
    )


def build_channels(config: AlertsConfig) -> tuple[Channels, dict[str, str]]:
    """Receiver name -> [(kind, channel)], and the receivers whose channels could not be built (-> why).

    Settings are validated when the configuration loads; this only guards a configuration
    built in code. A receiver that fails is left out (its notifications are logged as failed).
    """
    from biztrace.alerts.channels import build_channel

    built: Channels = {}
    problems: dict[str, str] = {}
    for receiver in config.receivers:
        try:
            built[receiver.name] = [(kind, build_channel(options)) for kind, options in receiver.channel_configs()]
        except Exception as exc:
            problems[receiver.name] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            logger.error("receiver %s cannot send: %s", receiver.name, problems[receiver.name])
    return built, problems


def run_pass(
    store: Store,
    config: AlertsConfig,
    now: datetime,
    *,
    channels: Channels | None = None,
    deliver: Deliver | None = None,
    persist: bool = True,
    dispatcher: Dispatcher | None = None,
    snapshots: Snapshots | None = None,
) -> PassReport:
    """Evaluate, record, notify. With ``persist=False`` nothing is written or sent (a dry run).

    Every transaction is classified once per pass (:func:`readmodel.rules.snapshot`); the rules
    and the exception bookkeeping both read that snapshot. With ``snapshots`` (the loop's), the
    previous pass's snapshot is brought up to date instead: only the transactions that changed
    are classified again (:mod:`biztrace.readmodel.snapshots`).

    Args:
        store: the store.
        config: the validated configuration.
        now: the pass's time (naive UTC or aware).
        channels: receiver -> [(kind, channel)] (default: built from ``config``).
        deliver: how one notification is sent on one channel (default: with retries).
        persist: False for a dry run.
        dispatcher: the loop's delivery workers. Without one, the pass starts its own and
            waits (up to :data:`ONE_SHOT_WAIT_S`) for its deliveries, as a single command does.
        snapshots: the snapshot the loop keeps between passes (default: a full one, dropped after).
    """
    now = naive_utc(now)
    receiver_problems: dict[str, str] = {}
    own = None
    if persist and dispatcher is None:
        if channels is None:
            channels, receiver_problems = build_channels(config)
        own = dispatcher = Dispatcher(store, channels, deliver=deliver, broken=receiver_problems)
    try:
        # the mapping rules' spans read once for the pass's statements (a dozen would apply them each)
        with mapping.materialized(store, config):
            report = _run(store, config, now, dispatcher if persist else None, snapshots, persist)
        if own is not None:
            own.wait_idle(ONE_SHOT_WAIT_S)
    finally:
        if own is not None:
            own.close(timeout_s=1.0)
    if dispatcher is not None:
        report.notifications = dispatcher.outcomes()
    report.receiver_problems = {**receiver_problems, **report.receiver_problems}
    return report


def _run(
    store: Store,
    config: AlertsConfig,
    now: datetime,
    dispatcher: Dispatcher | None,
    snapshots: Snapshots | None,
    persist: bool,
) -> PassReport:
    """:func:`run_pass`'s classification and pass, on a full snapshot or the loop's kept one."""
    if snapshots is None:
        with rules.snapshot(store, config, now) as snapshot:
            return _pass(store, config, now, snapshot, dispatcher)
    # the loop's readers move to this pass once its exception bookkeeping (the detection and the
    # reconciliation pairs) is published too: a reader at its time finds them all
    taken = snapshots.take(store, config, now, hold=persist)
    try:
        report = _pass(store, config, now, taken.table, dispatcher, taken, published=lambda: snapshots.publish(store))
    finally:
        snapshots.publish(store)
    report.snapshot, report.snapshot_recomputed = taken.mode, taken.touched
    return report


def _outcome(
    lane: Store, config: AlertsConfig, rule, now: datetime, snapshot: str, resolved: dict
) -> list[rules.RuleResult] | Exception:
    """One rule's results, or what it raised (reported by :func:`_evaluate`, in the rules' order)."""
    try:
        return rules.evaluate_rule(lane, config, rule, now, snapshot, resolved)
    except Exception as exc:
        return exc


def _evaluate(store: Store, config: AlertsConfig, now: datetime, snapshot: str):
    """Every rule, side by side (each a statement or a few, planned on one core: two lanes take the
    rules of a pass in about half the time); a rule that fails (for any reason) is reported and the
    others go on."""
    results: list[rules.RuleResult] = []
    failed: dict[str, str] = {}
    with rules.shared_resolution(store, config) as resolved:  # the key graph's answers, once for every rule
        calls = [partial(_outcome, config=config, rule=rule, now=now, snapshot=snapshot, resolved=resolved)
                 for rule in config.rules]  # fmt: skip
        outcomes = store.side_by_side(calls)
    for rule, outcome in zip(config.rules, outcomes, strict=True):
        if not isinstance(outcome, Exception):
            results.extend(outcome)
            continue
        message = str(outcome).splitlines()[0] if str(outcome) else type(outcome).__name__
        if rule.name not in message:
            message = f"rule {rule.name}: {message}"
        failed[rule.name] = message
        logger.warning("alert rule %s not evaluated: %s", rule.name, message)
    return results, failed


def _pass(
    store: Store,
    config: AlertsConfig,
    now: datetime,
    snapshot: str,
    dispatcher: Dispatcher | None,
    taken: Taken | None = None,
    published: Callable[[], None] = lambda: None,
) -> PassReport:
    """One pass over ``snapshot``; ``published``: called once the bookkeeping published what readers of the
    pass's time read (the loop then publishes its snapshot, :meth:`Snapshots.publish`)."""
    exception_events: dict[str, int] = {}
    bookkeeping: Exception | None = None
    if dispatcher is not None:
        # the exception bookkeeping first: it publishes every reconciliation pair it judged, which the
        # mismatch_rate rule then reads instead of judging its window again (reconcile.report); a failure
        # there is raised once the alerts are evaluated, recorded and sent
        try:
            exception_events = exceptions.sync(  # only what changed is found again on a snapshot brought up to date
                store, config, now, classified=snapshot, changed=taken.changed if taken else None,
                previous_now=taken.previous_now if taken else None,
                stored_since=taken.stored_since if taken else None)  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - raised below, after the alerts
            bookkeeping = exc
    published()
    results, failed = _evaluate(store, config, now, snapshot)
    try:  # the value at risk of every active alert, from the same snapshot (readmodel.at_risk)
        values = at_risk.of_results(store, config, results, snapshot, now)
    except Exception as exc:  # alerts still fire and notify without it
        values = {}
        logger.warning("value at risk not computed this pass: %s", str(exc).splitlines()[0] if str(exc) else exc)
    by_rule = {rule.name: rule for rule in config.rules}
    previous = alert_store.current_alerts(store)
    current: dict[str, AlertInstance] = {}
    changes: list[tuple[AlertInstance, str]] = []
    updates: list[AlertInstance] = []
    seen: set[str] = set()
    for result in results:
        rule = by_rule[result.rule]
        labels = state.labels_for(rule, result)
        fingerprint = AlertInstance(rule=rule.name, labels=labels, state="pending", value=0).fingerprint
        seen.add(fingerprint)
        before = previous.get(fingerprint)
        after = state.step(
            before.alert if before else None, result, rule, now,
            summary=state.render_summary(rule.summary, result.value, result.sample),
            runbook=config.runbook(state._kind(rule), rule.process),
            at_risk=values.get(at_risk.group_of(rule.name, result.labels)),
        )  # fmt: skip
        _track(before, after, fingerprint, current, changes, updates)
    for fingerprint, before in previous.items():
        if fingerprint in seen:
            continue
        rule = by_rule.get(before.alert.rule)
        if rule is None:  # the rule was removed from the configuration
            changes.append((before.alert, "inactive"))
            continue
        if rule.name in failed:  # not evaluated: nothing is known, so nothing changes
            notes = {**before.alert.annotations, EVALUATION_ERROR: failed[rule.name]}
            current[fingerprint] = before.alert.model_copy(update={"annotations": notes})
            continue
        _track(before, state.step(before.alert, None, rule, now), fingerprint, current, changes, updates)
    fired_at = {fp: (previous[fp].since if fp in previous and previous[fp].alert.state == "firing" else now)
                for fp, alert in current.items() if alert.state == "firing"}  # fmt: skip
    with stored_silences():
        silences = alert_store.silences(store)
    silence_problems = {s.id: s.problem for s in silences if s.problem}
    for silence_id, problem in silence_problems.items():
        logger.warning("silence %s mutes nothing: %s", silence_id, problem)
    generation = dispatcher.generation if dispatcher is not None else 0
    due, muted = dispatch.plan(list(current.values()), fired_at, config, silences, alert_store.last_sent(store), now)
    queued = 0
    if dispatcher is not None:
        alert_store.record_alerts(store, changes, now, updates)
        queued = dispatcher.submit(due, generation)
    if bookkeeping is not None:
        raise bookkeeping
    return PassReport(
        evaluated_at=now, alerts=sorted(current.values(), key=lambda a: (a.rule, sorted(a.labels.items()))),
        muted=muted, notifications=[], queued=queued, rule_errors=list(failed.values()), failed_rules=failed,
        silence_problems=silence_problems, exception_events=exception_events,
    )  # fmt: skip


def _track(before, after: AlertInstance | None, fingerprint: str, current: dict, changes: list, updates: list) -> None:
    """``changes``: the transitions to record; ``updates``: the alerts still pending or firing whose figures
    (value, sample, transactions, value at risk) changed, recorded too so that every reader shows this
    pass's figures and not those of the transition."""
    if after is not None:
        current[fingerprint] = after
    old_state = before.alert.state if before else None
    if after is None and old_state is not None:
        changes.append((before.alert, "inactive"))
    elif after is not None and after.state != old_state:
        changes.append((after, after.state))
    elif after is not None and after.state in ("pending", "firing") and _figures(after) != _figures(before.alert):
        updates.append(after)


def _figures(alert: AlertInstance) -> tuple:
    return alert.value, alert.sample, alert.transactions, alert.at_risk


def _prepare(store: Store, config: AlertsConfig, at: datetime) -> None:
    """The exception queue over the pass's detection, built for the readers of this process (the API's
    page, list and export) before they ask (readmodel.exceptions.prepare); a failure only logged."""
    try:
        exceptions.prepare(store, config, at)
    except Exception as exc:  # readers then build it themselves
        logger.warning("exception queue not prepared this pass: %s", str(exc).splitlines()[0] if str(exc) else exc)


def run_forever(
    store: Store,
    config: AlertsConfig,
    *,
    stop: threading.Event,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    on_pass: Callable[[PassReport], None] | None = None,
    channels: Channels | None = None,
    deliver: Deliver | None = None,
    timer: Callable[[], float] = time.monotonic,
) -> None:
    """Run a pass every ``evaluation_interval`` until ``stop`` is set; a failing pass is logged.

    Passes start on a fixed schedule (start + k * interval); one that overruns its slot is
    followed at once by the next, and the missed slots are skipped. After each pass, before
    ``on_pass``, the exception queue is built over its detection for this process's readers.
    Notifications go to one worker per receiver (:class:`~biztrace.alerts.delivery.Dispatcher`),
    never delaying a pass. Blocks the calling thread; on stop, deliveries under way end by their
    deadline.

    Args:
        store: the store.
        config: the validated configuration.
        stop: set it to end the loop.
        clock: the time each pass evaluates at.
        on_pass: called with each pass's report (its ``notifications`` are the outcomes
            that completed since the previous pass).
        channels: receiver -> [(kind, channel)] (default: built from ``config``).
        deliver: how one notification is sent on one channel (default: with retries).
        timer: monotonic seconds, for the schedule.
    """
    problems: dict[str, str] = {}
    if channels is None:
        channels, problems = build_channels(config)
    dispatcher = Dispatcher(store, channels, deliver=deliver, broken=problems)
    snapshots = Snapshots(publish=True)  # kept between passes (each classifies only what changed), read by readers
    interval = config.evaluation_interval.total_seconds()
    next_at = timer()
    first = True
    try:
        while not stop.is_set():
            next_at += interval
            try:
                started = timer()
                report = run_pass(store, config, clock(), dispatcher=dispatcher, snapshots=snapshots)
                report.receiver_problems = {**problems, **report.receiver_problems}
                _prepare(store, config, report.evaluated_at)
                if first:  # from here on the dashboard, the API and the CLI beside it read the loop's pass
                    logger.info("first alert pass at %s done in %.1fs (%d alerts active)",
                                f"{report.evaluated_at:%Y-%m-%d %H:%M:%S}", timer() - started,
                                len(report.alerts))  # fmt: skip
                    first = False
                if on_pass:
                    on_pass(report)
            except Exception:  # the loop must survive a bad pass (store hiccup, a bug)
                logger.exception("alert evaluation pass failed; retrying next interval")
            late = timer() - next_at
            if late > 0:
                logger.warning("an alert pass overran its %gs slot by %.1fs; next one starts now", interval, late)
                next_at = timer()
            stop.wait(max(0.0, next_at - timer()))
    finally:
        dispatcher.close(timeout_s=5.0)
        try:
            snapshots.close(store)
        except Exception:  # a store already gone keeps nothing to drop
            logger.warning("could not drop the kept snapshot", exc_info=True)
        try:
            last_pass.forget(store)  # readers detect for themselves again; the pass's table is dropped
        except Exception:  # a store already gone keeps nothing to drop
            logger.warning("could not drop the last pass's detection table", exc_info=True)
