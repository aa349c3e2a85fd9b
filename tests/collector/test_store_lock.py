"""One process per embedded directory, enforced by a kernel lock: released when its holder dies,
decided by the kernel when two processes start at once, never fooled by a stale pid file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from biztrace.store.connection import LOCK_FILE, PID_FILE
from support import query_store

_OPEN = """
import json, sys, time
from pathlib import Path
from biztrace.store import StoreBusy, StoreError, connect
go, hold = Path(sys.argv[2]), float(sys.argv[3])
while not go.exists():
    time.sleep(0.001)
try:
    store = connect(sys.argv[1])
except StoreError as exc:
    print(json.dumps({"error": type(exc).__name__, "message": str(exc), "endpoint": getattr(exc, "endpoint", None)}))
    sys.exit(3)
print(json.dumps({"opened": True, "died": store.previous_holder_died}), flush=True)
if sys.argv[4:] == ["repair"]:
    store.mark_repaired()
time.sleep(hold)
store.close()
"""


def _opener(directory: Path, go: Path, hold_s: float, *then: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", _OPEN, f"chdb://{directory}", str(go), str(hold_s), *then],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def test_two_processes_starting_at_once_one_opens_the_other_is_told_in_one_line(tmp_path):
    directory, go = tmp_path / "store", tmp_path / "go"
    directory.mkdir()
    (directory / "biztrace.endpoint").write_text("http://127.0.0.1:4318\n")
    processes = [_opener(directory, go, 3.0) for _ in range(2)]
    time.sleep(2.0)  # both started and waiting for the same instant
    go.touch()
    outcomes = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        outcomes.append((process.returncode, json.loads(out.strip().splitlines()[-1]), err))
    outcomes.sort(key=lambda outcome: outcome[0])
    (ok_code, opened, _), (busy_code, refused, busy_err) = outcomes
    assert (ok_code, opened) == (0, {"opened": True, "died": False})
    assert busy_code == 3 and refused["error"] == "StoreBusy", refused
    winner = next(p.pid for p in processes if p.returncode == 0)
    assert f"is in use by process {winner}" in refused["message"]
    assert "\n" not in refused["message"] and "EmbeddedServer" not in refused["message"]
    assert refused["endpoint"] == "http://127.0.0.1:4318"
    assert "Traceback" not in busy_err


def test_a_killed_holder_frees_the_directory_at_once_and_is_known_to_have_died(tmp_path):
    directory, go = tmp_path / "store", tmp_path / "go"
    go.touch()
    holder = _opener(directory, go, 60.0)
    assert json.loads(holder.stdout.readline())["opened"]
    holder.kill()
    holder.wait(10)
    holder.stdout.close()
    holder.stderr.close()
    assert (directory / PID_FILE).read_text().strip() == str(holder.pid)  # left behind by the death
    second = _opener(directory, go, 0.0)
    out, _ = second.communicate(timeout=120)
    assert second.returncode == 0 and json.loads(out) == {"opened": True, "died": True}
    assert not (directory / PID_FILE).exists(), "a clean close removes the pid file"
    third = _opener(directory, go, 0.0, "repair")  # the death stays known until a repair is recorded
    out, _ = third.communicate(timeout=120)
    assert json.loads(out) == {"opened": True, "died": True}
    fourth = _opener(directory, go, 0.0)
    out, _ = fourth.communicate(timeout=120)
    assert json.loads(out) == {"opened": True, "died": False}


def test_a_stale_pid_file_naming_a_live_unrelated_process_does_not_block(tmp_path):
    directory = tmp_path / "store"
    directory.mkdir()
    unrelated = subprocess.Popen(["sleep", "60"])
    try:
        (directory / PID_FILE).write_text(f"{unrelated.pid}\n")
        (directory / LOCK_FILE).write_text(f"{unrelated.pid}\n")
        assert query_store(directory, "SELECT 42") == [[42]]
    finally:
        unrelated.kill()
        unrelated.wait(10)


def test_the_lock_is_shared_by_the_stores_of_one_process(store_root, tmp_path):
    from biztrace.store import connect

    first = connect(f"chdb://{store_root}?database=lock_a")
    second = connect(f"chdb://{store_root}?database=lock_b")
    try:
        assert (store_root / PID_FILE).read_text().strip() == str(os.getpid())
        second.close()
        second.close()  # idempotent: the first store still holds the directory
        assert (store_root / PID_FILE).exists()
        assert int(first.client.command("SELECT 1")) == 1
    finally:
        first.client.command("DROP DATABASE IF EXISTS lock_a")
        first.client.command("DROP DATABASE IF EXISTS lock_b")
        first.close()


def test_closing_a_view_closes_its_client_and_leaves_the_directory_held(store_root, tmp_path):
    from biztrace.store import connect, connection

    store = connect(f"chdb://{store_root}")
    path = store.address.path
    holding = connection._held[path][1]  # the stores of this process on the directory (others' too, under xdist)
    try:
        view = store.view()
        assert int(view.client.command("SELECT 1")) == 1 and view.client is not store.client
        view.close()
        view.close()  # idempotent
        assert connection._held[path][1] == holding, "a view's close releases nothing"
        assert (store_root / PID_FILE).read_text().strip() == str(os.getpid())
        go = tmp_path / "go"
        go.touch()
        other = _opener(store_root, go, 0.0)
        out, _ = other.communicate(timeout=120)
        assert other.returncode == 3 and json.loads(out)["error"] == "StoreBusy", out
        assert int(store.client.command("SELECT 1")) == 1
    finally:
        store.close()
    assert connection._held.get(path, [None, 0])[1] == holding - 1, "the store that took the directory released it"


_SCRATCH = """
import sys
from biztrace.store import connect
store = connect(sys.argv[1])
store.create_memory_table("SELECT 1 AS one", prefix="biztrace_snapshot")  # a pass's table, never dropped
store.client.command("CREATE TABLE IF NOT EXISTS kept_by_someone (one UInt8) ENGINE = Memory")  # not ours
print(store.client.command("SELECT count() FROM system.tables WHERE engine = 'Memory'"), flush=True)
sys.stdin.read()  # until killed
"""


def test_the_scratch_tables_a_killed_holder_left_are_dropped_by_the_next_one(tmp_path):
    """A killed holder's Memory tables (a pass's snapshot, its pairs) lose their rows but leave their definitions
    in the directory; the next process to open it drops biztrace's own, and only those."""
    dsn = f"chdb://{tmp_path / 'store'}"
    holder = subprocess.Popen([sys.executable, "-c", _SCRATCH, dsn], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)  # fmt: skip
    assert holder.stdout.readline().strip() == "2"
    holder.kill()
    holder.wait(10)
    holder.stdout.close()
    holder.stdin.close()
    left = query_store(tmp_path / "store", "SELECT name FROM system.tables WHERE engine = 'Memory' ORDER BY name")
    assert left == [["kept_by_someone"]]
