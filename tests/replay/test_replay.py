"""Replay handoff against a real local HTTP middleware, on spans sent through a real collector."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from biztrace import config as biz_config
from biztrace.alerts.replay import send
from biztrace.readmodel.errors import NotFound
from biztrace.readmodel.replays import (
    NoReplayTarget,
    ReplayError,
    ReplayNotAllowed,
    replay_status,
    replays,
    request_replay,
)
from biztrace.store import schema

from .conftest import T0

SECRET = "s3cret-token-value"
ENV = {"MW_TOKEN": SECRET}
NOW = T0 + timedelta(hours=2)
ON_CALL = ["on-call"]


def configured(url: str, *, kind: str = "failed", timeout_s: float = 2.0, extra: str = ""):
    return biz_config.loads(f"""
replay:
  - name: erp_resubmit
    process: order_to_cash
    system: erp
    kind: {kind}
    url: {url}/{{key}}
    headers: {{Authorization: "Bearer ${{MW_TOKEN}}", X-Replay-Request: "{{request_id}}"}}
    body: {{order: "{{key}}", stage: "{{stage}}", event: "{{event_id}}", kind: "{{kind}}", request: "{{request_id}}"}}
    timeout_s: {timeout_s}
{extra}""")


def failed_order(producers, order: str = "O-1") -> None:
    """Captured at T0, refused by the ERP a minute later: a failed exception at order.accepted, system erp."""
    producers.span("crm", "capture", 0, **{"order.id": order, "biz.stage": "order.captured", "biz.amount": 120.0,
                                            "biz.currency": "EUR"})  # fmt: skip
    producers.span(
        "erp",
        "accept",
        1,
        error=True,
        **{
            "order.id": order,
            "biz.stage": "order.accepted",
            "biz.event_id": f"evt-{order}",
            "error.type": "mapping_failed",
        },
    )


def audit_rows(store) -> list[dict]:
    result = store.client.query(f"SELECT * FROM {store.table(schema.REPLAYS)} ORDER BY At, Event DESC")
    return list(result.named_results())


def test_accepted_once_per_request_id_and_audited(producers, middleware):
    failed_order(producers)
    store = producers.flush()
    config = configured(f"{middleware.url}/accept")
    first = request_replay(store, config, NOW, process="order_to_cash", key="O-1", kind="failed", actor="alice",
                           roles=ON_CALL, request_id="req-1", send=send, environ=ENV)  # fmt: skip
    again = request_replay(
        store,
        config,
        NOW + timedelta(minutes=1),
        process="order_to_cash",
        key="O-1",
        kind="failed",
        actor="alice",
        roles=ON_CALL,
        request_id="req-1",
        send=send,
        environ=ENV,
    )
    assert len(middleware.received) == 1, "one request id, one replay"
    assert first.outcome == "accepted" and first.http_status == 202 and first.detail == "accepted: resubmission 42"
    assert not first.earlier and again.earlier and again.request_id == "req-1" and again.outcome == "accepted"
    [sent] = middleware.received
    assert sent.method == "POST" and sent.path == "/accept/O-1"
    assert sent.headers["Authorization"] == f"Bearer {SECRET}" and sent.headers["X-Replay-Request"] == "req-1"
    assert sent.body == {"order": "O-1", "stage": "order.accepted", "event": "evt-O-1", "kind": "failed",
                         "request": "req-1"}  # fmt: skip
    rows = audit_rows(store)
    assert [(r["Event"], r["Outcome"], r["HttpStatus"]) for r in rows] == [
        ("requested", "", 0),
        ("outcome", "accepted", 202),
    ]
    assert {r["Actor"] for r in rows} == {"alice"} and {r["Target"] for r in rows} == {"erp_resubmit"}
    assert rows[0]["At"] == NOW.replace(tzinfo=None) and rows[0]["Roles"] == ["on-call"]
    assert first.target == "erp_resubmit" and first.actor == "alice" and first.system == "erp"


def test_secrets_only_in_the_sent_header_never_in_rows(producers, middleware):
    failed_order(producers)
    store = producers.flush()
    config = configured(f"{middleware.url}/echo")
    replay = request_replay(store, config, NOW, process="order_to_cash", key="O-1", kind="failed", actor="bob",
                            roles=["admin"], send=send, environ=ENV)  # fmt: skip
    assert middleware.received[0].headers["Authorization"] == f"Bearer {SECRET}"
    assert replay.outcome == "refused" and replay.http_status == 500
    assert replay.detail == "bad token Bearer **********", "the answer's excerpt is scrubbed"
    stored = json.dumps(audit_rows(store), default=str)
    assert SECRET not in stored and "${MW_TOKEN}" not in stored  # the URL template has no variable here
    assert SECRET not in replay.model_dump_json()


def test_refused_then_replayed_again_without_an_id(producers, middleware):
    failed_order(producers)
    store = producers.flush()
    config = configured(f"{middleware.url}/refuse")
    refused = request_replay(store, config, NOW, process="order_to_cash", key="O-1", kind="failed", actor="alice",
                             roles=ON_CALL, send=send, environ=ENV)  # fmt: skip
    assert refused.outcome == "refused" and refused.http_status == 409
    assert refused.detail == "conflict: message MSG-7 was already reprocessed", "the first line of the body"
    assert refused.followup == ""
    later = NOW + timedelta(minutes=5)
    retried = request_replay(store, config, later, process="order_to_cash", key="O-1", kind="failed", actor="alice",
                             roles=ON_CALL, send=send, environ=ENV)  # fmt: skip
    assert len(middleware.received) == 2, "the last replay failed: a new one is sent"
    assert retried.request_id != refused.request_id and not retried.earlier
    assert [r.request_id for r in replays(store, config, later, key="O-1")] == [retried.request_id, refused.request_id]


def test_without_an_id_an_open_exception_is_replayed_once(producers, middleware):
    failed_order(producers)
    store = producers.flush()
    config = configured(f"{middleware.url}/accept")
    first = request_replay(store, config, NOW, process="order_to_cash", key="O-1", kind="failed", actor="alice",
                           roles=ON_CALL, send=send, environ=ENV)  # fmt: skip
    second = request_replay(store, config, NOW + timedelta(minutes=2), process="order_to_cash", key="O-1",
                            kind="failed", actor="carol", roles=ON_CALL, send=send, environ=ENV)  # fmt: skip
    assert len(middleware.received) == 1
    assert second.earlier and second.request_id == first.request_id and second.actor == "alice"
    minute = (NOW - T0).total_seconds() / 60  # the replayed message fails again: a new occurrence
    producers.span("erp", "accept", minute + 5, error=True, **{"order.id": "O-1", "biz.stage": "order.accepted"})
    producers.flush()
    third = request_replay(store, config, NOW + timedelta(minutes=6), process="order_to_cash", key="O-1",
                           kind="failed", actor="carol", roles=ON_CALL, send=send, environ=ENV)  # fmt: skip
    assert len(middleware.received) == 2 and not third.earlier and third.actor == "carol"


def test_timeout_is_the_whole_request(producers, middleware):
    failed_order(producers)
    store = producers.flush()
    config = configured(f"{middleware.url}/slow", timeout_s=0.3)
    replay = request_replay(store, config, NOW, process="order_to_cash", key="O-1", kind="failed", actor="alice",
                            roles=ON_CALL, send=send, environ=ENV)  # fmt: skip
    assert replay.outcome == "timed_out" and replay.http_status is None
    assert replay.elapsed_ms is not None and 250 <= replay.elapsed_ms < 1500
    assert replay.finished_at == NOW.replace(tzinfo=None) + timedelta(milliseconds=replay.elapsed_ms)


def test_refusals_before_sending(producers, middleware, monkeypatch):
    failed_order(producers)
    store = producers.flush()
    config = configured(f"{middleware.url}/accept")
    ask = dict(process="order_to_cash", key="O-1", kind="failed", actor="sam", send=send, environ=ENV)
    with pytest.raises(ReplayNotAllowed, match="needs one of the roles on-call, admin"):
        request_replay(store, config, NOW, roles=["support", "operations"], **ask)
    with pytest.raises(NoReplayTarget, match="no replay target serves failed exceptions of order_to_cash at erp"):
        request_replay(store, configured(f"{middleware.url}/accept", kind="stuck"), NOW, roles=ON_CALL, **ask)
    with pytest.raises(NotFound, match="no open order_to_cash failed exception for 'O-9'"):
        request_replay(store, config, NOW, roles=ON_CALL, **ask | {"key": "O-9"})
    with pytest.raises(ReplayError, match=r"^replay target 'erp_resubmit': environment variable MW_TOKEN is not set$"):
        request_replay(store, config, NOW, roles=ON_CALL, **ask | {"environ": {}})
    monkeypatch.delenv("MW_TOKEN", raising=False)
    with pytest.raises(ReplayError, match="MW_TOKEN is not set"):
        request_replay(store, config, NOW, roles=ON_CALL, **ask | {"environ": None})
    assert middleware.received == [] and audit_rows(store) == []
    monkeypatch.setenv("MW_TOKEN", "from-the-process-environment")
    request_replay(store, config, NOW, roles=["admin"], **ask | {"environ": None})
    assert middleware.received[0].headers["Authorization"] == "Bearer from-the-process-environment"


def test_a_request_id_belongs_to_one_exception(producers, middleware):
    failed_order(producers, "O-1")
    failed_order(producers, "O-2")
    store = producers.flush()
    config = configured(f"{middleware.url}/accept")
    ask = dict(process="order_to_cash", kind="failed", actor="alice", roles=ON_CALL, send=send, environ=ENV)
    request_replay(store, config, NOW, key="O-1", request_id="shared", **ask)
    with pytest.raises(ReplayError, match="request id 'shared' was used for another exception"):
        request_replay(store, config, NOW, key="O-2", request_id="shared", **ask)
    assert len(middleware.received) == 1


def test_followup_moved_on_within_sla_late_or_still_stuck(producers, middleware):
    for order in ("O-1", "O-2", "O-3"):
        failed_order(producers, order)
    store = producers.flush()
    config = configured(f"{middleware.url}/accept")
    ask = dict(process="order_to_cash", kind="failed", actor="alice", roles=ON_CALL, send=send, environ=ENV)
    ids = {order: request_replay(store, config, NOW, key=order, **ask).request_id for order in ("O-1", "O-2", "O-3")}
    waiting = replay_status(store, config, NOW + timedelta(minutes=10), ids["O-1"])
    assert waiting.followup == "waiting" and waiting.awaited_stage == "order.accepted" and waiting.sla_s == 3600
    assert waiting.transaction_state == "failed" and waiting.moved_on_at is None
    # the ERP accepts O-1 10 minutes after the replay, O-2 90 minutes after (its SLA is 1h); O-3 never
    minute = (NOW - T0).total_seconds() / 60
    producers.span("erp", "accept", minute + 10, **{"order.id": "O-1", "biz.stage": "order.accepted"})
    producers.span("erp", "accept", minute + 90, **{"order.id": "O-2", "biz.stage": "order.accepted"})
    producers.span("erp", "audit", minute + 5, **{"order.id": "O-3"})  # a hop, but not the awaited stage
    producers.flush()
    later = NOW + timedelta(hours=3)
    status = {r.key: r for r in replays(store, config, later)}
    assert status["O-1"].followup == "moved_on" and status["O-1"].moved_on_stage == "order.accepted"
    assert status["O-1"].moved_on_at == NOW.replace(tzinfo=None) + timedelta(minutes=10)
    assert status["O-1"].transaction_state in ("in_flight", "stuck") and status["O-1"].current_stage == "order.accepted"
    assert status["O-2"].followup == "moved_on_late"
    assert status["O-3"].followup == "still_stuck" and status["O-3"].transaction_state == "failed"
    assert status["O-3"].due_at == NOW.replace(tzinfo=None) + timedelta(hours=1)


def test_a_stuck_transaction_awaits_its_next_stage(producers, middleware):
    producers.span("crm", "capture", 0, **{"order.id": "S-1", "biz.stage": "order.captured"})
    store = producers.flush()
    config = configured(f"{middleware.url}/accept", kind="stuck")
    replay = request_replay(store, config, NOW, process="order_to_cash", key="S-1", kind="stuck", actor="alice",
                            roles=ON_CALL, send=send, environ=ENV)  # fmt: skip
    assert replay.stage == "order.captured" and replay.awaited_stage == "order.accepted" and replay.system == "erp"
    assert middleware.received[0].body["event"] == ""
    minute = (NOW - T0).total_seconds() / 60
    producers.span("erp", "accept", minute + 20, **{"order.id": "S-1", "biz.stage": "order.accepted"})
    producers.flush()
    assert replay_status(store, config, NOW + timedelta(hours=1), replay.request_id).followup == "moved_on"
    with pytest.raises(NotFound):
        replay_status(store, config, NOW, "no-such-id")


def test_an_unreachable_middleware_fails_and_a_put_without_body_is_sent_as_configured(producers, middleware):
    from support import free_port

    failed_order(producers)
    store = producers.flush()
    ask = dict(process="order_to_cash", key="O-1", kind="failed", actor="alice", roles=ON_CALL, send=send, environ=ENV)
    down = configured(f"http://127.0.0.1:{free_port()}/accept")
    failed = request_replay(store, down, NOW, **ask)
    assert failed.outcome == "failed" and failed.http_status is None and failed.detail.startswith("cannot reach")
    put = biz_config.loads(f"""
replay:
  - name: erp_put
    process: order_to_cash
    method: PUT
    url: "{middleware.url}/accept/{{event_id}}"
    headers: {{X-Token: "${{MW_TOKEN}}"}}
""")
    retried = request_replay(store, put, NOW + timedelta(minutes=1), **ask)
    assert retried.outcome == "accepted" and retried.target == "erp_put" and retried.method == "PUT"
    [sent] = middleware.received
    assert (sent.method, sent.path, sent.body, sent.headers["X-Token"]) == ("PUT", "/accept/evt-O-1", None, SECRET)
    assert [r.outcome for r in replays(store, put, NOW + timedelta(minutes=1), key="O-1")] == ["accepted", "failed"]
