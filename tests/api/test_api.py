"""The HTTP API against a started server over real HTTP, on a store the simulator filled."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from openapi_spec_validator import validate

from biztrace.api import tokens
from biztrace.api.app import build_app
from biztrace.api.server import ApiServer
from biztrace.config import load
from biztrace.readmodel.exceptions import list_exceptions
from biztrace.readmodel.lookup import kept_tree_transactions, key_history
from biztrace.readmodel.snapshots import Snapshots
from biztrace.readmodel.transactions import transactions
from biztrace.simulator.run import GroundTruth
from biztrace.simulator.scenario import FaultRates, Scenario
from biztrace.store import connect, schema
from support import simulate_into, statements_running, store_dsn

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CONFIG = load(None)


@pytest.fixture(scope="module")
def api(store_root: Path, tmp_path_factory: pytest.TempPathFactory):
    database = f"t_{uuid.uuid4().hex[:12]}"
    scenario = Scenario(seed=5, days=2, orders_per_day=150, now=NOW,
                        faults=FaultRates(stuck=0.05, failed=0.03, dead_letter=0.02, duplicate=0.03))  # fmt: skip
    truth_file = tmp_path_factory.mktemp("truth") / "truth.json"
    simulate_into(store_dsn(store_root, database), scenario, truth_file)
    store = connect(store_dsn(store_root, database))
    schema.apply(store, schema.SchemaOptions())
    clock = lambda: NOW.replace(tzinfo=None)  # noqa: E731
    server = ApiServer(build_app(store, CONFIG, clock), port=0).start()
    made = {role: tokens.create(store, f"{role}-bot", [role], "test", NOW)[1]
            for role in ("operations", "support", "on-call", "admin")}  # fmt: skip
    try:
        yield server, store, made, GroundTruth.load(truth_file)
    finally:
        server.stop()
        store.client.command(f"DROP DATABASE IF EXISTS {database}")
        store.close()


def _get(api, path: str, role: str | None = "support", **params):
    server, _, made, _ = api
    headers = {"Authorization": f"Bearer {made[role]}"} if role else {}
    return httpx.get(server.url + path, headers=headers, params=params, timeout=30)


def _send(api, method: str, path: str, role: str, body=None):
    server, _, made, _ = api
    return httpx.request(method, server.url + path, headers={"Authorization": f"Bearer {made[role]}"}, json=body,
                         timeout=30)  # fmt: skip


def test_an_idle_connection_outlives_a_clients_own_keep_alive(api):
    """httpx keeps an idle connection 5 s: a server that closed its end at 5 s too raced it, and a request
    sent on the connection as it closed was reset (seen in the persona tests)."""
    import http.client
    import time
    from urllib.parse import urlsplit

    server = api[0]
    address = urlsplit(server.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    try:
        for wait_s in (0, 6.5):  # past the client's 5 s, on the same connection
            time.sleep(wait_s)
            connection.request("GET", "/api/v1/openapi.json")
            answer = connection.getresponse()
            answer.read()
            assert answer.status == 200 and not answer.will_close
        assert connection.sock is not None, "the same connection, never reopened"
    finally:
        connection.close()


def test_the_openapi_document_is_valid_and_lists_every_route(api):
    server = api[0]
    document = httpx.get(server.url + "/api/v1/openapi.json", timeout=10).json()
    validate(document)
    paths = set(document["paths"])
    assert {"/api/v1/keys/{key}", "/api/v1/exceptions", "/api/v1/exceptions/actions", "/api/v1/silences",
            "/api/v1/alerts", "/api/v1/reconciliation", "/api/v1/status", "/api/v1/exports/{what}",
            "/api/v1/tokens"} <= paths  # fmt: skip


def test_no_token_wrong_token_and_revoked_token_are_401(api):
    server, store, _, _ = api
    assert _get(api, "/api/v1/status", role=None).status_code == 401
    wrong = httpx.get(server.url + "/api/v1/status", headers={"Authorization": "Bearer bzt_000000000000_" + "x" * 40})
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"] == "Bearer"
    token, secret = tokens.create(store, "short-lived", ["support"], "test", NOW)
    ok = httpx.get(server.url + "/api/v1/status", headers={"Authorization": f"Bearer {secret}"})
    assert ok.status_code == 200 and ok.json()["up_to_date"]
    assert tokens.revoke(store, token.id, "test", NOW)
    assert httpx.get(server.url + "/api/v1/status", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def test_roles_are_enforced(api):
    body = {"matchers": ["alertname=OrdersStuck"], "duration": "1h", "comment": "maintenance"}
    refused = _send(api, "POST", "/api/v1/silences", "support", body)
    assert refused.status_code == 403 and "may not silence" in refused.json()["detail"]
    created = _send(api, "POST", "/api/v1/silences", "on-call", body)
    assert created.status_code == 201 and created.json()["created_by"] == "on-call-bot"
    assert created.json()["state"] == "active"
    listed = {s["id"]: s for s in _get(api, "/api/v1/silences").json()}
    assert listed[created.json()["id"]]["matchers"] == {"alertname": "OrdersStuck"}
    expired = _send(api, "DELETE", f"/api/v1/silences/{created.json()['id']}", "on-call")
    assert expired.status_code == 200 and expired.json()["state"] == "expired"
    assert _send(api, "DELETE", "/api/v1/silences/nope", "on-call").status_code == 404
    assert _send(api, "POST", "/api/v1/tokens", "on-call", {"name": "x", "roles": ["admin"]}).status_code == 403


def test_a_silence_whose_regex_does_not_compile_is_refused_where_it_is_typed(api):
    answer = _send(api, "POST", "/api/v1/silences", "on-call", {"matchers": ["alertname=~("], "duration": "1h"})
    assert answer.status_code in (400, 422), answer.text
    assert not [s for s in _get(api, "/api/v1/silences").json() if s["matchers"].get("alertname") == "~("]


def test_a_key_answers_its_tree_and_an_unknown_key_is_404(api):
    truth = api[3]
    order = truth.faults[0].key if truth.faults else None
    assert order
    answer = _get(api, f"/api/v1/keys/{order}")
    assert answer.status_code == 200
    tree = answer.json()
    assert tree["history"]["found"] and tree["history"]["hops"]
    assert order in {t["key"] for t in tree["transactions"]}
    assert _get(api, "/api/v1/keys/NO-SUCH-KEY").status_code == 404
    assert _get(api, "/api/v1/keys/x", limit=100_001).status_code == 422


def test_a_keys_tree_beside_the_loop_is_read_from_its_snapshot_and_answers_the_same(api):
    """Beside an alert loop (its snapshot published, as `biztrace up`'s is) a key's transactions are a point
    read of the snapshot: the same answer as computing them, for orders with and without faults."""
    _, store, _, truth = api
    faulted = sorted({fault.key for fault in truth.faults})
    others = store.client.query(  # orders without a fault, with a shipment id and an invoice id
        f"SELECT any(OrderId), any(ShipmentId), any(InvoiceId) FROM {store.table('biz_hops')} "
        "WHERE ShipmentId != '' AND InvoiceId != '' GROUP BY OrderId ORDER BY OrderId LIMIT 3"
    ).result_rows
    keys = faulted[:6] + [key for row in others for key in row if key not in faulted]
    before = {key: _get(api, f"/api/v1/keys/{key}").json() for key in keys}
    time.sleep(1.1)  # biz_hops.Ingested counts seconds: the pass starts after every hop was stored
    snapshots = Snapshots(settle=timedelta(0), publish=True)
    try:
        snapshots.take(store, CONFIG, NOW)
        for key in keys:
            history = key_history(store, key, config=CONFIG)
            assert kept_tree_transactions(store, CONFIG, NOW.replace(tzinfo=None), history) is not None, key
            assert _get(api, f"/api/v1/keys/{key}").json() == before[key], key
    finally:
        snapshots.close(store)
    assert all(before[key]["transactions"] for key in keys)


def target_stage(page: dict) -> str:
    """The stage of the page's first exception (a filter the API sorts in Python rather than in ClickHouse)."""
    return page["items"][0]["stage"]


def test_exception_page_action_and_export_agree_with_the_read_model(api):
    _, store, _, _ = api
    expected = list_exceptions(store, CONFIG, NOW.replace(tzinfo=None))
    page = _get(api, "/api/v1/exceptions", limit=10).json()
    assert page["total"] == len(expected) > 10 and len(page["items"]) == 10
    ages = [item["age_s"] for item in page["items"]]
    assert ages == sorted(ages, reverse=True)
    stuck = _get(api, "/api/v1/exceptions", kind="stuck", limit=1000).json()
    assert stuck["total"] == sum(1 for e in expected if e.kind == "stuck")
    # money at risk first, as the dashboard's queue and `biztrace exceptions --sort amount` order it
    by_value = _get(api, "/api/v1/exceptions", sort="amount", limit=10).json()["items"]
    assert [i["amount"] for i in by_value] == sorted((e.amount for e in expected if e.amount), reverse=True)[:10]
    stuck_by_value = _get(api, "/api/v1/exceptions", sort="amount", kind="stuck", stage=target_stage(stuck),
                          limit=1000).json()["items"]  # fmt: skip
    amounts = [i["amount"] for i in stuck_by_value]
    assert amounts == sorted(amounts, key=lambda a: (a is not None, a or 0.0), reverse=True) and amounts

    exported = _get(api, "/api/v1/exports/exceptions", format="csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == len(expected)
    assert {(r["process"], r["key"], r["kind"]) for r in rows} == {(e.process, e.key, e.kind) for e in expected}

    target = stuck["items"][0]
    done = _send(api, "POST", "/api/v1/exceptions/actions", "support",
                 {"key": target["key"], "kind": "stuck", "action": "acknowledge"})  # fmt: skip
    assert done.status_code == 200 and done.json()[0]["state"] == "acknowledged"
    assert done.json()[0]["acknowledged_by"] == "support-bot"
    missing = _send(api, "POST", "/api/v1/exceptions/actions", "support", {"key": "NOPE", "action": "resolve"})
    assert missing.status_code == 404


def test_alerts_show_their_state_and_the_silence_that_mutes_them(api):
    from biztrace.alerts.loop import run_pass

    _, store, _, _ = api
    run_pass(store, CONFIG, NOW.replace(tzinfo=None), channels={}, deliver=lambda *a, **k: None)
    listed = _get(api, "/api/v1/alerts", role="on-call").json()
    firing = [a for a in listed if a["state"] in ("firing", "pending")]
    assert firing, listed
    name = firing[0]["labels"]["alertname"]
    silence = _send(api, "POST", "/api/v1/silences", "on-call", {"matchers": [f"alertname={name}"], "duration": "1h"})
    again = {a["labels"]["alertname"]: a for a in _get(api, "/api/v1/alerts", role="on-call").json()}
    assert again[name]["silenced_by"] == [silence.json()["id"]]
    assert again[name]["status"] == ("silenced" if firing[0]["state"] == "firing" else "pending")
    _send(api, "DELETE", f"/api/v1/silences/{silence.json()['id']}", "on-call")
    # an acknowledgement is a silence the Alerts page calls "acknowledged": the API says the same
    ack = _send(api, "POST", "/api/v1/silences", "on-call",
                {"matchers": [f"alertname={name}"], "duration": "1h", "comment": "acknowledged: looking"})  # fmt: skip
    status = {a["labels"]["alertname"]: a["status"] for a in _get(api, "/api/v1/alerts", role="on-call").json()}
    assert status[name] == ("acknowledged" if firing[0]["state"] == "firing" else "pending")
    assert {s for n, s in status.items() if n != name} <= {"firing", "pending", "resolved", "inhibited"}
    _send(api, "DELETE", f"/api/v1/silences/{ack.json()['id']}", "on-call")


def test_exports_of_findings_and_parity_hold_every_row_of_the_report(api):
    from biztrace.readmodel import reconcile

    _, store, _, _ = api
    now = NOW.replace(tzinfo=None)
    found = reconcile.report(store, CONFIG, now, since=now - timedelta(days=7))
    findings = _get(api, "/api/v1/exports/findings", format="json")
    lines = [json.loads(line) for line in findings.text.splitlines()]
    assert len(lines) == len(found["mismatches"]) and all(line["key"] for line in lines)
    parity = list(csv.DictReader(io.StringIO(_get(api, "/api/v1/exports/parity").text)))
    assert len(parity) == len(found["parity"]) > 0
    assert sum(int(row["pairs"]) for row in parity) == sum(row.pairs for row in found["parity"])
    assert _get(api, "/api/v1/exports/everything").status_code == 422


def test_metrics_expose_the_read_models_figures(api):
    from prometheus_client.parser import text_string_to_metric_families

    _, store, _, _ = api
    assert _get(api, "/metrics", role=None).status_code == 401
    text = _get(api, "/metrics", role="operations").text
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}  # fmt: skip
    expected = list_exceptions(store, CONFIG, NOW.replace(tzinfo=None))
    stuck_open = sum(1 for e in expected if e.kind == "stuck" and e.state == "open" and e.process == "order_to_cash")
    key = ("biztrace_exceptions", (("kind", "stuck"), ("process", "order_to_cash"), ("state", "open")))
    assert samples.get(key, 0) == stuck_open
    # the stuck transactions and the oldest breach: the queue's stuck exceptions are the transactions stuck now
    stuck = [t for t in transactions(store, CONFIG, NOW.replace(tzinfo=None), states=["stuck"])
             if t.process == "order_to_cash"]  # fmt: skip
    assert stuck and samples[("biztrace_stuck_transactions", (("process", "order_to_cash"),))] == len(stuck)
    oldest = max(NOW.replace(tzinfo=None) - t.due_at for t in stuck).total_seconds()
    breach = samples[("biztrace_oldest_stuck_seconds", (("process", "order_to_cash"),))]
    assert breach == pytest.approx(oldest, abs=0.002)


REPLAY_YAML = """
replay:
  - name: mw_resubmit
    kind: stuck
    method: POST
    url: http://127.0.0.1:9/resubmit/{key}
    body: {order: "{key}", request: "{request_id}"}
    roles: [on-call]
"""


def test_replay_is_requested_by_an_allowed_role_once_per_request_id(api):
    from biztrace.config import loads
    from biztrace.readmodel.replays import RecordingSender

    _, store, made, _ = api
    sender = RecordingSender()
    config = loads(REPLAY_YAML)
    server = ApiServer(build_app(store, config, lambda: NOW.replace(tzinfo=None), replay_sender=sender), port=0)
    server.start()
    try:
        stuck = list_exceptions(store, config, NOW.replace(tzinfo=None))
        target = next(e for e in stuck if e.kind == "stuck" and e.state != "resolved")
        body = {"process": target.process, "key": target.key, "kind": "stuck", "request_id": "r-1"}

        def post(role: str):
            return httpx.post(f"{server.url}/api/v1/replays", json=body,
                              headers={"Authorization": f"Bearer {made[role]}"}, timeout=30)  # fmt: skip

        assert post("support").status_code == 403 and not sender.requests
        first, again = post("on-call"), post("on-call")
        assert first.status_code == again.status_code == 200, first.text
        assert first.json()["outcome"] == "accepted" and again.json()["earlier"] is True
        assert len(sender.requests) == 1
        listed = httpx.get(f"{server.url}/api/v1/replays", params={"key": target.key},
                           headers={"Authorization": f"Bearer {made['support']}"}).json()  # fmt: skip
        assert [r["request_id"] for r in listed] == ["r-1"] and listed[0]["actor"] == "on-call-bot"
    finally:
        server.stop()


def test_comment_and_postpone_through_the_api_are_audited_and_refused_with_a_status(api):
    _, store, _, _ = api
    target = next(e for e in list_exceptions(store, CONFIG, NOW.replace(tzinfo=None)) if e.kind == "failed")
    which = {"key": target.key, "kind": "failed"}
    said = _send(api, "POST", "/api/v1/exceptions/comments", "support", {**which, "text": "asked ERP to re-send"})
    assert said.status_code == 200, said.text
    assert [(c["by"], c["text"]) for c in said.json()[0]["comments"]] == [("support-bot", "asked ERP to re-send")]
    too_long = _send(api, "POST", "/api/v1/exceptions/comments", "support", {**which, "text": "x" * 2001})
    assert too_long.status_code == 422

    postponed = _send(api, "POST", "/api/v1/exceptions/postpone", "support", {**which, "until": "4h"})
    assert postponed.status_code == 200, postponed.text
    [item] = postponed.json()
    assert item["state"] == "postponed" and item["postponed_until"].startswith("2026-11-20T16:00:00")
    open_keys = {(e["key"], e["kind"]) for e in _get(api, "/api/v1/exceptions", limit=1000).json()["items"]}
    assert (target.key, "failed") not in open_keys, "a postponed exception leaves the open queue"
    shown = _get(api, "/api/v1/exceptions", state="postponed", limit=1000).json()["items"]
    assert [(e["key"], e["postponed_by"]) for e in shown] == [(target.key, "support-bot")]

    past = _send(api, "POST", "/api/v1/exceptions/postpone", "support", {**which, "until": "2026-11-20T11:00:00Z"})
    assert past.status_code == 400 and "not after now" in past.json()["detail"]
    unknown = _send(api, "POST", "/api/v1/exceptions/postpone", "support", {"key": "NOPE", "until": "1h"})
    assert unknown.status_code == 404
    later = ApiServer(build_app(store, CONFIG, lambda: NOW.replace(tzinfo=None) + timedelta(minutes=1)), port=0)
    try:  # a minute later: after the postponement in the audit trail
        back = httpx.post(f"{later.start().url}/api/v1/exceptions/actions", json={**which, "action": "unpostpone"},
                          headers={"Authorization": f"Bearer {api[2]['support']}"}, timeout=30)  # fmt: skip
    finally:
        later.stop()
    assert back.status_code == 200 and back.json()[0]["state"] in ("open", "acknowledged")
    audit = store.client.query(
        f"SELECT 'comment', Actor FROM {store.table('biztrace_exception_events')} WHERE Key = {{k:String}} "
        f"AND Action = 'comment' UNION ALL SELECT 'postponement', Actor FROM "
        f"{store.table('biztrace_exception_postponements')} WHERE Key = {{k:String}}", parameters={"k": target.key},
    ).result_rows  # fmt: skip
    assert sorted(audit) == [("comment", "support-bot"), ("postponement", "support-bot"),
                             ("postponement", "support-bot")]  # fmt: skip


def test_the_cli_asks_the_holders_api_to_comment_and_postpone_with_its_exit_codes(api):
    from biztrace.cli.alerts import ExceptionsComment, ExceptionsPostpone, _remote_action
    from biztrace.cli.remote import Remote
    from biztrace.cli.util import CommandFailed

    server, store, made, _ = api
    remote = Remote(server.url, made["admin"])

    def send(action, verb: str):
        path, body = _remote_action(action, verb)
        return remote.call("POST", path, body=body)

    target = next(e for e in list_exceptions(store, CONFIG, NOW.replace(tzinfo=None)) if e.kind == "dead_letter")
    said = send(ExceptionsComment(key=target.key, by="dora", text="on it"), "comment")
    assert said[0]["comments"][-1]["by"] == "dora (via admin-bot)"
    put_off = ExceptionsPostpone(key=target.key, by="dora", until="1d")
    assert send(put_off, "postpone")[0]["state"] == "postponed"
    for until, code in (("2026-11-19T12:00", 2), ("soon", 2)):
        with pytest.raises(CommandFailed) as refused:
            send(put_off.model_copy(update={"until": until}), "postpone")
        assert refused.value.code == code and "\n" not in str(refused.value)
    with pytest.raises(CommandFailed) as missing:
        send(ExceptionsComment(key="NOPE", by="dora", text="x"), "comment")
    assert missing.value.code == 1


def test_a_request_is_not_held_up_by_a_long_statement_on_the_stores_client(api):
    """Each request runs on a client of its own (the store's is busy here, as with another caller's export)."""
    _, store, _, _ = api
    busy = threading.Thread(target=lambda: store.client.query("SELECT sleep(2) AS biztrace_api_test_long"))
    busy.start()
    try:
        time.sleep(0.3)  # the long statement under way
        assert _get(api, "/api/v1/status").status_code == 200
        # answered while the long statement still ran: it did not wait for it
        assert statements_running(store, "biztrace_api_test_long") == 1
    finally:
        busy.join(30)


def test_reconciliation_beside_the_loop_is_its_last_passs_read_from_the_pairs_it_kept(api, monkeypatch):
    """With the alert loop in the API's process, ``/reconciliation`` answers as of its last pass (``now`` says
    when: the pass a minute before the request), from the reconciliation pairs it judged and kept: nothing is
    judged for the request, and the answer is the report judged at that time. Without a pass: judged at the
    request's time."""
    from biztrace.alerts.loop import run_pass
    from biztrace.readmodel import last_pass, reconcile
    from biztrace.readmodel.snapshots import Snapshots

    _, store, _, _ = api
    asked = NOW.replace(tzinfo=None)
    alone = _get(api, "/api/v1/reconciliation", role="operations").json()
    assert alone["now"] == asked.isoformat()
    judged: list[str] = []
    judge = reconcile._judge

    def counted(*args, **kwargs):
        judged.append("judged")
        return judge(*args, **kwargs)

    monkeypatch.setattr(reconcile, "_judge", counted)
    at = asked - timedelta(minutes=1)
    kept = Snapshots(publish=True)
    try:
        run_pass(store, CONFIG, at, channels={}, deliver=lambda *a, **k: None, snapshots=kept)
        judged.clear()
        answer = _get(api, "/api/v1/reconciliation", role="operations").json()
        assert answer["now"] == at.isoformat() and not judged
        expected = reconcile.report(store, CONFIG, at, since=at - timedelta(days=7), from_pass=False)
        assert answer["parity"] == json.loads(json.dumps([row.model_dump(mode="json") for row in expected["parity"]]))
        assert len(answer["mismatches"]) == len(expected["mismatches"]) > 0
    finally:
        kept.close(store)
        last_pass.forget(store)
