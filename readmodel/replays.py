"""Replays: a person asks the middleware to resubmit a transaction in trouble; biztrace records and follows it.

:func:`request_replay` finds the open exception, the configured target that serves it
(:mod:`biztrace.config.replay`) and checks the caller's roles; it renders the request with the
secrets of the environment, records the request, has ``send`` deliver it (the HTTP sender is
:func:`biztrace.alerts.replay.send`; :class:`RecordingSender` is the double) and records the
outcome. Both rows go to ``biztrace_replays``, which only grows: the audit trail of who asked
for what, when, through which target, and what came of it. A secret is never in a row: the URL
kept is the target's template, and the answer's excerpt is scrubbed of every resolved secret.

Idempotent: one request id, one replay (the same id again returns the first outcome and sends
nothing). Without an id, an open exception is replayed once, unless that replay was not accepted.

:func:`replays` and :func:`replay_status` follow each replay up (``sql/replays_list.sql``): did
the transaction move on within the awaited stage's SLA after the replay, or is it still stuck.

Errors::

    ReadModelError
    ├── NotFound            no open exception of that process, key and kind; no such request id
    └── ReplayError         a replay that cannot be asked (one line, no secret)
        ├── NoReplayTarget      no configured target serves the exception
        └── ReplayNotAllowed    none of the caller's roles may use the target
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from biztrace.config import AlertsConfig
from biztrace.config.replay import RenderedRequest, ReplayTarget, choose
from biztrace.readmodel import exceptions
from biztrace.readmodel.errors import NotFound, ReadModelError
from biztrace.readmodel.transactions import query_parameters, sql, transactions
from biztrace.store import Store, schema

logger = logging.getLogger(__name__)

Outcome = Literal["accepted", "refused", "timed_out", "failed"]
Followup = Literal["", "moved_on", "moved_on_late", "still_stuck", "waiting"]
REDACTED = "**********"
DETAIL_CHARS = 200
"""The longest answer excerpt kept per replay."""

_COLUMNS = ["At", "RequestId", "Event", "Process", "Key", "Kind", "Stage", "AwaitedStage", "System", "Target",
            "Method", "Url", "Actor", "Roles", "Outcome", "HttpStatus", "Detail", "ElapsedMs"]  # fmt: skip
_LOCK = threading.Lock()  # one check-then-record at a time in this process (ClickHouse has no transactions)


class ReplayError(ReadModelError):
    """A replay that cannot be asked for; the message is one line and carries no secret."""


class NoReplayTarget(ReplayError):
    """No configured replay target serves the exception."""


class ReplayNotAllowed(ReplayError):
    """None of the caller's roles may request a replay through the target."""


class SendResult(BaseModel):
    """What the middleware answered one replay request."""

    outcome: Outcome = Field(description="accepted (2xx), refused (any other status), timed_out, failed (no answer)")
    http_status: int | None = None
    detail: str = Field("", description="the first line of the answer, or why there was none")
    elapsed_ms: int = 0


class Sender(Protocol):
    """Delivers one rendered replay request, once; never raises for a failed delivery.

    Blocks for at most ``request.timeout_s``. Implementations are safe to call from several threads.
    """

    def __call__(self, request: RenderedRequest) -> SendResult: ...


class RecordingSender:
    """A sender double: keeps each request and answers ``result`` (thread-safe, never blocks)."""

    def __init__(self, result: SendResult | None = None) -> None:
        self.result = result or SendResult(outcome="accepted", http_status=202)
        self.requests: list[RenderedRequest] = []
        self._lock = threading.Lock()

    def __call__(self, request: RenderedRequest) -> SendResult:
        with self._lock:
            self.requests.append(request)
        return self.result


class Replay(BaseModel):
    """One replay request, its outcome, and where its transaction stands since."""

    request_id: str
    requested_at: datetime
    process: str
    key: str
    kind: str
    stage: str = Field(description="the exception's stage")
    awaited_stage: str = Field(description="the stage the transaction must reach after the replay")
    system: str = Field(description="the system at fault")
    target: str = Field(description="the configured replay target's name")
    method: str
    url: str = Field(description="the target's URL template (${ENV} variables unresolved)")
    actor: str
    roles: list[str]
    outcome: Literal["accepted", "refused", "timed_out", "failed", "pending"]
    http_status: int | None = None
    detail: str = ""
    elapsed_ms: int | None = None
    finished_at: datetime | None = None
    moved_on_at: datetime | None = Field(None, description="when the awaited stage (or a later one) was reached")
    moved_on_stage: str = ""
    sla_s: float = Field(0.0, description="the awaited stage's SLA, counted from the request (0: none)")
    due_at: datetime | None = None
    followup: Followup = Field("", description="moved_on, moved_on_late, still_stuck, waiting ('' unless accepted)")
    transaction_state: str = Field("", description="the transaction's state now (readmodel.transactions)")
    current_stage: str = ""
    earlier: bool = Field(False, description="true when this call returned an earlier request instead of sending")


def _sla_parameters(config: AlertsConfig) -> dict[str, list[Any]]:
    keys: list[tuple[str, str, str]] = []
    seconds: list[float] = []
    for name, process in config.processes.items():
        for stage in process.stages:
            if stage.sla is None:
                continue
            keys.append((name, stage.name, ""))
            seconds.append(stage.sla.within.total_seconds())
            for priority, within in stage.sla.by_priority.items():
                keys.append((name, stage.name, priority))
                seconds.append(within.total_seconds())
    return {"sla_keys": keys, "sla_s": seconds}


def replays(
    store: Store,
    config: AlertsConfig,
    now: datetime,
    *,
    process: str | None = None,
    key: str | None = None,
    kind: str | None = None,
    request_id: str | None = None,
    limit: int = 100,
) -> list[Replay]:
    """Replay requests, newest first, each with its outcome and its follow-up at ``now``.

    Reads only; safe from any thread that may use ``store``.
    """
    filters = {"process": process or "", "key": key or "", "kind": kind or "", "request_id": request_id or ""}
    keys = [row[0] for row in store.client.query(
        f"SELECT DISTINCT Key FROM {store.table(schema.REPLAYS)} WHERE ({{process:String}} = '' OR Process = "
        "{process:String}) AND ({key:String} = '' OR Key = {key:String}) AND ({kind:String} = '' OR Kind = "
        "{kind:String}) AND ({request_id:String} = '' OR RequestId = {request_id:String})",
        parameters=filters,
    ).result_rows]  # fmt: skip
    if not keys:
        return []
    parameters = query_parameters(store, config, now, keys=keys) | _sla_parameters(config) | filters | {"limit": limit}
    rows = list(store.client.query(sql("replays_list"), parameters=parameters).named_results())
    if not rows:
        return []
    states = {(t.process, t.key): t for t in transactions(store, config, now, keys=sorted({r["key"] for r in rows}))}
    found = []
    for row in rows:
        transaction = states.get((row["process"], row["key"]))
        fields = {name: value for name, value in row.items() if name in Replay.model_fields}
        if row["outcome"] == "pending":
            fields.update(http_status=None, elapsed_ms=None, detail="")
        found.append(Replay(**fields | {"http_status": fields["http_status"] or None},
                            transaction_state=transaction.state if transaction else "",
                            current_stage=transaction.current_stage if transaction else ""))  # fmt: skip
    return found


def replay_status(store: Store, config: AlertsConfig, now: datetime, request_id: str) -> Replay:
    """One replay request with its outcome and follow-up at ``now``.

    Raises:
        NotFound: no replay has that request id.
    """
    found = replays(store, config, now, request_id=request_id, limit=1)
    if not found:
        raise NotFound(f"no replay request {request_id!r}")
    return found[0]


def _allowed(target: ReplayTarget, actor: str, roles: list[str] | set[str] | tuple[str, ...]) -> None:
    if not set(roles) & set(target.roles):
        raise ReplayNotAllowed(
            f"{actor or 'this caller'} may not replay through {target.name!r}: it needs one of the roles "
            + ", ".join(target.roles)
        )


def _event_id(store: Store, spans: list[str]) -> str:
    if not spans:
        return ""
    rows = store.client.query(sql("replay_event"), parameters={"db": store.database, "spans": spans}).result_rows
    return str(rows[0][0]) if rows else ""


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def request_replay(
    store: Store,
    config: AlertsConfig,
    now: datetime,
    *,
    process: str,
    key: str,
    kind: str,
    actor: str,
    roles: list[str] | set[str] | tuple[str, ...],
    send: Sender,
    request_id: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Replay:
    """Ask the middleware to replay the transaction of one open exception; audited and idempotent.

    With ``request_id``: the first call with that id replays, later ones return its outcome
    (``earlier=True``) and send nothing. Without: an open exception is replayed once; another
    call returns that replay, unless it was not accepted (refused, timed out, failed), in which
    case a new one is sent. Blocks while ``send`` runs (at most the target's ``timeout_s``).

    Args:
        store: the store holding the spans and the audit trail.
        config: the configuration; its ``replay`` targets.
        now: the time of the request (the follow-up counts the SLA from it).
        process, key, kind: the exception.
        actor: who asks (recorded).
        roles: the caller's roles (one must be among the target's ``roles``).
        send: delivers the rendered request (:func:`biztrace.alerts.replay.send`).
        request_id: the caller's idempotency key (default: a new one).
        environ: where ``${VARIABLES}`` are read (default: the process environment).

    Returns:
        The replay with its outcome and follow-up.

    Raises:
        NotFound: no open exception matches.
        NoReplayTarget: no target serves it.
        ReplayNotAllowed: the caller's roles may not use the target.
        ReplayError: the request id was used for another exception; a variable is not set; the
            rendered URL or a header is not valid.
    """
    stamp = now.replace(tzinfo=None)
    targets = {target.name: target for target in config.replay}
    with _LOCK:
        if request_id:
            found = replays(store, config, now, request_id=request_id, limit=1)
            if found:
                first = found[0]
                if (first.process, first.key, first.kind) != (process, key, kind):
                    raise ReplayError(f"request id {request_id!r} was used for another exception "
                                      f"({first.process} {first.key} {first.kind})")  # fmt: skip
                if first.target in targets:
                    _allowed(targets[first.target], actor, roles)
                return first.model_copy(update={"earlier": True})
        open_items = [item for item in exceptions.list_exceptions(
            store, config, now, exceptions.Filters(key=key, kind=kind, process=process)
        ) if item.state != "resolved" and item.process == process and item.kind == kind]  # fmt: skip
        if not open_items:
            raise NotFound(f"no open {process} {kind} exception for {key!r}")
        item = open_items[0]
        target = choose(config.replay, process, item.system, kind)
        if target is None:
            raise NoReplayTarget(f"no replay target serves {kind} exceptions of {process} at {item.system or '?'}")
        _allowed(target, actor, roles)
        if not request_id:
            # the problem's start: a transaction that fails again after a replay is a new occurrence
            started = item.since.replace(tzinfo=None)
            parameters = {"db": store.database, "process": process, "key": key, "kind": kind}
            for last in store.client.query(sql("replay_last"), parameters=parameters).named_results():
                if last["requested_at"] >= started and last["outcome"] in ("accepted", "pending"):
                    return replay_status(store, config, now, last["request_id"]).model_copy(update={"earlier": True})
        request_id = request_id or uuid.uuid4().hex
        awaited = str(item.detail.get("next_stage") or item.stage) if kind == "stuck" else item.stage
        values = {"process": process, "key": key, "kind": kind, "stage": item.stage, "system": item.system,
                  "event_id": _event_id(store, item.evidence), "request_id": request_id}  # fmt: skip
        try:
            rendered = target.render(values, os.environ if environ is None else environ)
        except ValueError as exc:  # MissingVariable included: the message names the variable, not a value
            raise ReplayError(str(exc)) from None
        base = [request_id, "", process, key, kind, item.stage, awaited, item.system, target.name, target.method,
                target.url, actor, sorted(set(roles))]  # fmt: skip
        _insert(store, [[stamp, *_event(base, "requested"), "", 0, "", 0]])
    try:
        result = send(rendered)
    except Exception as exc:  # a sender's bug is recorded as a failure, never half-recorded
        logger.exception("replay sender failed unexpectedly")
        result = SendResult(outcome="failed", detail=f"the sender failed: {type(exc).__name__}")
    detail = _scrub(" ".join(result.detail.split()), rendered.secrets)[:DETAIL_CHARS]
    finished = stamp + timedelta(milliseconds=result.elapsed_ms)
    _insert(store, [[finished, *_event(base, "outcome"), result.outcome, result.http_status or 0, detail,
                     result.elapsed_ms]])  # fmt: skip
    return replay_status(store, config, now, request_id)


def _event(base: list[Any], event: str) -> list[Any]:
    return [base[0], event, *base[2:]]


def _insert(store: Store, rows: list[list[Any]]) -> None:
    store.client.insert(schema.REPLAYS, rows, column_names=_COLUMNS, database=store.database)


__all__ = [
    "NoReplayTarget", "RecordingSender", "Replay", "ReplayError", "ReplayNotAllowed", "SendResult", "Sender",
    "replay_status", "replays", "request_replay",
]  # fmt: skip
