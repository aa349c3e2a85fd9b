"""``biztrace exceptions replay``: against a real local middleware (http.server) that accepts and refuses,
on spans sent through a real collector; sent by the CLI itself when nobody holds the store, and by the
running biztrace (its API) when one does. Every outcome is one line and a documented exit code."""

from __future__ import annotations

import getpass
import json
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from biztrace.cli.main import main
from biztrace.readmodel.replays import replays
from support import T0, CollectorProcess, Producers
from tests.replay.conftest import Middleware

NOW = T0 + timedelta(hours=2)


def replay_yaml(url: str) -> str:
    """erp's failures go to /accept (202), wms's to /refuse (409), billing's only to on-call; none for crm."""
    targets = [("erp_resubmit", "erp", "accept", ["admin"]), ("wms_resubmit", "wms", "refuse", ["admin"]),
               ("billing_resubmit", "billing", "accept", ["on-call"])]  # fmt: skip
    return "replay:\n" + "".join(
        f"  - {{name: {name}, process: order_to_cash, system: {system}, kind: failed, url: '{url}/{path}/{{key}}', "
        f"body: {{order: '{{key}}', request: '{{request_id}}'}}, timeout_s: 5, roles: {roles}}}\n"
        for name, system, path, roles in targets
    )


@pytest.fixture(scope="module")
def middleware():
    server = Middleware()
    yield server
    server.close()


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_cli_sends_it_itself_when_nobody_holds_the_store(start_collector, middleware, tmp_path: Path, capsys):
    producers = Producers(start_collector())
    try:
        for order, system in (("O-1", "erp"), ("O-2", "wms"), ("O-3", "billing"), ("O-4", "crm")):
            producers.span("crm", "capture", 0, **{"order.id": order, "biz.stage": "order.captured"})
            producers.span(system, "accept", 1, error=True, **{"order.id": order, "biz.stage": "order.accepted",
                                                               "error.type": "mapping_failed"})  # fmt: skip
        store = producers.flush()
    finally:
        producers.shutdown()
    config = tmp_path / "replay.yaml"
    config.write_text(replay_yaml(middleware.url))
    base = ["exceptions", "--store", store.address.dsn, "--config", str(config), "--now", NOW.isoformat()]
    named = ["--process", "order_to_cash", "--kind", "failed"]
    middleware.received.clear()

    code, out, err = _cli(capsys, *base, "--json", "replay", "O-1", "--by", "alice", "--request-id", "r-1")
    assert code == 0, err
    first = json.loads(out)
    assert (first["outcome"], first["http_status"], first["target"], first["actor"]) == (
        "accepted", 202, "erp_resubmit", "alice")  # fmt: skip
    assert first["kind"] == "failed" and first["detail"] == "accepted: resubmission 42"
    assert [(r.path, r.body) for r in middleware.received] == [("/accept/O-1", {"order": "O-1", "request": "r-1"})]

    code, out, _ = _cli(capsys, *base, "replay", "O-1", *named, "--by", "alice", "--request-id", "r-1")
    assert code == 0 and "requested earlier: not sent again" in out and len(middleware.received) == 1

    code, out, err = _cli(capsys, *base, "replay", "O-2", "--by", "bob")
    assert code == 5 and "replay refused (HTTP 409)" in out, (out, err)
    assert err.strip() == "biztrace: the middleware did not accept the replay of O-2: refused (HTTP 409)"
    assert [(r.outcome, r.actor) for r in replays(store, _config(config), NOW, key="O-2")] == [("refused", "bob")]

    code, _, err = _cli(capsys, *base, "replay", "O-3", *named, "--by", "carol")
    assert code == 4 and "needs one of the roles on-call" in err and len(err.strip().splitlines()) == 1
    code, _, err = _cli(capsys, *base, "replay", "O-4", *named, "--by", "carol")
    assert code == 2 and "no replay target serves failed exceptions of order_to_cash at crm" in err
    code, _, err = _cli(capsys, *base, "replay", "O-NOPE", "--by", "carol")
    assert code == 1 and "no open exception for 'O-NOPE'" in err and "Traceback" not in err
    code, _, err = _cli(capsys, *base, "replay", "O-1", "--process", "order_to_cash", "--kind", "stuck")
    assert code == 1 and "no open order_to_cash stuck exception for 'O-1'" in err
    assert len(middleware.received) == 2, "only O-1 and O-2 reached the middleware"


def _config(path: Path):
    from biztrace import config as biz_config

    return biz_config.load(path)


def _send_failed_orders(collector: CollectorProcess, orders: dict[str, str]) -> None:
    """One failed order.accepted hop per order (status ERROR), at the given system, a minute ago."""
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add()
    for number, (order, system) in enumerate(orders.items(), start=1):
        span = spans.spans.add()
        span.trace_id, span.span_id, span.name = bytes([number] * 16), bytes([number] * 8), f"{system}.accept"
        span.start_time_unix_nano = span.end_time_unix_nano = time.time_ns() - 60 * 10**9
        span.status.code = 2  # ERROR
        for key, value in (("order.id", order), ("biz.stage", "order.accepted"), ("biz.system", system),
                           ("error.type", "mapping_failed")):  # fmt: skip
            attr = span.attributes.add()
            attr.key, attr.value.string_value = key, value
    headers = {"Content-Type": "application/x-protobuf"}
    sent = urllib.request.Request(f"{collector.http_url}/v1/traces", data=request.SerializeToString(), headers=headers)
    urllib.request.urlopen(sent, timeout=30).close()


def test_beside_a_running_biztrace_its_api_sends_it(middleware, tmp_path: Path, capsys):
    config = tmp_path / "replay.yaml"
    config.write_text(replay_yaml(middleware.url))
    held = CollectorProcess(tmp_path / "data", "--config", str(config)).start()
    try:
        _send_failed_orders(held, {"O-R1": "erp", "O-R2": "wms", "O-R3": "crm"})
        store = ["exceptions", "--store", f"chdb://{held.data_dir}"]
        middleware.received.clear()
        deadline = time.monotonic() + 30
        named = ["--process", "order_to_cash", "--kind", "failed", "--json"]
        while (answer := _cli(capsys, *store, "replay", "O-R1", *named))[0] == 1:
            assert time.monotonic() < deadline, "the spans never became an exception"
            time.sleep(0.5)  # the collector writes in batches
        code, out, err = answer
        assert code == 0 and [r.path for r in middleware.received] == ["/accept/O-R1"], err
        actor = json.loads(out)["actor"]  # the person (--by, else the login), through the holder's token
        assert actor.startswith(f"{getpass.getuser()} (via ") and actor.endswith("@cli)"), actor
        code, out, err = _cli(capsys, *store, "--json", "replay", "O-R2")  # its kind found through the API
        assert code == 5 and json.loads(out)["outcome"] == "refused" and "refused (HTTP 409)" in err
        code, _, err = _cli(capsys, *store, "replay", "O-R3", *named)
        assert code == 2 and "no replay target serves" in err, err
        assert len(middleware.received) == 2
    finally:
        assert held.terminate() == 0
