"""``biztrace up --demo`` as a person runs it: one process, a live store, a dashboard, clean stop.

The session fixture is shared with the browser test, which drives the same running demo.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from support import query_store, wait_for
from tests.dashboard.conftest import DemoProcess


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode()


def test_up_demo_serves_the_dashboard_and_fills_the_store(demo: DemoProcess) -> None:
    assert _get(f"{demo.dashboard_url}/_stcore/health") == (200, "ok")
    status, body = _get(f"{demo.collector_url}/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok"
    printed = demo.log.read_text()
    assert f"dashboard  http://localhost:{demo.dashboard_port}" in printed
    assert f"sign in as demo / {demo.password}" in printed
    assert demo.password not in (demo.data_dir / "demo-users.yaml").read_text(), "only the hash is stored"


def test_a_second_process_is_answered_by_the_running_demo(demo: DemoProcess) -> None:
    order = demo.an_order()
    out = subprocess.run(
        [sys.executable, "-m", "biztrace.cli", "order", order, "--store", f"chdb://{demo.data_dir}", "--json"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["key"] == order
    busy = subprocess.run(
        [sys.executable, "-m", "biztrace.cli", "dashboard", "--store", f"chdb://{demo.data_dir}",
         "--users-file", str(demo.data_dir / "demo-users.yaml"), "--dashboard-port", "0", "--api-port", "0"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert busy.returncode == 3 and "biztrace up" in busy.stderr and "Traceback" not in busy.stderr


def test_user_add_writes_a_hash_and_refuses_short_passwords(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    env = {**os.environ, "BIZTRACE_USER_PASSWORD": "long enough password"}
    command = [sys.executable, "-m", "biztrace.cli", "user", "add", "alice", "--role", "support", "--role", "on-call",
               "--users-file", str(path)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "alice" in path.read_text() and "long enough password" not in path.read_text()
    short = subprocess.run(command, capture_output=True, text=True, env={**env, "BIZTRACE_USER_PASSWORD": "short"})
    assert short.returncode == 2 and "at least 8" in short.stderr
    wrong = subprocess.run([*command[:-4], "--role", "boss", "--users-file", str(path)], capture_output=True,
                           text=True, env=env)  # fmt: skip
    assert wrong.returncode == 2 and "boss" in wrong.stderr


def test_dashboard_without_users_explains_how_to_add_one(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "biztrace.cli", "dashboard", "--store", f"chdb://{tmp_path / 'store'}"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2 and "biztrace user add" in done.stderr


def test_sigterm_stops_everything_and_keeps_what_was_sent(demo_factory) -> None:
    demo = demo_factory(days=0.2, orders_per_day=200)
    wait_for(lambda: "now sending live" in demo.log.read_text(), timeout_s=120)
    assert demo.terminate() == 0, demo.log.read_text()[-3000:]
    stored = query_store(demo.data_dir, "SELECT count() FROM default.otel_traces")[0][0]
    assert int(stored) > 100
    assert not (demo.data_dir / "biztrace.pid").exists() or demo.proc.poll() is not None
