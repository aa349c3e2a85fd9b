"""``biztrace export ocel``: the form chosen by extension, --json, and one-line failures with exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

WINDOW = ("--since", "2026-11-01T00:00:00", "--until", "2026-11-21T00:00:00")


def test_json_summary_describes_the_file_written(simulated, run_export, tmp_path, capsys):
    output = tmp_path / "o2c.jsonocel"
    assert run_export("ocel", *WINDOW, "--output", str(output), "--store", simulated.dsn, "--json") == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    log = json.loads(output.read_text())
    assert summary["format"] == "json" and summary["output"] == str(output)
    assert summary["events"] == len(log["events"]) > 0
    assert summary["objects"] == len(log["objects"])
    assert summary["objects_by_type"]["order"] == simulated.truth.orders
    assert summary["event_object"] == sum(len(e["relationships"]) for e in log["events"])
    assert summary["object_object"] == sum(len(o["relationships"]) for o in log["objects"])
    assert summary["event_types"] == sorted(t["name"] for t in log["eventTypes"])
    assert captured.err == ""
    assert [p.name for p in tmp_path.iterdir()] == ["o2c.jsonocel"]


def test_sqlite_extension_writes_the_sqlite_form(simulated, run_export, tmp_path, capsys):
    import sqlite3

    output = tmp_path / "o2c.sqlite"
    assert run_export("ocel", *WINDOW, "--output", str(output), "--store", simulated.dsn) == 0
    line = capsys.readouterr().out
    assert line.startswith(f"wrote {output} (OCEL 2.0 sqlite): ") and line.count("\n") == 1
    with sqlite3.connect(output) as db:
        [[orders]] = db.execute("SELECT count() FROM object WHERE ocel_type = 'order'")
    assert orders == simulated.truth.orders


def test_an_unknown_extension_exits_2_with_one_line_and_writes_nothing(simulated, run_export, tmp_path, capsys):
    output = tmp_path / "o2c.csv"
    assert run_export("ocel", *WINDOW, "--output", str(output), "--store", simulated.dsn) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ".jsonocel" in err and ".sqlite" in err
    assert list(tmp_path.iterdir()) == []


def test_a_bad_window_or_folder_exits_2(simulated, run_export, tmp_path, capsys):
    backwards = ("--since", "2026-11-21T00:00:00", "--until", "2026-11-01T00:00:00")
    assert run_export("ocel", *backwards, "--output", str(tmp_path / "x.json"), "--store", simulated.dsn) == 2
    assert "is not before --until" in capsys.readouterr().err
    assert run_export("ocel", *WINDOW, "--output", str(tmp_path / "no" / "x.json"), "--store", simulated.dsn) == 2
    assert "there is no directory" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_store_held_by_another_process_exits_3_with_one_line(run_export, tmp_path, capsys):
    directory = tmp_path / "held"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom biztrace.store import connect\nconnect(sys.argv[1])\n"
         "print('ready', flush=True)\ntime.sleep(60)", f"chdb://{directory}"],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    output = tmp_path / "o2c.json"
    try:
        assert holder.stdout.readline().strip() == b"ready"
        assert run_export("ocel", *WINDOW, "--output", str(output), "--store", f"chdb://{directory}") == 3
        err = capsys.readouterr().err
        assert f"in use by process {holder.pid}" in err and err.count("\n") == 1
        assert not output.exists()
    finally:
        holder.kill()
        holder.wait(10)
        holder.stdout.close()
