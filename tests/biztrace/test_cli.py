"""The ``biztrace`` command on the real embedded store: output, --json, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from biztrace.cli import main
from biztrace.collector import intake
from biztrace.collector.writer import Batch, ClickHouseWriter
from support import CollectorProcess, store_dsn


def _dsn(store) -> str:
    return store_dsn(store.address.path, store.database) if store.address.embedded else store.address.dsn


def _write_order(store, order: str) -> None:
    request = ExportTraceServiceRequest()
    for system, stage, offset in (("crm", "order.captured", 0), ("erp", "order.accepted", 5), ("wms", "", 9)):
        rs = request.resource_spans.add()
        kv = rs.resource.attributes.add()
        kv.key, kv.value.string_value = "service.name", system
        span = rs.scope_spans.add().spans.add()
        span.trace_id, span.span_id = bytes([offset + 1] * 16), bytes([offset + 2] * 8)
        span.name = f"{system}.hop"
        span.start_time_unix_nano = 1_790_000_000_000_000_000 + offset * 1_000_000_000
        span.end_time_unix_nano = span.start_time_unix_nano + 2_500_000
        for key, value in (
            ("order.id", order),
            ("biz.stage", stage),
            ("invoice.id", "INV-7" if system == "erp" else ""),
        ):
            if value:
                attr = span.attributes.add()
                attr.key, attr.value.string_value = key, value
        if system == "wms":
            span.status.code = 2
            attr = span.attributes.add()
            attr.key, attr.value.string_value = "error.type", "timeout"
    checked = intake.check(request, None)
    ClickHouseWriter(store).write(Batch("cli-test", [checked]))


def test_order_json_lists_every_hop_in_time_order(store, capsys):
    _write_order(store, "O-1182")
    assert main(["order", "O-1182", "--store", _dsn(store), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["key"] == "O-1182" and document["found"] is True
    assert document["traces"] == 3
    assert document["systems"] == ["crm", "erp", "wms"]
    hops = document["hops"]
    assert [h["stage"] for h in hops] == ["order.captured", "order.accepted", ""]
    assert [h["status"] for h in hops] == ["Unset", "Unset", "Error"]
    assert hops[2]["error_type"] == "timeout"
    assert hops[0]["duration_ms"] == pytest.approx(2.5)
    assert {"trace_id", "span_id", "service", "system", "stage", "start", "duration_ms", "status"} <= set(hops[0])
    # where the order stands, as the API's key tree and the order page say it (lookup.tree_transactions)
    [tx] = document["transactions"]
    assert (tx["process"], tx["key"], tx["state"], tx["current_stage"]) == ("order_to_cash", "O-1182", "failed",
                                                                           "order.accepted")  # fmt: skip
    assert (tx["trouble_system"], tx["error_type"], tx["next_stage"]) == ("wms", "timeout", "inventory.allocated")


def test_order_by_secondary_key_shows_its_orders_whole_tree(store, capsys):
    _write_order(store, "O-55")
    assert main(["order", "INV-7", "--store", _dsn(store), "--json"]) == 0
    history = json.loads(capsys.readouterr().out)
    assert [(h["system"], h["order_id"]) for h in history["hops"]] == [
        ("crm", "O-55"),
        ("erp", "O-55"),
        ("wms", "O-55"),
    ]
    assert [h["system"] for h in history["hops"] if h["invoice_id"] == "INV-7"] == ["erp"]  # the hop that carries it


def test_order_table_output_is_readable(store, capsys):
    _write_order(store, "O-9")
    assert main(["order", "O-9", "--store", _dsn(store)]) == 0
    out = capsys.readouterr().out
    assert "O-9: 3 hops in 3 traces" in out
    assert "order.captured" in out and "Error (timeout)" in out
    assert "1 transaction" in out and "failed at inventory.allocated (wms, timeout)" in out
    assert main(["order", "O-9", "--store", _dsn(store), "--limit", "1"]) == 0
    assert "O-9: 1 hop in 1 trace (the first 1: more are stored" in capsys.readouterr().out


def test_order_says_when_more_hops_are_stored_than_its_limit_and_when_each_was_stored(store, capsys):
    before = time.time()
    _write_order(store, "O-77")
    assert main(["order", "O-77", "--store", _dsn(store), "--limit", "2"]) == 0
    assert "O-77: 2 hops in 2 traces (the first 2: more are stored, raise --limit)" in capsys.readouterr().out
    assert main(["order", "O-77", "--store", _dsn(store), "--json", "--limit", "3"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["truncated"] is False and len(document["hops"]) == 3
    stored = [datetime.fromisoformat(h["stored_at"]).replace(tzinfo=UTC).timestamp() for h in document["hops"]]
    assert all(int(before) <= at <= time.time() + 1 for at in stored)  # the store's clock, whole seconds
    assert main(["order", "O-77", "--store", _dsn(store), "--json", "--limit", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["truncated"] is True


def test_unknown_key_exits_1_with_a_clear_message(store, capsys):
    assert main(["order", "O-NOPE", "--store", _dsn(store)]) == 1
    captured = capsys.readouterr()
    assert "no hop carries the key 'O-NOPE'" in captured.err
    assert "Traceback" not in captured.err
    assert main(["order", "O-NOPE", "--store", _dsn(store), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["found"] is False


def test_db_init_is_idempotent_and_status_reports_it(empty_store, capsys):
    dsn = _dsn(empty_store)
    assert main(["db", "status", "--store", dsn, "--json"]) == 0
    assert not any(row["applied"] for row in json.loads(capsys.readouterr().out))
    assert main(["db", "init", "--store", dsn, "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["applied"] == [m["version"] for m in first["migrations"]]
    assert main(["db", "init", "--store", dsn, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["applied"] == []
    assert main(["db", "status", "--store", dsn]) == 0
    assert "0 pending" in capsys.readouterr().out


def test_a_store_behind_this_versions_schema_exits_3_naming_what_to_run(store, capsys):
    """A store the previous version made (its last migration not applied): a reading command says so in one
    line, exit 3, instead of failing on a column it lacks; 'biztrace db init' brings it up to date."""
    from biztrace.store import schema

    last = schema.migrations()[-1]
    store.client.command(f"DELETE FROM {store.table(schema.MIGRATIONS)} WHERE version = {last.version}")
    assert main(["exceptions", "--store", _dsn(store)]) == 3
    err = capsys.readouterr().err
    assert f"{last.version:03d}_{last.name}" in err and "biztrace db init" in err and "Traceback" not in err
    assert main(["db", "init", "--store", _dsn(store), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["applied"] == [last.version]
    assert main(["exceptions", "--store", _dsn(store), "--json"]) == 0


def test_bad_store_dsn_exits_3(capsys):
    assert main(["order", "O-1", "--store", "postgres://nope"]) == 3
    assert "neither chdb" in capsys.readouterr().err


def test_busy_embedded_store_exits_3_naming_the_holder(tmp_path, capsys):
    directory = tmp_path / "held"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom biztrace.store import connect\nconnect(sys.argv[1])\n"
         "print('ready', flush=True)\ntime.sleep(60)", f"chdb://{directory}"],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == b"ready"
        assert main(["order", "O-1", "--store", f"chdb://{directory}"]) == 3
        err = capsys.readouterr().err
        assert f"in use by process {holder.pid}" in err
        assert "Traceback" not in err
    finally:
        holder.kill()
        holder.wait(10)
        holder.stdout.close()


def test_help_teaches_commands_and_environment(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "collect" in out and "order" in out and "BIZTRACE_" in out
    assert main(["order", "--help"]) == 0
    assert "biztrace order O-1182 --json" in capsys.readouterr().out


def test_order_asks_the_running_collector_when_it_holds_the_embedded_store(tmp_path, capsys):
    collector = CollectorProcess(tmp_path / "live").start()
    try:
        request = ExportTraceServiceRequest()
        span = request.resource_spans.add().scope_spans.add().spans.add()
        span.trace_id, span.span_id, span.name = bytes([3] * 16), bytes([4] * 8), "edi.850"
        span.start_time_unix_nano = span.end_time_unix_nano = time.time_ns()
        attr = span.attributes.add()
        attr.key, attr.value.string_value = "order.id", "O-LIVE"
        urllib.request.urlopen(
            urllib.request.Request(
                f"{collector.http_url}/v1/traces",
                data=request.SerializeToString(),
                headers={"Content-Type": "application/x-protobuf"},
            ),
            timeout=30,
        ).close()
        assert main(["order", "O-LIVE", "--store", f"chdb://{collector.data_dir}", "--json"]) == 0
        history = json.loads(capsys.readouterr().out)
        assert [hop["span_name"] for hop in history["hops"]] == ["edi.850"]
        # the transactions as the holder's API computed them
        assert [(tx["process"], tx["key"]) for tx in history["transactions"]] == [("order_to_cash", "O-LIVE")]
        assert main(["order", "O-MISSING", "--store", f"chdb://{collector.data_dir}"]) == 1
    finally:
        assert collector.terminate() == 0


def test_exceptions_sort_by_money_at_risk_with_every_value_in_place(store, capsys):
    at = datetime(2026, 11, 20, 10, 0)

    def hop(order, stage, minute, span, amount=None, status="Unset", event=""):
        store.client.command(
            f"INSERT INTO {store.table('biz_hops')} (Timestamp, SpanId, OrderId, Process, Stage, System, StatusCode, "
            "Amount, Currency, EventId) VALUES ({at:DateTime64(9)}, {span:String}, {order:String}, 'order_to_cash', "
            "{stage:String}, 'erp', {status:String}, {amount:Nullable(Float64)}, 'EUR', {event:String})",
            parameters={"at": at.replace(minute=minute), "span": span, "order": order, "stage": stage,
                        "status": status, "amount": amount, "event": event},
        )  # fmt: skip

    hop("O-SMALL", "order.captured", 0, "s1", 10.0)
    hop("O-SMALL", "order.accepted", 1, "s2", 10.0, status="Error")  # failed, worth 10
    hop("O-LARGE", "order.captured", 2, "l1", 900.0)
    hop("O-LARGE", "order.accepted", 3, "l2", 900.0, status="Error")  # failed, worth 900
    # a healthy order whose capture was delivered twice: its value (500) comes from the transaction itself
    hop("O-DUP", "order.captured", 4, "d1", 500.0, event="E-9")
    hop("O-DUP", "order.captured", 5, "d2", 500.0, event="E-9")
    hop("O-NONE", "order.captured", 6, "n1", status="Error")  # failed, no amount anywhere
    now = ["--now", "2026-11-20T10:30:00"]
    assert main(["exceptions", "--store", _dsn(store), "--json", "--sort", "amount", *now]) == 0
    listed = [(e["key"], e["amount"]) for e in json.loads(capsys.readouterr().out)]
    assert listed == [("O-LARGE", 900.0), ("O-DUP", 500.0), ("O-SMALL", 10.0), ("O-NONE", None)]
    assert main(["exceptions", "--store", _dsn(store), "--json", *now]) == 0  # the default: oldest first
    assert [e["key"] for e in json.loads(capsys.readouterr().out)] == ["O-SMALL", "O-LARGE", "O-DUP", "O-NONE"]
    assert main(["exceptions", "--store", _dsn(store), "--sort", "amount", *now]) == 0
    table = capsys.readouterr().out
    assert table.index("900.00 EUR") < table.index("500.00 EUR") < table.index("10.00 EUR")


def test_a_long_command_shows_a_spinner_on_a_terminal_and_nothing_in_a_pipe(tmp_path):
    """The scorecards (seconds at a million transactions) say they are computing on a terminal's stderr; a pipe
    gets the answer only."""
    import os
    import pty

    dsn = f"chdb://{tmp_path / 'store'}"
    command = [sys.executable, "-m", "biztrace.cli", "scorecards", "--store", dsn, "--json"]
    made = subprocess.run([sys.executable, "-m", "biztrace.cli", "db", "init", "--store", dsn], capture_output=True)
    assert made.returncode == 0, made.stderr
    piped = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0 and piped.stderr == "", piped.stderr
    assert json.loads(piped.stdout)["rows"] == []
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=follower, timeout=120)
        os.close(follower)
        follower = -1
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal's other end is closed: all read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        if follower != -1:
            os.close(follower)
        os.close(leader)
    assert done.returncode == 0
    assert b"computing the scorecards of the last 7d" in shown
    assert json.loads(done.stdout)["rows"] == []
