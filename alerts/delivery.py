"""Notifications delivered off the evaluation thread: one worker and one queue per receiver.

The evaluation pass hands its due notifications to :meth:`Dispatcher.submit` and goes on;
it never waits for a receiver. Each receiver has its own worker thread and queue, so a
receiver that is slow, down or trickling delays only itself. Every request has a whole-
request deadline (the channel's ``timeout_s``, see :class:`~biztrace.alerts.channels.base.Deadline`).

* **Coalescing.** A notification waits in its receiver's queue keyed by (group, channel): a
  pass that plans the same group again replaces the waiting version with its newer one, so
  a receiver that is behind gets the latest state once, not every pass's copy.
* **No duplicates.** Each pass plans against the notification log. A version planned before
  a delivery of the same group was recorded is dropped (:attr:`Dispatcher.generation`).
* **Retry-After.** A receiver that answers with ``Retry-After`` is not sent anything on that
  channel before then; passes that plan the group meanwhile only refresh the waiting version.
* **Outcomes** go to the notification log (one row per delivery, delivered or not), stamped
  with the notification's ``sent_at`` (the pass's ``now``), so group and repeat intervals
  stay on the pass's clock.

Threads: :meth:`submit`, :meth:`wait_idle`, :meth:`outcomes` and :meth:`close` are safe to
call from any thread; the workers are daemon threads named ``biztrace-notify-<receiver>``.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from pydantic import BaseModel

from biztrace.readmodel import alert_store
from biztrace.readmodel.models import Notification
from biztrace.store import Store

logger = logging.getLogger(__name__)

MAX_PENDING = 1000
"""Notifications waiting per receiver at most; beyond it the oldest is dropped (and logged)."""

Channels = dict[str, list[tuple[str, Any]]]
"""Receiver name -> [(channel kind, channel)]."""

Deliver = Callable[[Any, Notification], Any]
"""Sends one notification on one channel with its retries; answers a ``DeliveryResult``-like object."""


class Delivery(BaseModel):
    """One notification's outcome on one channel."""

    receiver: str
    channel: str
    group_key: str
    status: str
    delivered: bool
    attempts: int
    error: str | None = None


def default_deliver(stop: threading.Event) -> Deliver:
    """Three attempts with backoff (1 s, 2 s); a longer ``Retry-After`` is left to the worker's schedule.

    Waits between attempts end early when ``stop`` is set.
    """
    from biztrace.alerts.channels import deliver

    return partial(deliver, attempts=3, initial_backoff_s=1.0, max_backoff_s=30.0, sleep=stop.wait)


@dataclass
class _Item:
    notification: Notification
    generation: int


@dataclass
class _Worker:
    receiver: str
    channels: list[tuple[str, Any]]
    pending: OrderedDict[tuple[str, int], _Item] = field(default_factory=OrderedDict)
    not_before: dict[int, float] = field(default_factory=dict)
    in_flight: tuple[str, int] | None = None
    thread: threading.Thread | None = None


class Dispatcher:
    """Delivers notifications per receiver, each on its own worker thread.

    Args:
        store: where outcomes are logged (``biztrace_notifications``); its client serializes calls.
        channels: receiver name -> [(kind, channel)]; a receiver missing here or with no
            channel keeps history only (logged as delivered on channel ``none``).
        deliver: sends one notification on one channel, with retries (default: :func:`default_deliver`).
        clock: monotonic seconds, for ``Retry-After`` (injectable for tests).
        max_pending: notifications waiting per receiver at most.
        broken: receivers that cannot send (-> why): their notifications are logged as failed.
    """

    def __init__(
        self,
        store: Store,
        channels: Channels,
        *,
        deliver: Deliver | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_pending: int = MAX_PENDING,
        broken: dict[str, str] | None = None,
    ) -> None:
        self._store = store
        self._stop = threading.Event()
        self._deliver = deliver or default_deliver(self._stop)
        self._clock = clock
        self._max_pending = max_pending
        self._lock = threading.Condition()
        self._generation = itertools.count(1)
        self._current = 0
        self._delivered: dict[tuple[str, str, int], int] = {}
        self._outcomes: list[Delivery] = []
        self._workers: dict[str, _Worker] = {}
        self._broken = dict(broken or {})
        for receiver, items in channels.items():
            if items:
                self._workers[receiver] = _Worker(receiver, list(items))

    @property
    def generation(self) -> int:
        """Read before the pass reads the notification log; hand it back to :meth:`submit`."""
        with self._lock:
            return self._current

    def submit(self, notifications: Iterable[Notification], generation: int) -> int:
        """Queue notifications for their receivers' workers; never blocks on a receiver.

        Args:
            notifications: due notifications, as planned from the notification log.
            generation: :attr:`generation` as read before that log was read.

        Returns:
            How many (notification, channel) deliveries were queued.
        """
        queued = 0
        for notification in notifications:
            worker = self._workers.get(notification.receiver)
            if notification.receiver in self._broken:
                self._record(notification, "none", False, 0, self._broken[notification.receiver])
                continue
            if worker is None:  # a receiver without channels keeps history only
                self._record(notification, "none", True, 0, None)
                continue
            with self._lock:
                if self._stop.is_set():
                    break
                for index in range(len(worker.channels)):
                    key = (notification.group_key, index)
                    if self._delivered.get((worker.receiver, *key), 0) > generation:
                        continue  # delivered since this version was planned
                    fresh = key not in worker.pending
                    worker.pending[key] = _Item(notification, generation)  # a newer version keeps its place
                    if fresh and len(worker.pending) > self._max_pending:
                        (dropped, _), _ = worker.pending.popitem(last=False)
                        logger.warning("receiver %s is %d notifications behind; dropped the oldest (%s)",
                                       worker.receiver, self._max_pending, dropped)  # fmt: skip
                    queued += 1
                self._start(worker)
                self._lock.notify_all()
        return queued

    def wait_idle(self, timeout_s: float | None = None) -> bool:
        """Wait until no receiver is sending and nothing is waiting except behind a ``Retry-After``.

        Returns:
            False when ``timeout_s`` passed first.
        """
        end = None if timeout_s is None else time.monotonic() + timeout_s
        with self._lock:
            while not self._idle():
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._lock.wait(0.05 if left is None else min(left, 0.05))
        return True

    def outcomes(self) -> list[Delivery]:
        """Delivery outcomes since the last call, oldest first (and forgets them)."""
        with self._lock:
            taken, self._outcomes = self._outcomes, []
        return taken

    def pending(self) -> dict[str, int]:
        """Receiver -> deliveries waiting (deferred ones included)."""
        with self._lock:
            return {name: len(worker.pending) for name, worker in self._workers.items()}

    def close(self, timeout_s: float = 10.0, *, drain: bool = False) -> None:
        """Stop the workers; with ``drain``, first wait (up to ``timeout_s``) for what is queued.

        What is still waiting is dropped: it was not logged as delivered, so the next pass
        (or the next start) plans it again. A request under way ends by its deadline.
        """
        if drain:
            self.wait_idle(timeout_s)
        with self._lock:
            self._stop.set()
            self._lock.notify_all()
        end = time.monotonic() + timeout_s
        for worker in self._workers.values():
            if worker.thread is not None:
                worker.thread.join(max(0.0, end - time.monotonic()))

    # -- workers ----------------------------------------------------------------------------

    def _idle(self) -> bool:
        now = self._clock()
        for worker in self._workers.values():
            if worker.in_flight is not None:
                return False
            if any(worker.not_before.get(index, 0.0) <= now for _, index in worker.pending):
                return False
        return True

    def _start(self, worker: _Worker) -> None:
        if worker.thread is None:
            worker.thread = threading.Thread(
                target=self._run, args=(worker,), name=f"biztrace-notify-{worker.receiver}", daemon=True
            )
            worker.thread.start()

    def _next(self, worker: _Worker) -> tuple[tuple[str, int], _Item] | None:
        """The oldest waiting delivery whose channel may be sent to now; waits for one (or stop)."""
        while not self._stop.is_set():
            now = self._clock()
            wake: float | None = None
            for key, item in list(worker.pending.items()):
                ready_at = worker.not_before.get(key[1], 0.0)
                if ready_at > now:
                    wake = ready_at if wake is None else min(wake, ready_at)
                    continue
                del worker.pending[key]
                if self._delivered.get((worker.receiver, *key), 0) > item.generation:
                    continue  # an earlier version of this group was delivered after this one was planned
                worker.in_flight = key
                return key, item
            self._lock.wait(None if wake is None else min(max(wake - now, 0.01), 60.0))
        return None

    def _run(self, worker: _Worker) -> None:
        while True:
            with self._lock:
                picked = self._next(worker)
            if picked is None:
                return
            (group_key, index), item = picked
            kind, channel = worker.channels[index]
            try:
                result = self._deliver(channel, item.notification)
                delivered, attempts = bool(result.delivered), int(result.attempts)
                error, retry_after = result.error, getattr(result, "retry_after_s", None)
            except Exception as exc:  # deliver never raises on purpose; a bug must not end the worker
                logger.exception("delivery to %s/%s failed unexpectedly", worker.receiver, kind)
                delivered, attempts, error, retry_after = False, 1, f"{type(exc).__name__}: {exc}", None
            if not delivered:
                logger.warning("notification to %s/%s failed: %s", worker.receiver, kind, error)
            self._record(item.notification, kind, delivered, attempts, error)
            with self._lock:
                if delivered:
                    self._current = next(self._generation)
                    self._delivered[(worker.receiver, group_key, index)] = self._current
                elif retry_after:
                    worker.not_before[index] = self._clock() + retry_after
                worker.in_flight = None
                self._lock.notify_all()

    def _record(self, notification: Notification, kind: str, delivered: bool, attempts: int, error: str | None) -> None:
        try:
            alert_store.record_notification(
                self._store, notification, kind, delivered, attempts, error, notification.sent_at
            )
        except Exception:  # the log is best effort: a store hiccup must not stop delivery
            logger.exception("could not log the notification to %s/%s", notification.receiver, kind)
        outcome = Delivery(receiver=notification.receiver, channel=kind, group_key=notification.group_key,
                           status=notification.status, delivered=delivered, attempts=attempts, error=error)  # fmt: skip
        with self._lock:
            self._outcomes.append(outcome)
