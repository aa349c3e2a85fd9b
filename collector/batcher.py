"""Bounded queue between the receivers and the writers; acknowledges after commit.

Receivers ``submit`` a checked request and get a future that completes only once the
batch holding it is committed (or has failed for good). Writer threads take batches by
size (``max_batch_spans``) or age (``flush_interval_ms``). Memory stays bounded: a request
that would push the queue past ``max_queue_spans`` is refused with :class:`Overloaded`, and
the client retries after the advertised delay.

A failed write is split: its halves are written apart, down to single requests, so that a
request the store refuses fails alone and the others are committed and acknowledged. What
still fails is retried as one group (its deduplication token derived from its members) until
``write_timeout_s``; then those requests fail with :class:`StoreUnavailable`, and since they
were not acknowledged, the clients' retries lose nothing.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future

from biztrace.collector.errors import Overloaded, StoreUnavailable
from biztrace.collector.intake import Intake
from biztrace.collector.ledger import RequestLedger
from biztrace.collector.metrics import CollectorMetrics
from biztrace.collector.writer import Batch, Writer

logger = logging.getLogger(__name__)

FAULT_EXIT_CODE = 86
"""Exit status of a process ended by ``exit_after_commits``."""


class Batcher:
    """Batches requests for one or more writers, each on its own thread.

    Args:
        writers: one thread per writer; two writers on two clients use both cores.
        ledger: committed-request memory used to drop clients' retries.
        max_batch_spans: the largest batch one write takes.
        min_batch_spans: a free writer takes what waits as soon as this many spans do;
            below it, it waits up to ``flush_interval_ms``. Every insert has a fixed cost
            (about 0.2 s here), so under load batches grow while writers are busy (group
            commit), and under light load a request waits at most the flush interval.
        flush_interval_ms: flush when the oldest waiting request is this old.
        max_queue_spans: refuse new requests beyond this many waiting spans.
        write_timeout_s: give up on a batch after retrying this long.
        exit_after_commits: fault injection for durability tests: end the process right
            after this many commits, before acknowledging (a crash at the worst moment).
    """

    def __init__(
        self,
        writers: Sequence[Writer],
        ledger: RequestLedger | None = None,
        metrics: CollectorMetrics | None = None,
        *,
        max_batch_spans: int = 50_000,
        min_batch_spans: int = 5_000,
        flush_interval_ms: int = 200,
        max_queue_spans: int = 400_000,
        write_timeout_s: float = 30.0,
        retry_initial_s: float = 0.1,
        exit_after_commits: int | None = None,
    ) -> None:
        if not writers:
            raise ValueError("Batcher needs at least one writer")
        self._writers = list(writers)
        self.ledger = ledger or RequestLedger()
        self.metrics = metrics or CollectorMetrics()
        self.max_batch_spans = max_batch_spans
        self.min_batch_spans = min(min_batch_spans, max_batch_spans)
        self.flush_interval_s = flush_interval_ms / 1000
        self.max_queue_spans = max_queue_spans
        self.write_timeout_s = write_timeout_s
        self.retry_initial_s = retry_initial_s
        self._exit_after_commits = exit_after_commits
        self._commits = 0
        self._queue: deque[tuple[Intake, Future[None], float]] = deque()
        self._queued_spans = 0
        self._inflight: dict[bytes, Future[None]] = {}
        self._cond = threading.Condition()
        self._stopping = False
        self._threads: list[threading.Thread] = []

    @property
    def queued_spans(self) -> int:
        return self._queued_spans

    @property
    def accepting(self) -> bool:
        """Whether requests are taken: started, not stopping, every writer thread alive."""
        return bool(self._threads) and not self._stopping and all(t.is_alive() for t in self._threads)

    def start(self) -> None:
        """Start one thread per writer."""
        for index, writer in enumerate(self._writers):
            thread = threading.Thread(target=self._run, args=(writer,), name=f"biztrace-writer-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def submit(self, intake: Intake) -> Future[None]:
        """Queue a request; the future completes when it is committed.

        Never blocks. Raises :class:`Overloaded` when the queue is full or stopping.
        """
        done = self.ledger.committed_days(intake.fingerprint)
        if done:
            remaining = {sample.day for sample in intake.samples} - done
            if not remaining:
                self.metrics.spans_deduplicated.inc(intake.spans)
                return _resolved()
            intake = intake.without_days(set(done))
        if intake.spans == 0:
            return _resolved()
        with self._cond:
            if self._stopping:
                raise Overloaded("the collector is shutting down; retry against the next instance", 5)
            same = self._inflight.get(intake.fingerprint)
            if same is not None:
                return same
            if self._queued_spans + intake.spans > self.max_queue_spans and self._queue:
                self.metrics.spans_rejected.labels("queue_full").inc(intake.spans)
                raise Overloaded(
                    f"the queue holds {self._queued_spans} of {self.max_queue_spans} spans; retry shortly", 1
                )
            future: Future[None] = Future()
            self._queue.append((intake, future, time.monotonic()))
            self._queued_spans += intake.spans
            self._inflight[intake.fingerprint] = future
            self.metrics.queue_spans.set(self._queued_spans)
            if self._queued_spans >= self.min_batch_spans or len(self._queue) == 1:
                self._cond.notify()
            return future

    def _take(self) -> list[tuple[Intake, Future[None], float]] | None:
        with self._cond:
            while True:
                if self._queue:
                    age = time.monotonic() - self._queue[0][2]
                    if self._stopping or self._queued_spans >= self.min_batch_spans or age >= self.flush_interval_s:
                        break
                    self._cond.wait(self.flush_interval_s - age)
                elif self._stopping:
                    return None
                else:
                    self._cond.wait()
            taken = []
            spans = 0
            while self._queue and (not taken or spans + self._queue[0][0].spans <= self.max_batch_spans):
                item = self._queue.popleft()
                taken.append(item)
                spans += item[0].spans
            self._queued_spans -= spans
            self.metrics.queue_spans.set(self._queued_spans)
            if self._queue:
                self._cond.notify()
            return taken

    def _run(self, writer: Writer) -> None:
        while (taken := self._take()) is not None:
            self._commit(writer, uuid.uuid4().hex, taken)

    def _commit(self, writer: Writer, batch_id: str, taken: list[tuple[Intake, Future[None], float]]) -> None:
        """Write the requests taken, acknowledging each as soon as the write holding it commits.

        A group that fails is split in halves, and each half written on its own, down to single
        requests: one request the store refuses (whatever the reason) fails alone, and every
        other request of the group is committed and acknowledged once. What still fails is
        written again as one group, with backoff, until ``write_timeout_s``; then its requests
        fail with :class:`StoreUnavailable`. A group's deduplication token is derived from its
        members, so writing the same group again after an ambiguous failure stores it once.
        """
        deadline = time.monotonic() + self.write_timeout_s
        delay = self.retry_initial_s
        pending = list(range(len(taken)))
        while True:
            failed: dict[int, BaseException] = {}
            self._isolate(writer, batch_id, taken, pending, failed)
            if not failed:
                return
            pending = sorted(failed)
            error = failed[pending[-1]]
            if time.monotonic() + delay > deadline:
                spans = sum(taken[i][0].spans for i in pending)
                logger.error("giving up on %d request(s) of batch %s (%d spans): %s",
                             len(pending), batch_id, spans, _first_line(error))  # fmt: skip
                self.metrics.batch_failures.inc()
                for index in pending:
                    intake, future, _ = taken[index]
                    with self._cond:
                        self._inflight.pop(intake.fingerprint, None)
                    future.set_exception(
                        StoreUnavailable(f"the store did not commit the batch: {_first_line(failed[index])}")
                    )
                return
            logger.warning("%d request(s) of batch %s failed (%s); retrying in %.1fs",
                           len(pending), batch_id, _first_line(error), delay)  # fmt: skip
            self.metrics.batch_retries.inc()
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _isolate(self, writer: Writer, batch_id: str, taken, members: list[int], failed: dict) -> None:
        """Write ``members`` as one batch; on failure, each half on its own, down to single requests."""
        token = batch_id if len(members) == len(taken) else f"{batch_id}-{_members_key(members)}"
        batch = Batch(token, [taken[i][0] for i in members])
        started = time.monotonic()
        try:
            writer.write(batch)
        except Exception as exc:  # a writer may fail in any way; the requests must survive it
            if len(members) == 1:
                failed[members[0]] = exc
                return
            logger.warning("batch %s of %d requests failed (%s); writing its halves apart",
                           token, len(members), _first_line(exc))  # fmt: skip
            half = len(members) // 2
            self._isolate(writer, batch_id, taken, members[:half], failed)
            self._isolate(writer, batch_id, taken, members[half:], failed)
            return
        self.metrics.batch_seconds.observe(time.monotonic() - started)
        self.metrics.spans_written.inc(batch.spans)  # committed: counted before any request is answered
        if self._exit_after_commits is not None:
            with self._cond:
                self._commits += 1
                if self._commits >= self._exit_after_commits:
                    logger.critical("fault injection: exiting after commit %d, before acknowledging", self._commits)
                    os._exit(FAULT_EXIT_CODE)
        for index in members:
            intake, future, _ = taken[index]
            with self._cond:
                self._inflight.pop(intake.fingerprint, None)
            self.ledger.record(intake.fingerprint, {sample.day for sample in intake.samples})
            future.set_result(None)

    def shutdown(self, timeout_s: float = 30.0) -> bool:
        """Stop accepting, flush what is queued, and wait for the writers.

        Returns whether every writer finished within ``timeout_s``.
        """
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)


def _resolved() -> Future[None]:
    future: Future[None] = Future()
    future.set_result(None)
    return future


def _members_key(members: list[int]) -> str:
    return hashlib.blake2b(",".join(map(str, members)).encode(), digest_size=8).hexdigest()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
