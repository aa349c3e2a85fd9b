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
from pathlib import Path

from biztrace import config as alerts_config
from biztrace.alerts.loop import run_forever
from biztrace.collector.service import Collector
from biztrace.dashboard import auth, data, server
from biztrace.readmodel.lookup import key_history
from biztrace.store import Store

logger = logging.getLogger(__name__)


class Demo:
    """The simulator's part of the demo: backfill, then live, until stopped."""

    def __init__(self, endpoint: str, days: float, orders_per_day: int, seed: int, token: str | None) -> None:
        from biztrace.simulator.scenario import FaultRates, Scenario

        self.endpoint, self.token = endpoint, token
        faults = FaultRates(stuck=0.03, failed=0.02, dead_letter=0.01, duplicate=0.02, amount_mismatch=0.02,
                            quantity_mismatch=0.01, missing_hop=0.01)  # fmt: skip
        self.scenario = Scenario(seed=seed, days=days, orders_per_day=orders_per_day, faults=faults)
        self.stop = threading.Event()
        self.backfilled = threading.Event()
        self.thread = threading.Thread(target=self._run, name="biztrace-demo", daemon=True)

    def _run(self) -> None:
        from biztrace.simulator.run import SdkEmitter, backfill, live
        from biztrace.simulator.sender import OtlpHttpSender

        sender = OtlpHttpSender(self.endpoint, token=self.token, concurrency=8)
        try:
            summary, world, future = backfill(self.scenario, sender, keep_future=True)
        except Exception:  # the demo's traffic must not take the dashboard down
            logger.exception("demo backfill failed")
            return
        finally:
            sender.close()
        self.backfilled.set()
        logger.info("demo: backfilled %d spans of %d orders; now sending live", summary.spans_sent, summary.orders)
        emitter = SdkEmitter(self.endpoint, self.token)
        try:
            live(self.scenario, emitter, future, world, duration_s=None, ground_truth=None, stop=self.stop.is_set)
        except Exception:
            logger.exception("demo live traffic stopped")
        finally:
            emitter.shutdown()


def demo_users(directory: Path, password: str | None) -> tuple[Path, str]:
    """A users file with one admin, ``demo``, for the demo; the password is printed, never stored."""
    password = password or secrets.token_urlsafe(9)
    path = directory / "demo-users.yaml"
    auth.save_user(path, "demo", password, ["admin"])
    return path, password


def run(settings, *, demo: bool, days: float, orders_per_day: int, seed: int, demo_password: str | None) -> None:
    """Start everything, print the addresses, serve the dashboard until a signal, then stop cleanly."""
    config = alerts_config.load(settings.config)
    collector = Collector(settings, lookup=key_history)
    collector.start()
    store = collector.store
    assert store is not None and collector.ports is not None
    own = Store(store.address, store.new_client())  # the alert loop and the dashboard: their own clients
    board = Store(store.address, store.new_client())
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
    simulation = Demo(f"http://{host}:{collector.ports.http}", days, orders_per_day, seed, token) if demo else None
    if simulation:
        simulation.thread.start()
    shown_host = "localhost" if settings.dashboard_host in ("0.0.0.0", "127.0.0.1", "") else settings.dashboard_host
    lines = [
        f"biztrace is up on {store.address.display}",
        f"  dashboard  http://{shown_host}:{settings.dashboard_port}",
        f"  OTLP       http://{host}:{collector.ports.http}/v1/traces (HTTP), {host}:{collector.ports.grpc} (gRPC)",
    ]
    if password:
        lines.append(f"  sign in as demo / {password}")
    if simulation:
        lines.append(f"  simulating {days:g} days of {orders_per_day} orders/day, then live")
    print("\n".join(lines), file=sys.stderr, flush=True)
    data.share_store(board)
    try:
        server.serve(settings.dashboard_host, settings.dashboard_port, environment)
    finally:
        stop.set()
        if simulation:
            simulation.stop.set()
            simulation.thread.join(10)
        loop.join(10)
        data.share_store(None)
        collector.stop()
