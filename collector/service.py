"""The running collector: receivers, batcher and writers wired together, with a clean stop."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiohttp import web
from pydantic import BaseModel

from biztrace.collector import ledger as ledger_module
from biztrace.collector.batcher import Batcher
from biztrace.collector.grpc_receiver import build_server
from biztrace.collector.http_receiver import build_app, make_runner
from biztrace.collector.intake import Limits
from biztrace.collector.metrics import CollectorMetrics
from biztrace.collector.receiver import Receiver
from biztrace.collector.settings import CollectorSettings
from biztrace.collector.writer import ClickHouseWriter
from biztrace.store import Store, connect, publish_endpoint, schema

logger = logging.getLogger(__name__)


@dataclass
class Ports:
    http: int
    grpc: int


class Collector:
    """Starts and stops everything ``biztrace collect`` runs.

    Args:
        settings: the collector's options.
        store: an already open store (the demo shares one); opened from settings if None.
        lookup: ``lookup(store, key, limit)``, the read model's key history, served at
            ``/api/v1/keys/{key}`` for processes that cannot open the embedded store (given by the
            process wiring: the collector knows nothing of business facts).
    """

    def __init__(
        self,
        settings: CollectorSettings,
        store: Store | None = None,
        lookup: Callable[[Store, str, int], BaseModel] | None = None,
    ) -> None:
        self.settings = settings
        self._lookup = lookup
        self._own_store = store is None
        self._views: list[Store] = []  # the writers' views of the store (closed by stop())
        self.store = store
        self.metrics = CollectorMetrics()
        self.batcher: Batcher | None = None
        self.ports: Ports | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._grpc = None
        self._http_thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self.store_endpoint = None

    def _bound_lookup(self) -> Callable[[str, int], BaseModel] | None:
        if self._lookup is None:
            return None
        lookup, store = self._lookup, self.store

        def answer(key: str, limit: int) -> BaseModel:
            # on a client of its own: the store's is the first writer's, busy with inserts under load
            with store.borrowed(wait=False) as view:
                return lookup(view, key, limit)

        return answer

    def start(self) -> Ports:
        """Open the store, bring its schema up to date, and start listening."""
        s = self.settings
        crashed = False
        if self.store is None:
            self.store = connect(s.store)
            crashed = self.store.previous_holder_died
        schema.apply(self.store, s.schema_options())
        if crashed:
            noticed = self.store.crash_detected_at
            at = datetime.fromtimestamp(noticed, UTC) if noticed else datetime.now(UTC)
            since = at - timedelta(seconds=s.dedup_window_s)  # parts the dead holder wrote before it was noticed
            repaired = schema.repair(self.store, since)
            logger.warning("the last collector on this store died; re-derived the rows it left missing: %s",
                           ", ".join(f"{table} {rows}" for table, rows in repaired.items()) or "none")  # fmt: skip
            self.store.mark_repaired()
        request_ledger = ledger_module.RequestLedger(window_s=s.dedup_window_s)
        remembered = ledger_module.recover(self.store, request_ledger)
        if remembered:
            logger.info("remembered %d recently committed requests from the ledger", remembered)
        partitions = int(s.max_span_age_days + s.max_span_future_s / 86_400) + 3
        writers = [ClickHouseWriter(self.store, s.protobuf_schema, partitions)]
        for _ in range(s.writers - 1):
            view = self.store.view()  # each writer thread a client of its own
            self._views.append(view)
            writers.append(ClickHouseWriter(view, s.protobuf_schema, partitions))
        self.batcher = Batcher(
            writers,
            request_ledger,
            self.metrics,
            max_batch_spans=s.max_batch_spans,
            min_batch_spans=s.min_batch_spans,
            flush_interval_ms=s.flush_interval_ms,
            max_queue_spans=s.max_queue_spans,
            write_timeout_s=s.write_timeout_s,
            exit_after_commits=s.fault_exit_after_commits,
        )
        self.batcher.start()
        token = s.token.get_secret_value() if s.token else None
        limits = Limits(
            max_attributes=s.max_attributes,
            max_value_length=s.max_value_length,
            max_name_length=s.max_name_length,
            max_events=s.max_events,
            max_links=s.max_links,
            max_span_bytes=s.max_span_bytes,
            max_span_age_s=s.max_span_age_days * 86_400,
            max_span_future_s=s.max_span_future_s,
        )
        receiver = Receiver(self.batcher, limits, s.max_body_bytes, token, s.max_inflight_bytes)
        self._grpc, grpc_port = build_server(receiver, f"{s.host}:{s.grpc_port}", max_workers=s.grpc_workers)
        self._grpc.start()
        http_port = self._start_http(receiver)
        self.ports = Ports(http=http_port, grpc=grpc_port)
        self.store_endpoint = None
        if self.store.address.embedded:
            host = "127.0.0.1" if s.host in ("0.0.0.0", "::", "") else s.host
            self.store_endpoint = publish_endpoint(self.store, f"http://{host}:{http_port}")
        logger.info(
            "collector listening: OTLP/HTTP %s:%d, OTLP/gRPC %s:%d, store %s",
            s.host,
            http_port,
            s.host,
            grpc_port,
            self.store.address.display,
        )
        return self.ports

    def _start_http(self, receiver: Receiver) -> int:
        ready = threading.Event()
        bound: list[int] = []
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                app = build_app(receiver, self._bound_lookup(), self.settings.http_read_timeout_s)
                self._runner = make_runner(app, self.settings.http_idle_timeout_s)
                loop.run_until_complete(self._runner.setup())
                site = web.TCPSite(self._runner, self.settings.host, self.settings.http_port)
                loop.run_until_complete(site.start())
                bound.append(site._server.sockets[0].getsockname()[1])  # the port, when 0 was asked
            except BaseException as exc:  # reported to start() below
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._http_thread = threading.Thread(target=serve, name="biztrace-http", daemon=True)
        self._http_thread.start()
        ready.wait()
        if failure:
            raise OSError(f"cannot start OTLP/HTTP on {self.settings.host}:{self.settings.http_port}: {failure[0]}")
        return bound[0]

    def stop(self, timeout_s: float = 30.0) -> None:
        """Refuse new requests, write everything queued, then close. Idempotent."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self.batcher is not None:
            if not self.batcher.shutdown(timeout_s):
                logger.error("writers did not finish within %.0fs; unacknowledged requests will be retried", timeout_s)
        if self._grpc is not None:
            self._grpc.stop(grace=2).wait(5)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._http_thread is not None:
            self._http_thread.join(10)
        if self.store_endpoint is not None:
            self.store_endpoint.unlink(missing_ok=True)
        for view in self._views:
            view.close()
        if self._own_store and self.store is not None:
            self.store.close()

    def run_until_signal(self) -> None:
        """Block until SIGINT or SIGTERM, then stop cleanly."""
        done = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: done.set())
        while not done.wait(1.0):
            pass
        logger.info("stopping: writing what is queued")
        self.stop()
