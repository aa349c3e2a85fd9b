"""The API's routes: each one a read-model call behind a token and a role.

Status codes: 200 answered; 400 a parameter the read model refuses (a bad regex, a bad duration, a
postponement to a time not after now or of a resolved exception);
401 no or an unknown token; 403 the token's roles do not allow it; 404 nothing found; 422 a request
that does not fit the schema; 503 the store cannot be reached.
"""

import csv
import io
import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field

from biztrace.api import tokens
from biztrace.api.metrics import BusinessMetrics
from biztrace.api.tokens import Principal
from biztrace.config import AlertsConfig, parse_duration
from biztrace.config.replay import ExceptionKind
from biztrace.config.roles import may
from biztrace.readmodel import actions, alert_store, reconcile, replays, snapshots
from biztrace.readmodel.errors import NotFound, ReadModelError
from biztrace.readmodel.exceptions import MAX_COMMENT, ExceptionItem, Filters, in_order, list_exceptions, queue_page
from biztrace.readmodel.figures import Figures, headline
from biztrace.readmodel.lookup import KeyHistory, key_history, tree_transactions
from biztrace.readmodel.models import AlertInstance, naive_utc
from biztrace.readmodel.overview import alert_status
from biztrace.readmodel.scorecards import Dimension, Scorecards, scorecards
from biztrace.readmodel.transactions import Transaction
from biztrace.readmodel.variants import Variants, variants
from biztrace.store import RoutedStore, Store, StoreError, schema

logger = logging.getLogger(__name__)

PREFIX = "/api/v1"
MAX_PAGE = 1000
MAX_HOPS = 10_000


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class KeyTree(BaseModel):
    """Everything about one business key: its hops (the whole linked tree) and its transactions' states."""

    history: KeyHistory
    transactions: list[Transaction]


class ExceptionPage(BaseModel):
    """One page of the exception queue; ``total`` counts the whole filtered queue."""

    total: int
    offset: int
    limit: int
    items: list[ExceptionItem]


class ExceptionAction(BaseModel):
    """An action on the exceptions of one transaction (narrowed by kind and process)."""

    key: str = Field(min_length=1)
    action: Literal["acknowledge", "assign", "resolve", "reopen", "unpostpone"]
    kind: str | None = None
    process: str | None = None
    assignee: str = ""
    note: str = ""
    actor: str | None = Field(None, description="who acts, when an admin token acts for a person (the CLI)")


class ExceptionComment(BaseModel):
    """A comment on the exceptions of one transaction (narrowed by kind and process): plain text, kept in
    their audit trail with who and when."""

    key: str = Field(min_length=1)
    text: str = Field(min_length=1, max_length=MAX_COMMENT)
    kind: str | None = None
    process: str | None = None
    actor: str | None = Field(None, description="who comments, when an admin token acts for a person (the CLI)")


class ExceptionPostpone(BaseModel):
    """Take the unresolved exceptions of one transaction out of the open queue until a time to come;
    they come back by themselves then (``unpostpone`` in /exceptions/actions brings them back now)."""

    key: str = Field(min_length=1)
    until: str = Field(min_length=1, description="an ISO 8601 time (UTC unless it names a zone) or a duration "
                       "from now: 30m, 4h, 2d", examples=["4h", "2026-12-07T09:00:00Z"])  # fmt: skip
    kind: str | None = None
    process: str | None = None
    note: str = Field("", max_length=MAX_COMMENT, description="why")
    actor: str | None = Field(None, description="who postpones, when an admin token acts for a person (the CLI)")


class SilenceRequest(BaseModel):
    """A new silence: ``matchers`` as ``label=value``, ``label=~regex`` or ``label=!value``."""

    matchers: list[str] = Field(min_length=1)
    duration: str = Field("2h", description="30m, 2h, 1d, ...")
    comment: str = ""
    by: str | None = Field(None, description="who silences, when an admin token acts for a person (the CLI)")


class SilenceView(BaseModel):
    """A silence with its state at the moment asked (pending, active, expired)."""

    id: str
    matchers: dict[str, str]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    created_at: datetime
    state: str


class AlertView(AlertInstance):
    """An alert instance as the API lists it, with its value at risk (``at_risk``) as stored by the loop."""

    state_since: datetime
    status: str = Field(
        description="firing | pending | resolved | silenced | acknowledged | inhibited: how the loop "
        "treats it now (readmodel.overview.alert_status, the Alerts page's status)"
    )
    inhibited_by: str = Field("", description="the firing alert (its rule) that inhibits it")
    silenced_by: list[str] = Field(description="ids of the active silences that mute it")
    at_risk_text: str = Field("", description="the value at risk as notifications state it: €12,400.00 at risk (31 …)")


_STATUS_FIELDS = {"status", "inhibited_by"}


class ReplayRequest(BaseModel):
    """Replay one transaction's exception through the configured middleware endpoint."""

    process: str
    key: str = Field(min_length=1)
    kind: ExceptionKind
    request_id: str | None = Field(None, description="idempotency key: the same id is one replay")
    actor: str | None = Field(None, description="who asks, when an admin token acts for a person (the CLI's --by)")


class TokenRequest(BaseModel):
    name: str = Field(min_length=1)
    roles: list[str] = Field(min_length=1)


class CreatedToken(BaseModel):
    token: tokens.ApiToken
    secret: str = Field(description="the token itself; shown once")


class StoreStatus(BaseModel):
    """The store's schema: every migration this version knows and whether the store has it."""

    store: str
    migrations_applied: int
    migrations_known: int
    up_to_date: bool
    migrations: list[schema.MigrationStatus]


class _OwnClient:
    """ASGI middleware: every HTTP request, its streamed body included, runs on a client of its own
    (:meth:`RoutedStore.route`), so one caller's long export or figure does not hold up another's lookup."""

    def __init__(self, app, store: RoutedStore) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with self.store.route():
            await self.app(scope, receive, send)


def build_app(
    store: Store,
    config: AlertsConfig | Callable[[], AlertsConfig],
    clock: Callable[[], datetime] = utcnow,
    replay_sender: replays.Sender | None = None,
) -> FastAPI:
    """The API over one store. ``config``: the configuration, or a function returning the current one.
    ``replay_sender``: what sends a replay to the middleware (the process wiring gives the real one)."""
    current_config = config if callable(config) else (lambda: config)
    store = RoutedStore(store)  # each request's statements on a client of its own (_OwnClient)
    app = FastAPI(
        title="biztrace API",
        version="1",
        description=__doc__,
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
    )

    app.add_middleware(_OwnClient, store=store)

    def principal(request: Request) -> Principal:
        header = request.headers.get("Authorization", "")
        scheme, _, presented = header.partition(" ")
        found = tokens.authenticate(store, presented) if scheme.lower() == "bearer" else None
        if found is None:
            raise HTTPException(401, "missing, unknown or revoked API token", {"WWW-Authenticate": "Bearer"})
        return found

    def allowed(action: str) -> Callable[[Principal], Principal]:
        def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
            if not may(who.roles, action):
                raise HTTPException(403, f"token {who.name!r} (roles {', '.join(who.roles)}) may not {action}")
            return who

        return check

    Reader = Annotated[Principal, Depends(allowed("read"))]

    def as_of_pass(config: AlertsConfig, now: datetime) -> datetime:
        """The time of the alert loop's last pass (its loop in this process) when it can answer at ``now``: at most
        two evaluation intervals before, under the same configuration, little stored since; its readers then
        read what it judged and kept. Else ``now``."""
        with snapshots.last_pass_of(store, config, now) as held:
            return held.now if held is not None else now

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(ValueError)
    async def _bad_value(request: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse({"detail": str(exc).splitlines()[0] if str(exc) else "invalid value"}, status_code=400)

    @app.exception_handler(StoreError)
    async def _store(request: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.exception_handler(ReadModelError)
    async def _read_model(request: Request, exc: ReadModelError) -> JSONResponse:
        return JSONResponse({"detail": str(exc).splitlines()[0]}, status_code=500)

    business = BusinessMetrics(store, current_config, clock)

    @app.get("/metrics", tags=["metrics"], response_class=PlainTextResponse)
    def metrics(who: Reader) -> PlainTextResponse:
        """Business figures in Prometheus' text format: exceptions by process, kind and state; stuck
        transactions and the oldest breach; mismatch rate (recomputed at most every 30 s)."""
        return PlainTextResponse(business.exposition(), media_type=CONTENT_TYPE_LATEST)

    @app.get(f"{PREFIX}/figures", response_model=Figures, tags=["figures"])
    def headline_figures(who: Reader, window: str = "7d") -> Figures:
        """End-to-end SLA adherence (per process and overall) and mismatch rates over the transactions started
        in ``window`` (30m, 24h, 7d, ...) before now: the same definitions as the Overview and the rules."""
        now = clock()
        return headline(store, current_config(), now, now - parse_duration(window))

    @app.get(f"{PREFIX}/variants", response_model=Variants, tags=["figures"])
    def object_variants(
        who: Reader,
        object: Literal["order", "shipment", "return"] = "order",
        window: str = "24h",
        since: datetime | None = None,
        until: datetime | None = None,
        top: Annotated[int, Query(ge=1, le=1000)] = 10,
    ) -> Variants:
        """The variants of one object type (each distinct sequence of stages its objects went through, most
        frequent first; the rest as "other") over hops in ``[since, until)`` (default: ``window`` before now):
        the Process map's and ``biztrace variants``' definition."""
        end = naive_utc(until) if until else clock()
        start = naive_utc(since) if since else end - parse_duration(window)
        if start >= end:
            raise HTTPException(400, f"since {start:%Y-%m-%d %H:%M:%S} is not before until {end:%Y-%m-%d %H:%M:%S}")
        return variants(store, current_config(), object, start, end, top=top)

    @app.get(f"{PREFIX}/scorecards", response_model=Scorecards, tags=["figures"])
    def sla_scorecards(
        who: Reader,
        by: Dimension = "customer",
        period: str = "7d",
        process: str = "",
        limit: Annotated[int, Query(ge=1, le=100_000)] = 50,
    ) -> Scorecards:
        """SLA scorecards per customer, partner, channel or system over the transactions started in ``period``
        before now, against the period before it (``biztrace scorecards``' and the Scorecards page's figures):
        the ``limit`` with the most transactions. With the alert loop in this process, those of its last pass
        (``now`` says when: at most two evaluation intervals ago), read from what it classified and detected."""
        return scorecards(store, current_config(), clock(), period=parse_duration(period), by=by, process=process,
                          limit=limit, shared=True)  # fmt: skip

    @app.get(f"{PREFIX}/status", response_model=StoreStatus, tags=["store"])
    def status(who: Reader) -> StoreStatus:
        """The store's schema state."""
        report = schema.status(store, schema.SchemaOptions())
        applied = sum(1 for m in report if m.applied)
        return StoreStatus(store=store.address.display, migrations_applied=applied, migrations_known=len(report),
                           up_to_date=applied == len(report), migrations=report)  # fmt: skip

    @app.get(f"{PREFIX}/keys/{{key}}", response_model=KeyTree, tags=["transactions"])
    def key_tree(key: str, who: Reader, limit: Annotated[int, Query(ge=1, le=MAX_HOPS)] = MAX_HOPS) -> KeyTree:
        """Every hop of a business key (any key: order, shipment, invoice, return, customer, SKU) and the
        state of its transactions."""
        config = current_config()
        history = key_history(store, key, limit, config)  # mapped spans too, as the rules see them
        if not history.found:
            raise NotFound(f"nothing is stored for key {key!r}")
        return KeyTree(history=history, transactions=tree_transactions(store, config, clock(), history))

    def _filtered(process, kind, stage, system, state, min_age_s, key, channel=None, priority=None,
                  since=None) -> list[ExceptionItem]:  # fmt: skip
        filters = Filters(process=process, kind=kind, stage=stage, system=system, state=state,
                          min_age_s=min_age_s, key=key, channel=channel, priority=priority)  # fmt: skip
        start = since.replace(tzinfo=None) if since else None
        return list_exceptions(store, current_config(), clock(), filters, since=start, shared=True)

    @app.get(f"{PREFIX}/exceptions", response_model=ExceptionPage, tags=["exceptions"])
    def exception_page(
        who: Reader,
        process: str | None = None,
        kind: ExceptionKind | None = None,
        stage: str | None = None,
        system: str | None = None,
        state: Literal["open", "acknowledged", "postponed", "resolved"] | None = None,
        min_age_s: Annotated[int | None, Query(ge=0)] = None,
        key: str | None = None,
        channel: str | None = None,
        priority: str | None = None,
        started_since: datetime | None = None,
        sort: Literal["age", "since", "priority", "key", "amount"] = "age",
        descending: bool = True,
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    ) -> ExceptionPage:
        """The exception queue, filtered, sorted and paged: ``sort=amount`` puts the largest transaction value
        first (money at risk; those without a value last), as ``biztrace exceptions --sort amount`` does."""
        ordering = {
            ("age", True): "oldest first", ("since", False): "oldest first", ("age", False): "newest first",
            ("since", True): "newest first", ("priority", True): "priority, then age",
        }.get((sort, descending))  # fmt: skip
        # by amount: the whole list, sorted once every value is in (a duplicate in a healthy order gets its
        # transaction's value after ClickHouse sorted a page: readmodel.exceptions.in_order)
        if ordering and stage is None and min_age_s is None and key is None and offset % limit == 0:
            # sorted and paged in ClickHouse: only the page comes back (the dashboard's queue)
            found = queue_page(
                store, current_config(), clock(), since=started_since.replace(tzinfo=None) if started_since else None,
                process=process, system=system, channel=channel, priority=priority,
                states=(state,) if state else ("open", "acknowledged"), kinds=(kind,) if kind else (), sort=ordering,
                page=offset // limit, page_size=limit, shared=True,
            )  # fmt: skip
            return ExceptionPage(total=found.matching, offset=offset, limit=limit, items=found.items)
        items = _filtered(process, kind, stage, system, state, min_age_s, key, channel, priority, started_since)
        rank = {"high": 0, "normal": 1, "low": 2}
        order = {
            "age": lambda i: i.age_s,
            "since": lambda i: i.since,
            "key": lambda i: (i.process, i.key),
            "priority": lambda i: (rank.get(i.priority, 1), -i.age_s),
        }.get(sort)
        if order is None:  # by amount: the queue's own order (largest first, those without a value last)
            items = in_order(items, "largest amount first")[:: 1 if descending else -1]
        else:
            items.sort(key=order, reverse=descending and sort != "priority")
        return ExceptionPage(total=len(items), offset=offset, limit=limit, items=items[offset : offset + limit])

    @app.post(f"{PREFIX}/exceptions/actions", response_model=list[ExceptionItem], tags=["exceptions"])
    def exception_action(
        body: ExceptionAction, who: Annotated[Principal, Depends(allowed("exception"))]
    ) -> list[ExceptionItem]:
        """Acknowledge, assign, resolve, reopen or unpostpone a transaction's exceptions (audited with the token's
        name)."""
        return actions.act_on_exception(
            store, current_config(), clock(), key=body.key, action=body.action, actor=_actor(who, body.actor),
            kind=body.kind,
            process=body.process, assignee=body.assignee, note=body.note,
        )  # fmt: skip

    @app.post(f"{PREFIX}/exceptions/comments", response_model=list[ExceptionItem], tags=["exceptions"])
    def exception_comment(
        body: ExceptionComment, who: Annotated[Principal, Depends(allowed("exception"))]
    ) -> list[ExceptionItem]:
        """Comment on a transaction's exceptions (resolved ones too); the answer carries their comments.
        404: no exception of that key; 400: a comment of blanks only."""
        return actions.comment_on_exception(store, current_config(), clock(), key=body.key, text=body.text,
                                            actor=_actor(who, body.actor), kind=body.kind,
                                            process=body.process)  # fmt: skip

    @app.post(f"{PREFIX}/exceptions/postpone", response_model=list[ExceptionItem], tags=["exceptions"])
    def exception_postpone(
        body: ExceptionPostpone, who: Annotated[Principal, Depends(allowed("exception"))]
    ) -> list[ExceptionItem]:
        """Postpone a transaction's unresolved exceptions until a time to come (state ``postponed``, out of the
        open queue and its counts until then). 404: no exception of that key; 400: a time not after now, or
        only resolved exceptions."""
        return actions.postpone_exception(store, current_config(), clock(), key=body.key, until=body.until,
                                          actor=_actor(who, body.actor), kind=body.kind, process=body.process,
                                          note=body.note)  # fmt: skip

    @app.get(f"{PREFIX}/exports/{{what}}", tags=["exports"])
    def export(
        what: Literal["exceptions", "findings", "parity"],
        who: Reader,
        format: Literal["csv", "json"] = "csv",
        process: str | None = None,
        kind: str | None = None,
        state: Literal["open", "acknowledged", "postponed", "resolved"] | None = None,
        since: datetime | None = None,
    ) -> StreamingResponse:
        """Every row of the exception queue, the reconciliation findings or the parity table, streamed as CSV
        (a header, then a row each) or JSON lines. ``since`` (reconciliation only): default 7 days ago."""
        if what == "exceptions":  # formatted and streamed by ClickHouse: the list's query, every row
            from collections.abc import AsyncIterator

            import anyio
            from starlette.concurrency import iterate_in_threadpool

            from biztrace.readmodel.exports import export_exceptions

            chunks = export_exceptions(store, current_config(), clock(), process=process, kind=kind, state=state,
                                       fmt=format, shared=True)  # fmt: skip
            first = next(chunks, b"")  # the queue is built here: a failure is still an error answer

            async def body() -> AsyncIterator[bytes]:
                try:
                    yield first
                    async for chunk in iterate_in_threadpool(chunks):
                        yield chunk
                finally:  # also when the client went away: the queue's tables are dropped now
                    with anyio.CancelScope(shield=True):
                        await anyio.to_thread.run_sync(chunks.close)

            if format == "csv":
                disposition = {"Content-Disposition": "attachment; filename=exceptions.csv"}
                return StreamingResponse(body(), media_type="text/csv", headers=disposition)
            return StreamingResponse(body(), media_type="application/x-ndjson")
        config = current_config()
        now = as_of_pass(config, clock())
        start = since.replace(tzinfo=None) if since else now - timedelta(days=7)
        found = reconcile.report(store, config, now, since=start, process=process)
        rows: list[BaseModel] = found["mismatches" if what == "findings" else "parity"]
        model = reconcile.Mismatch if what == "findings" else reconcile.ParityRow
        return _stream(rows, list(model.model_fields), format, what)

    @app.exception_handler(replays.ReplayNotAllowed)
    async def _replay_refused(request: Request, exc: replays.ReplayNotAllowed) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=403)

    @app.exception_handler(replays.NoReplayTarget)
    async def _no_target(request: Request, exc: replays.NoReplayTarget) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(replays.ReplayError)
    async def _replay_error(request: Request, exc: replays.ReplayError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.post(f"{PREFIX}/replays", response_model=replays.Replay, tags=["replay"])
    def replay_request(body: ReplayRequest, who: Reader) -> replays.Replay:
        """Ask the middleware to resubmit a transaction (the configured replay target; idempotent per
        ``request_id``; audited). The token's roles must be among the target's roles."""
        if replay_sender is None:
            raise HTTPException(503, "this process sends no replays")
        return replays.request_replay(
            store, current_config(), clock(), process=body.process, key=body.key, kind=body.kind,
            actor=_actor(who, body.actor),
            roles=who.roles, send=replay_sender, request_id=body.request_id,
        )  # fmt: skip

    @app.get(f"{PREFIX}/replays", response_model=list[replays.Replay], tags=["replay"])
    def replay_list(
        who: Reader, process: str | None = None, key: str | None = None, kind: str | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    ) -> list[replays.Replay]:  # fmt: skip
        """Replays with their outcome and whether the transaction moved on within its SLA since."""
        return replays.replays(store, current_config(), clock(), process=process, key=key, kind=kind, limit=limit)

    @app.get(f"{PREFIX}/replays/{{request_id}}", response_model=replays.Replay, tags=["replay"])
    def replay_one(request_id: str, who: Reader) -> replays.Replay:
        """One replay and its follow-up."""
        return replays.replay_status(store, current_config(), clock(), request_id)

    @app.get(f"{PREFIX}/alerts", response_model=list[AlertView], tags=["alerts"])
    def alerts(who: Reader) -> list[AlertView]:
        """Every alert the loop knows with its state (pending, firing, resolved), its status (also silenced,
        acknowledged or inhibited, as the Alerts page shows it) and the silences that mute it."""
        now, silences, config = clock(), alert_store.silences(store), current_config()
        known = alert_store.current_alerts(store).values()
        firing = [stored.alert for stored in known if stored.alert.state == "firing"]
        return [
            AlertView(
                **stored.alert.model_dump(),
                state_since=stored.since,
                **alert_status(config, stored.alert, firing, silences, now).model_dump(include=_STATUS_FIELDS),
                silenced_by=[s.id for s in silences if s.mutes(stored.alert.labels, now)],
                at_risk_text=stored.alert.at_risk.text() if stored.alert.at_risk is not None else "",
            )  # fmt: skip
            for stored in known
        ]

    @app.get(f"{PREFIX}/silences", response_model=list[SilenceView], tags=["alerts"])
    def silence_list(who: Reader) -> list[SilenceView]:
        """Every silence with its state (pending, active, expired)."""
        now = clock()
        return [SilenceView(**s.model_dump(), state=s.state(now)) for s in alert_store.silences(store)]

    @app.post(f"{PREFIX}/silences", response_model=SilenceView, status_code=201, tags=["alerts"])
    def silence_add(body: SilenceRequest, who: Annotated[Principal, Depends(allowed("silence"))]) -> SilenceView:
        """Mute matching alerts for a while (refused with 400 when a matcher's regex does not compile)."""
        now = clock()
        created = actions.create_silence(store, actions.parse_matchers(body.matchers), parse_duration(body.duration),
                                         _actor(who, body.by), body.comment, now)  # fmt: skip
        return SilenceView(**created.model_dump(), state=created.state(now))

    @app.delete(f"{PREFIX}/silences/{{silence_id}}", response_model=SilenceView, tags=["alerts"])
    def silence_expire(silence_id: str, who: Annotated[Principal, Depends(allowed("silence"))]) -> SilenceView:
        """End a silence now."""
        now = clock()
        ended = actions.expire_silence(store, silence_id, now)
        return SilenceView(**ended.model_dump(), state=ended.state(now))

    @app.get(f"{PREFIX}/reconciliation", tags=["reconciliation"])
    def reconciliation(
        who: Reader,
        period: Literal["hour", "day", "week", "month"] = "day",
        process: str | None = None,
        rule: str | None = None,
        channel: str | None = None,
        system: str | None = None,
        since: datetime | None = None,
    ) -> dict:
        """Parity per rule and period, what each system saw, and the mismatched transactions (default: 7 days).
        With the alert loop in this process, as of its last pass (``now`` says when: at most two evaluation
        intervals ago), read from the reconciliation pairs it judged and kept."""
        config = current_config()
        now = as_of_pass(config, clock())
        start = since.replace(tzinfo=None) if since else now - timedelta(days=7)
        if system:
            keep = [r for r in config.reconciliation if system in (r.left.system, r.right.system)]
            config = config.model_copy(update={"reconciliation": keep})
        found = reconcile.report(store, config, now, since=start, period=period, rule=rule, process=process,
                                 channel=channel, system=system)  # fmt: skip
        return _jsonable(found) | {"now": now.isoformat()}

    @app.get(f"{PREFIX}/tokens", response_model=list[tokens.ApiToken], tags=["tokens"])
    def token_list(who: Annotated[Principal, Depends(allowed("token"))]) -> list[tokens.ApiToken]:
        """Every API token (never its secret)."""
        return tokens.list_tokens(store)

    @app.post(f"{PREFIX}/tokens", response_model=CreatedToken, status_code=201, tags=["tokens"])
    def token_create(body: TokenRequest, who: Annotated[Principal, Depends(allowed("token"))]) -> CreatedToken:
        """A new token with roles; its secret is in this answer only."""
        token, secret = tokens.create(store, body.name, body.roles, who.name, clock())
        return CreatedToken(token=token, secret=secret)

    @app.delete(f"{PREFIX}/tokens/{{token_id}}", tags=["tokens"])
    def token_revoke(token_id: str, who: Annotated[Principal, Depends(allowed("token"))]) -> dict:
        """Revoke a token."""
        if not tokens.revoke(store, token_id, who.name, clock()):
            raise NotFound(f"no token {token_id!r}")
        return {"revoked": token_id}

    return app


def _actor(who: Principal, named: str | None) -> str:
    """Whom an action is recorded for: the token's name, or the person an admin token names."""
    if named and named != who.name:
        if "admin" not in who.roles:
            raise HTTPException(403, f"token {who.name!r} may not act for {named!r} (admin tokens only)")
        return f"{named} (via {who.name})"
    return who.name


def _stream(rows: list[BaseModel], fields: list[str], format: str, name: str) -> StreamingResponse:
    """Rows as streamed CSV (lists joined by spaces) or JSON lines, a thousand rows a chunk."""

    def csv_chunks() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fields, extrasaction="ignore")
        writer.writeheader()
        for number, row in enumerate(rows, start=1):
            values = row.model_dump(mode="json")
            writer.writerow({k: " ".join(map(str, v)) if isinstance(v, list) else v for k, v in values.items()})
            if number % 1000 == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    def json_lines() -> Iterator[str]:
        for row in rows:
            yield row.model_dump_json() + "\n"

    if format == "csv":
        disposition = {"Content-Disposition": f"attachment; filename={name}.csv"}
        return StreamingResponse(csv_chunks(), media_type="text/csv", headers=disposition)
    return StreamingResponse(json_lines(), media_type="application/x-ndjson")


def _jsonable(value: object) -> object:
    return json.loads(json.dumps(value, default=lambda v: v.model_dump(mode="json") if isinstance(v, BaseModel)
                                 else str(v)))  # fmt: skip
