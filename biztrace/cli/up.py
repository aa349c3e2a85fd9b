"""``biztrace up``: the collector, the alert loop and the dashboard in one process on one store.

With ``--demo`` the simulator first backfills a few days of a distributor's business, then
keeps sending live, so a fresh clone shows a living dashboard with one command. Everything
shares the process's one embedded store (chDB: one process per data directory); another
process (``biztrace order``) is answered by the collector's lookup API meanwhile.
"""

from __future__ import annotations

import logging
import secrets
import sys
import threading
from functools import partial
from pathlib import Path

from biztrace import config as alerts_config
from biztrace.alerts.loop import run_forever
from biztrace.alerts.replay import send
from biztrace.cli.serving import serve_api
from biztrace.collector.service import Collector
from biztrace.dashboard import auth, data, server, ui
from biztrace.readmodel.lookup import key_history
from biztrace.store import Store

logger = logging.getLogger(__name__)


class Demo:
    """The simulator's part of the demo: backfill, then live, until stopped.

    On a store that already holds a simulation (``store`` given), it carries that simulation on
    from its last stored hop instead of backfilling the same days again: the same world is
    regenerated and only what came after is sent, so no business event arrives twice.
    """

    def __init__(
        self, endpoint: str, days: float, orders_per_day: int, seed: int, token: str | None, store: Store | None = None
    ) -> None:
        from biztrace.simulator.scenario import FaultRates, Scenario

        self.endpoint, self.token = endpoint, token
        faults = FaultRates(stuck=0.03, failed=0.02, dead_letter=0.01, duplicate=0.02, amount_mismatch=0.02,
                            quantity_mismatch=0.01, missing_hop=0.01)  # fmt: skip
        self.scenario = Scenario(seed=seed, days=days, orders_per_day=orders_per_day, faults=faults)
        self.after_ns: int | None = None
        """The last simulated hop already stored (ns since the epoch): carry on after it."""
        last = last_simulated(store) if store is not None else None
        if last is not None:
            self.after_ns, previous = last
            if previous is not None:
                self.scenario = previous
            else:  # spans of a simulator that did not name its scenario: fill only the gap, with new ids
                gap_days = (self.scenario.now.timestamp() - self.after_ns / 1e9) / 86_400
                self.scenario = self.scenario.model_copy(
                    update={"seed": self.after_ns // 1_000_000_000, "days": min(max(gap_days, 0.001), days)}
                )
                self.after_ns = None
        self.stop = threading.Event()
        self.backfilled = threading.Event()
        self.thread = threading.Thread(target=self._run, name="biztrace-demo", daemon=True)

    def _run(self) -> None:
        from biztrace.simulator.run import SdkEmitter, backfill, live, resume
        from biztrace.simulator.sender import OtlpHttpSender

        sender = OtlpHttpSender(self.endpoint, token=self.token, concurrency=8)
        days_done = 0
        try:
            if self.after_ns is not None:
                summary, world, future, days_done = resume(self.scenario, self.after_ns, sender)
            else:
                summary, world, future = backfill(self.scenario, sender, keep_future=True)
        except Exception:  # the demo's traffic must not take the dashboard down
            logger.exception("demo backfill failed")
            return
        finally:
            sender.close()
        self.backfilled.set()
        if self.after_ns is not None:
            logger.info("demo: carried on the stored simulation with %d spans; now sending live", summary.spans_sent)
        else:
            logger.info("demo: backfilled %d spans of %d orders; now sending live", summary.spans_sent, summary.orders)
        emitter = SdkEmitter(self.endpoint, self.token)
        try:
            live(self.scenario, emitter, future, world, duration_s=None, ground_truth=None, stop=self.stop.is_set,
                 days_done=days_done)  # fmt: skip
        except Exception:
            logger.exception("demo live traffic stopped")
        finally:
            emitter.shutdown()


def last_simulated(store: Store):
    """The latest simulated hop in the store, as (ns since the epoch, the scenario that made it, or
    None when no marker span names one), or None when the store holds no simulated hop."""
    from pydantic import ValidationError

    from biztrace.simulator.otlp import SCOPE
    from biztrace.simulator.run import MARKER_SERVICE, MARKER_SPAN, SCENARIO_ATTRIBUTE
    from biztrace.simulator.scenario import Scenario

    table = store.table("otel_traces")
    [[hops, last_ns, text]] = store.client.query(
        f"SELECT countIf(SpanName != {{marker:String}}), maxIf(toUnixTimestamp64Nano(Timestamp), "
        f"SpanName != {{marker:String}}), (SELECT argMax(ResourceAttributes[{{attribute:String}}], Timestamp) "
        f"FROM {table} WHERE ServiceName = {{service:String}} AND SpanName = {{marker:String}}) "
        f"FROM {table} WHERE ScopeName = {{scope:String}}",
        parameters={"marker": MARKER_SPAN, "attribute": SCENARIO_ATTRIBUTE, "service": MARKER_SERVICE, "scope": SCOPE},
    ).result_rows  # fmt: skip
    if not hops:
        return None
    try:
        return int(last_ns), Scenario.model_validate_json(text) if text else None
    except ValidationError:
        return int(last_ns), None


def demo_users(directory: Path, password: str | None) -> tuple[Path, str]:
    """A users file with one admin, ``demo``, for the demo; the password is printed, never stored."""
    password = password or secrets.token_urlsafe(9)
    path = directory / "demo-users.yaml"
    auth.save_user(path, "demo", password, ["admin"])
    return path, password


def run(settings, *, demo: bool, days: float, orders_per_day: int, seed: int, demo_password: str | None) -> None:
    """Start everything, print the addresses, serve the dashboard until a signal, then stop cleanly."""
    config = alerts_config.load(settings.config)
    collector = Collector(settings, lookup=partial(key_history, config=config))  # hops placed, as the API shows them
    collector.start()
    store = collector.store
    assert store is not None and collector.ports is not None
    try:
        api = serve_api(store.view(), config, settings.api_host, settings.api_port)
    except OSError:
        collector.stop()
        raise
    own, board = store.view(), store.view()  # the alert loop and the dashboard: their own clients
    environment = settings.environment()
    password = None
    if settings.users_file is None and demo:
        directory = store.address.path if store.address.embedded and store.address.path else Path.cwd()
        users_file, password = demo_users(directory, demo_password)
        environment["BIZTRACE_USERS_FILE"] = str(users_file)
    stop = threading.Event()
    loop = threading.Thread(target=run_forever, args=(own, config), kwargs={"stop": stop}, name="biztrace-alerts",
                            daemon=True)  # fmt: skip
    loop.start()
    token = settings.token.get_secret_value() if settings.token else None
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    simulation = (
        Demo(
            f"http://{host}:{collector.ports.http}",
            days,
            orders_per_day,
            seed,
            token,
            store=board,  # read once, before the dashboard starts
        )
        if demo
        else None
    )
    if simulation:
        simulation.thread.start()
    shown_host = "localhost" if settings.dashboard_host in ("0.0.0.0", "127.0.0.1", "") else settings.dashboard_host
    lines = [
        f"biztrace is up on {store.address.display}",
        f"  dashboard  http://{shown_host}:{settings.dashboard_port}",
        f"  OTLP       http://{host}:{collector.ports.http}/v1/traces (HTTP), {host}:{collector.ports.grpc} (gRPC)",
        f"  API        {api.url}/api/v1 (OpenAPI: {api.url}/api/v1/openapi.json)",
    ]
    if password:
        lines.append(f"  sign in as demo / {password}")
    if simulation:
        lines.append(f"  simulating {days:g} days of {orders_per_day} orders/day, then live")
    print("\n".join(lines), file=sys.stderr, flush=True)
    data.share_store(board)
    ui.share_replay_sender(send)  # the exception queue's replay action (the dashboard may not import alerts)
    try:
        server.serve(settings.dashboard_host, settings.dashboard_port, environment)
    finally:
        api.stop()
        stop.set()
        if simulation:
            simulation.stop.set()
            simulation.thread.join(10)
        loop.join(10)
        data.share_store(None)
        ui.share_replay_sender(None)
        own.close()
        board.close()
        collector.stop()
