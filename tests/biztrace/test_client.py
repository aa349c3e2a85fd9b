"""The CLI beside a running biztrace that holds the embedded store: every command goes through its API."""

from __future__ import annotations

import json
import os
import stat
import time
import urllib.request

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from biztrace.cli.main import main
from biztrace.cli.remote import API_FILE, CREDENTIAL_FILE
from support import CollectorProcess


@pytest.fixture(scope="module")
def held(tmp_path_factory):
    collector = CollectorProcess(tmp_path_factory.mktemp("held") / "data").start()
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = bytes([5] * 16), bytes([6] * 8), "erp.accept"
    span.start_time_unix_nano = span.end_time_unix_nano = time.time_ns()
    for key, value in (("order.id", "O-HELD"), ("biz.stage", "order.accepted")):
        attr = span.attributes.add()
        attr.key, attr.value.string_value = key, value
    stuck = request.resource_spans[0].scope_spans[0].spans.add()  # captured 3 h ago, never accepted (SLA 1 h)
    stuck.trace_id, stuck.span_id, stuck.name = bytes([7] * 16), bytes([8] * 8), "crm.capture"
    stuck.start_time_unix_nano = stuck.end_time_unix_nano = time.time_ns() - 3 * 3600 * 10**9
    for key, value in (("order.id", "O-STUCK"), ("biz.stage", "order.captured")):
        attr = stuck.attributes.add()
        attr.key, attr.value.string_value = key, value
    headers = {"Content-Type": "application/x-protobuf"}
    sent = urllib.request.Request(f"{collector.http_url}/v1/traces", data=request.SerializeToString(), headers=headers)
    urllib.request.urlopen(sent, timeout=30).close()
    try:
        yield collector
    finally:
        assert collector.terminate() == 0
    assert not (collector.data_dir / CREDENTIAL_FILE).exists(), "the credential is withdrawn at a clean stop"


def _store(held) -> str:
    return f"chdb://{held.data_dir}"


def test_the_credential_is_readable_by_its_owner_only(held):
    mode = stat.S_IMODE(os.stat(held.data_dir / CREDENTIAL_FILE).st_mode)
    assert mode == 0o600


def test_status_order_and_tokens_go_through_the_holders_api(held, capsys):
    assert main(["db", "status", "--store", _store(held), "--json"]) == 0
    assert all(row["applied"] for row in json.loads(capsys.readouterr().out))
    assert main(["order", "O-HELD", "--store", _store(held), "--json"]) == 0
    assert [hop["span_name"] for hop in json.loads(capsys.readouterr().out)["hops"]] == ["erp.accept"]
    assert main(["order", "O-NOWHERE", "--store", _store(held)]) == 1
    capsys.readouterr()

    assert main(["token", "create", "grafana", "--role", "operations", "--store", _store(held), "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    url = (held.data_dir / API_FILE).read_text().strip()
    headers = {"Authorization": f"Bearer {created['secret']}"}
    assert httpx.get(f"{url}/api/v1/keys/O-HELD", headers=headers).status_code == 200
    refused = httpx.post(f"{url}/api/v1/silences", headers=headers, json={"matchers": ["a=b"]})
    assert refused.status_code == 403
    assert main(["token", "revoke", created["token"]["id"], "--store", _store(held)]) == 0
    assert httpx.get(f"{url}/api/v1/keys/O-HELD", headers=headers).status_code == 401
    assert main(["token", "revoke", "000000000000", "--store", _store(held)]) == 1


def test_a_command_beside_the_holder_prints_its_answer_not_its_requests(held):
    import subprocess
    import sys

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "biztrace.cli", *args, "--store", _store(held)],
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    found = run("order", "O-HELD", "--json")
    assert found.returncode == 0 and json.loads(found.stdout)["hops"] and found.stderr == "", found.stderr
    missing = run("order", "O-NOWHERE")
    assert missing.returncode == 1
    assert missing.stderr.splitlines() == ["biztrace: no hop carries the key 'O-NOWHERE' in this store"], missing.stderr


def test_variants_go_through_the_holders_api(held, capsys):
    assert main(["variants", "--object", "order", "--window", "24h", "--store", _store(held), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    paths = {tuple(v["stages"]): v["objects"] for v in found["variants"]}
    assert found["objects"] == 2 and paths == {("order.accepted",): 1, ("order.captured",): 1}, found
    assert main(["variants", "--object", "return", "--store", _store(held)]) == 1  # none: said, exit 1
    assert "no return reached a stage" in capsys.readouterr().err


def test_a_read_never_creates_a_store(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["order", "O-1"]) == 3
    message = capsys.readouterr().err
    assert "there is no store" in message and "Traceback" not in message
    assert not (tmp_path / "data").exists()
    assert main(["order", ""]) == 2


def test_a_server_that_cannot_be_reached_is_one_line_with_its_reason():
    import socket
    import subprocess
    import sys

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = subprocess.run([sys.executable, "-m", "biztrace.cli", "reconcile", "--store", f"http://127.0.0.1:{port}"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 3
    assert done.stderr.splitlines() == [f"biztrace: cannot reach ClickHouse at http://127.0.0.1:{port}/default: "
                                        "Connection refused"], done.stderr  # fmt: skip


def test_exceptions_silences_and_reconciliation_act_through_the_holder(held, capsys):
    store = _store(held)
    assert main(["exceptions", "--store", store, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(e["key"], e["kind"], e["state"]) for e in listed] == [("O-STUCK", "stuck", "open")]
    assert main(["exceptions", "--store", store, "--json", "ack", "O-STUCK", "--by", "alice"]) == 0
    [acked] = json.loads(capsys.readouterr().out)
    assert acked["state"] == "acknowledged" and acked["acknowledged_by"].startswith("alice (via ")
    assert main(["exceptions", "--store", store, "resolve", "O-NOPE", "--by", "alice"]) == 1

    assert main(["alerts", "silence", "add", "--store", store, "--matcher", "alertname=~(", "--by", "bob"]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert main(["alerts", "silence", "add", "--store", store, "--matcher", "alertname=OrdersStuck", "--by", "bob",
                 "--duration", "1h", "--json"]) == 0  # fmt: skip
    silence = json.loads(capsys.readouterr().out)
    assert silence["created_by"].startswith("bob (via ")
    assert main(["alerts", "silence", "list", "--store", store, "--json"]) == 0
    assert [s["state"] for s in json.loads(capsys.readouterr().out)] == ["active"]
    assert main(["alerts", "silence", "expire", silence["id"], "--store", store]) == 0
    assert main(["alerts", "silence", "expire", "nope", "--store", store]) == 1
    capsys.readouterr()

    assert main(["reconcile", "--store", store, "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == {"parity", "systems", "mismatches"}
