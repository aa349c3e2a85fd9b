"""``biztrace exceptions ...`` and ``biztrace alerts ...``: thin commands over the alerts package."""

from __future__ import annotations

import signal
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field
from pydantic_settings import CliApp, CliPositionalArg, CliSubCommand, get_subcommand

from biztrace import config as alerts_config
from biztrace.alerts.errors import AlertsError
from biztrace.cli.remote import remote_for
from biztrace.cli.util import (
    EXIT_NOT_FOUND,
    EXIT_REFUSED,
    EXIT_USAGE,
    CommandFailed,
    open_store,
    print_json,
    working,
)
from biztrace.config.errors import ConfigError
from biztrace.config.replay import ExceptionKind
from biztrace.config.silences import Silence
from biztrace.readmodel.errors import NotFound, ReadModelError
from biztrace.readmodel.models import naive_utc
from biztrace.store.options import StoreOptions

EXIT_NOT_ACCEPTED = 5
"""``biztrace exceptions replay``: the replay was sent and recorded, but the middleware did not accept it."""


class _AlertsOptions(StoreOptions):
    config: Path | None = Field(None, description="YAML with processes, rules, routes (merged over the defaults)")
    now: datetime | None = Field(None, description="evaluate as of this time (ISO 8601; default: the clock)")
    json_output: bool = Field(False, validation_alias=AliasChoices("json"), description="print one JSON document")

    def load_config(self) -> alerts_config.AlertsConfig:
        try:
            return alerts_config.load(self.config)
        except (AlertsError, ConfigError, ReadModelError) as exc:
            raise CommandFailed(str(exc), 2) from exc

    def moment(self) -> datetime:
        return naive_utc(self.now or datetime.now(UTC))


class _Act(BaseModel):
    key: CliPositionalArg[str] = Field(description="the transaction's key, e.g. O-1182")
    by: str = Field(description="who acts (recorded in the audit trail)")
    kind: str | None = Field(None, description="only this kind (stuck, failed, duplicate, dead_letter, mismatch)")
    process: str | None = Field(None, description="only this process")


class ExceptionsAck(_Act):
    """Acknowledge the open exceptions of a transaction."""


class ExceptionsAssign(_Act):
    """Assign the exceptions of a transaction to somebody."""

    to: str = Field(description="the assignee")


class ExceptionsResolve(_Act):
    """Resolve the exceptions of a transaction (reopened if the problem returns)."""

    note: str = Field("", description="what was done")


class ExceptionsComment(_Act):
    """Comment on the exceptions of a transaction (plain text, at most 2000 characters; resolved ones too).

    Example: biztrace exceptions comment O-1182 --by alice --text "3PL says the ASN went out at 14:10"
    """

    text: str = Field(description="the comment, kept with who and when in the audit trail")


class ExceptionsPostpone(_Act):
    """Postpone the unresolved exceptions of a transaction: out of the open queue until --until, then back
    by themselves. A resolved exception cannot be postponed; a time not after now is refused (exit 2).

    Examples:
      biztrace exceptions postpone O-1182 --by alice --until 4h --note "carrier pickup tomorrow"
      biztrace exceptions postpone O-1182 --by alice --until 2026-12-07T09:00
    """

    until: str = Field(description="an ISO 8601 time (UTC unless it names a zone) or a duration from now: 30m, 4h, 2d")
    note: str = Field("", description="why")


class ExceptionsUnpostpone(_Act):
    """Bring the postponed exceptions of a transaction back to the queue now."""


class ExceptionsReplay(BaseModel):
    """Ask the middleware to resubmit the transaction of one open exception, through the replay target
    the configuration names for its process, system and kind (``replay:``); audited, and idempotent:
    one --request-id is one replay, and without one an exception already replayed and accepted is not
    sent again (its earlier replay is shown).

    Beside a running biztrace that holds the store, the request goes through its API and that process
    sends it (its configuration, its token's roles). Otherwise this command sends it itself, as the
    store's owner (role admin), with the secrets of this environment.

    Exit codes: 0 accepted by the middleware; 1 no open exception of that key (and kind); 2 refused as
    invalid (no target serves it, several open exceptions and no --kind, a request id used for another
    exception, a variable of the template not set); 3 the store or the process holding it cannot be
    reached, or that process sends no replays; 4 your role may not use the target; 5 sent and recorded,
    but the middleware did not accept it (refused, timed out, unreachable).

    Example: biztrace exceptions replay O-1182 --kind failed --by alice --json
    """

    key: CliPositionalArg[str] = Field(description="the transaction's key, e.g. O-1182")
    kind: ExceptionKind | None = Field(None, description="the exception's kind (needed when the key has several)")
    process: str | None = Field(None, description="the exception's process (needed when the key has several)")
    by: str | None = Field(None, description="who asks (recorded; default: your login name)")
    request_id: str | None = Field(None, description="idempotency key: the same id again sends nothing")
    json_output: bool = Field(False, validation_alias=AliasChoices("json"), description="print the replay as JSON")


class ExceptionsCommand(_AlertsOptions):
    """List transactions in trouble (stuck, failed, duplicate, dead_letter, mismatch), or act on them.

    The list reflects the stored spans at the moment it is asked. Without --state it shows
    open and acknowledged exceptions; --state postponed shows those postponed until a time to
    come (out of the open queue and its counts until then); --state resolved the resolved ones.
    Exit codes: 1 no such exception, 2 refused (a bad filter, a time not after now, postponing a
    resolved exception, an empty or too long comment).

    Examples:
      biztrace exceptions --kind stuck --process order_to_cash --json
      biztrace exceptions ack O-1182 --by alice
      biztrace exceptions comment O-1182 --by alice --text "asked the 3PL"
      biztrace exceptions postpone O-1182 --by alice --until 4h
      biztrace exceptions resolve O-1182 --by alice --note "re-sent the 856"
      biztrace exceptions replay O-1182 --kind failed --by alice
    """

    process: str | None = Field(None, description="only this process")
    kind: str | None = Field(None, description="only this kind")
    stage: str | None = Field(None, description="only exceptions at this stage")
    system: str | None = Field(None, description="only exceptions whose system at fault is this one")
    state: str | None = Field(None, description="open, acknowledged, postponed or resolved")
    min_age: str | None = Field(None, description="only older than this, e.g. 2h or 1d")
    key: str | None = Field(None, description="only this transaction")
    channel: str | None = Field(None, description="only transactions of this sales channel")
    priority: str | None = Field(None, description="only transactions of this priority")
    window: str | None = Field(None, description="only transactions started in this window before --now, e.g. 7d "
                               "(the dashboard's time range; default: all)")  # fmt: skip
    sort: Literal["age", "amount", "priority"] = Field(
        "age",
        description="age: oldest problem first; amount: largest transaction value first (money at risk); "
        "priority: high first, then oldest",
    )
    ack: CliSubCommand[ExceptionsAck] = Field(description="acknowledge a transaction's exceptions")
    assign: CliSubCommand[ExceptionsAssign] = Field(description="assign them to someone")
    resolve: CliSubCommand[ExceptionsResolve] = Field(description="resolve them, with a note")
    comment: CliSubCommand[ExceptionsComment] = Field(description="comment on them (audited, plain text)")
    postpone: CliSubCommand[ExceptionsPostpone] = Field(description="take them out of the queue until a time")
    unpostpone: CliSubCommand[ExceptionsUnpostpone] = Field(description="bring postponed ones back now")
    replay: CliSubCommand[ExceptionsReplay] = Field(description="ask the middleware to resubmit the transaction")

    def cli_cmd(self) -> None:
        from biztrace.readmodel.exceptions import ExceptionItem, Filters, in_order, list_exceptions

        config = self.load_config()
        action = get_subcommand(self, is_required=False)
        if isinstance(action, ExceptionsReplay):
            _replay(self, config, action)
            return
        try:
            min_age = alerts_config.parse_duration(self.min_age) if self.min_age else None
            filters = Filters(process=self.process, kind=self.kind, stage=self.stage, system=self.system,
                              state=self.state, key=self.key, channel=self.channel, priority=self.priority,
                              min_age_s=int(min_age.total_seconds()) if min_age else None)  # fmt: skip
            since = self.moment() - alerts_config.parse_duration(self.window) if self.window else None
        except ValueError as exc:
            raise CommandFailed(f"bad filter: {exc}", 2) from exc
        verb = None
        if action is not None:
            verb = {ExceptionsAck: "acknowledge", ExceptionsAssign: "assign", ExceptionsResolve: "resolve",
                    ExceptionsComment: "comment", ExceptionsPostpone: "postpone",
                    ExceptionsUnpostpone: "unpostpone"}[type(action)]  # fmt: skip
        try:
            with open_store(self.store) as store, working("finding the exceptions" if action is None else "recording"):
                if action is None:
                    items = list_exceptions(store, config, self.moment(), filters, since=since,
                                            sort=_SORTS[self.sort])  # fmt: skip
                else:
                    try:
                        items = _act_locally(store, config, self.moment(), action, verb)
                    except NotFound as exc:
                        raise CommandFailed(str(exc), EXIT_NOT_FOUND) from exc
                    except ValueError as exc:
                        raise CommandFailed(str(exc).splitlines()[0], EXIT_USAGE) from exc
        except CommandFailed as failure:
            if failure.code in (EXIT_NOT_FOUND, EXIT_USAGE):
                raise
            api = remote_for(self.store, failure)
            if action is None:  # the whole list in --sort's order, every value in (as the local list is)
                items = in_order(_all_exceptions(api, filters, since), _SORTS[self.sort])
            else:
                path, body = _remote_action(action, verb)
                items = [ExceptionItem.model_validate(row) for row in api.call("POST", path, body=body)]
        if action is None:
            if self.json_output:
                print_json([item.model_dump(mode="json") for item in items])
            else:
                _print_exceptions(items)
            return
        if self.json_output:
            print_json([item.model_dump(mode="json") for item in items])
        else:
            for item in items:
                until = f" until {item.postponed_until:%Y-%m-%d %H:%M} UTC" if item.postponed_until else ""
                print(f"{item.process} {item.key} {item.kind}: {item.state}{until}"
                      + (f", assigned to {item.assignee}" if item.assignee else "")
                      + (f", {len(item.comments)} comment(s)" if item.comments else ""))  # fmt: skip


def _replayed_exception(items: list, action: ExceptionsReplay) -> tuple[str, str]:
    """The (process, kind) of the one open exception of ``action.key`` to replay."""
    found = sorted({(i.process, i.kind) for i in items if i.state != "resolved" and i.key == action.key
                    and (action.kind is None or i.kind == action.kind)
                    and (action.process is None or i.process == action.process)})  # fmt: skip
    if not found:
        what = " ".join(filter(None, [action.process, action.kind]))
        raise CommandFailed(f"no open {what + ' ' if what else ''}exception for {action.key!r}", EXIT_NOT_FOUND)
    if len(found) > 1:
        raise CommandFailed(f"{action.key} has several open exceptions ({', '.join(' '.join(f) for f in found)}): "
                            "name one with --kind (and --process)", EXIT_USAGE)  # fmt: skip
    return found[0]


def _replay(options: ExceptionsCommand, config, action: ExceptionsReplay) -> None:
    """Request the replay here (nobody holds the store) or through the holder's API; print its outcome."""
    import getpass

    from biztrace.readmodel import replays
    from biztrace.readmodel.exceptions import ExceptionItem, Filters, list_exceptions

    actor = action.by or getpass.getuser()
    now = options.moment()
    which = Filters(key=action.key, kind=action.kind, process=action.process)
    try:
        with open_store(options.store) as store:
            from biztrace.alerts.replay import send

            process, kind = action.process, action.kind  # both named: the read model finds the exception itself
            if process is None or kind is None:
                process, kind = _replayed_exception(list_exceptions(store, config, now, which), action)
            try:
                replay = replays.request_replay(store, config, now, process=process, key=action.key, kind=kind,
                                                actor=actor, roles=["admin"], send=send,
                                                request_id=action.request_id)  # fmt: skip
            except NotFound as exc:
                raise CommandFailed(str(exc), EXIT_NOT_FOUND) from exc
            except replays.ReplayNotAllowed as exc:
                raise CommandFailed(str(exc), EXIT_REFUSED) from exc
            except replays.ReplayError as exc:
                raise CommandFailed(str(exc).splitlines()[0], EXIT_USAGE) from exc
    except CommandFailed as failure:  # a running biztrace holds the store: it sends the replay
        api = remote_for(options.store, failure)
        process, kind = action.process, action.kind
        if process is None or kind is None:
            params = {**which.model_dump(exclude_none=True), "limit": 1000}
            rows = api.call("GET", "/exceptions", params=params)["items"]
            process, kind = _replayed_exception([ExceptionItem.model_validate(row) for row in rows], action)
        body = {"process": process, "key": action.key, "kind": kind, "request_id": action.request_id, "actor": actor}
        replay = replays.Replay.model_validate(api.call("POST", "/replays", body=body))
    status = f" (HTTP {replay.http_status})" if replay.http_status else ""
    if options.json_output or action.json_output:
        print_json(replay)
    else:
        again = ", requested earlier: not sent again" if replay.earlier else ""
        print(f"{replay.process} {replay.key} {replay.kind}: replay {replay.outcome}{status} via {replay.target}, "
              f"request id {replay.request_id}{again}" + (f": {replay.detail}" if replay.detail else ""))  # fmt: skip
    if replay.outcome not in ("accepted", "pending"):
        raise CommandFailed(f"the middleware did not accept the replay of {replay.key}: {replay.outcome}{status}",
                            EXIT_NOT_ACCEPTED)  # fmt: skip


def _act_locally(store, config, now: datetime, action: _Act, verb: str) -> list:
    """One person's action through the read model's write module (audited with ``--by``)."""
    from biztrace.readmodel import actions

    which = {"key": action.key, "actor": action.by, "kind": action.kind, "process": action.process}
    if isinstance(action, ExceptionsComment):
        return actions.comment_on_exception(store, config, now, text=action.text, **which)
    if isinstance(action, ExceptionsPostpone):
        return actions.postpone_exception(store, config, now, until=action.until, note=action.note, **which)
    return actions.act_on_exception(store, config, now, action=verb, assignee=getattr(action, "to", ""),
                                    note=getattr(action, "note", ""), **which)  # fmt: skip


def _remote_action(action: _Act, verb: str) -> tuple[str, dict]:
    """The API route and body of the same action, for when a running biztrace holds the store."""
    which = {"key": action.key, "kind": action.kind, "process": action.process, "actor": action.by}
    if isinstance(action, ExceptionsComment):
        return "/exceptions/comments", {**which, "text": action.text}
    if isinstance(action, ExceptionsPostpone):
        return "/exceptions/postpone", {**which, "until": action.until, "note": action.note}
    return "/exceptions/actions", {**which, "action": verb, "assignee": getattr(action, "to", ""),
                                   "note": getattr(action, "note", "")}  # fmt: skip


_SORTS = {"age": "oldest first", "amount": "largest amount first", "priority": "priority, then age"}
"""``--sort`` as the queue's orders (``readmodel.exceptions.SORTS``)."""


def _all_exceptions(api, filters, since) -> list:
    """Every exception of the filtered queue from the holder's API, page by page (oldest first: pages the
    API sorts in ClickHouse; the caller puts the whole list in ``--sort``'s order)."""
    from biztrace.readmodel.exceptions import ExceptionItem

    items, offset = [], 0
    while True:
        params = {
            **filters.model_dump(exclude_none=True),
            "offset": offset,
            "limit": 1000,
            "sort": "since",
            "started_since": since.isoformat() if since else None,
        }
        page = api.call("GET", "/exceptions", params={**params, "descending": False})
        items.extend(ExceptionItem.model_validate(row) for row in page["items"])
        offset += len(page["items"])
        if not page["items"] or offset >= page["total"]:
            return items


def _print_exceptions(items) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 200)
    if not items:
        console.print("no exceptions")
        return
    table = Table(title=f"{len(items)} exceptions")
    for column in ("process", "key", "kind", "stage", "system", "amount", "since (UTC)", "age", "state", "who"):
        table.add_column(column, justify="right" if column == "amount" else "left")
    for item in items:
        who = item.assignee or item.acknowledged_by or item.resolved_by
        urgent = item.kind in ("failed", "dead_letter") and item.state == "open"
        amount = f"{item.amount:,.2f} {item.currency}".strip() if item.amount is not None else "-"
        table.add_row(item.process, item.key, item.kind, item.stage or "-", item.system or "-", amount,
                      item.since.strftime("%Y-%m-%d %H:%M"), _age(item.age_s), _state(item), who,
                      style="red" if urgent else None)  # fmt: skip
    console.print(table)


def _state(item) -> str:
    return f"postponed until {item.postponed_until:%Y-%m-%d %H:%M}" if item.postponed_until else item.state


def _age(seconds: int) -> str:
    if seconds >= 86_400:
        return f"{seconds / 86_400:.1f}d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    return f"{max(seconds, 0) // 60}m"


class ReconcileCommand(_AlertsOptions):
    """Which transactions do systems disagree on, and by how much, per period.

    Prints the parity table (per rule, period and channel: pairs, counts, totals, variance,
    mismatch rate, share posted within SLA) and the mismatched transactions.

    Example: biztrace reconcile --period day --since 2026-11-01 --process order_to_cash --json
    """

    period: str = Field("day", description="hour, day, week or month")
    since: datetime | None = Field(None, description="from (ISO 8601; default: 30 days before --now)")
    process: str | None = Field(None, description="only this process")
    rule: str | None = Field(None, description="only this reconciliation rule")
    channel: str | None = Field(None, description="only this sales channel")
    system: str | None = Field(None, description="only rules where this system is one side")

    def cli_cmd(self) -> None:
        from biztrace.readmodel.reconcile import BUCKETS, Mismatch, ParityRow, SystemParityRow, report

        if self.period not in BUCKETS:
            raise CommandFailed(f"--period {self.period!r}: use hour, day, week or month", 2)
        config = self.load_config()
        if self.system:
            keep = [r for r in config.reconciliation if self.system in (r.left.system, r.right.system)]
            config = config.model_copy(update={"reconciliation": keep})
        now = self.moment()
        since = naive_utc(self.since) if self.since else now - timedelta(days=30)
        try:
            with open_store(self.store) as store, working("reconciling"):
                result = report(store, config, now, since=since, period=self.period, rule=self.rule,
                                process=self.process, channel=self.channel, system=self.system)  # fmt: skip
        except CommandFailed as failure:
            answer = remote_for(self.store, failure).call("GET", "/reconciliation", params={
                "period": self.period, "since": since.isoformat(), "process": self.process, "rule": self.rule,
                "channel": self.channel, "system": self.system})  # fmt: skip
            result = {"parity": [ParityRow.model_validate(r) for r in answer["parity"]],
                      "systems": [SystemParityRow.model_validate(r) for r in answer["systems"]],
                      "mismatches": [Mismatch.model_validate(r) for r in answer["mismatches"]]}  # fmt: skip
        if self.json_output:
            print_json({name: [row.model_dump(mode="json") for row in rows] for name, rows in result.items()})
            return
        _print_reconciliation(result["parity"], result["mismatches"])


def _print_reconciliation(table, found) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 200)
    parity_table = Table(title="parity")
    for column in ("rule", "period", "channel", "pairs", "left", "right", "left total", "right total", "variance",
                   "mismatch rate", "within SLA"):  # fmt: skip
        parity_table.add_column(column)
    for row in table:
        within = f"{row.right_within_sla_share:.1%}" if row.right_within_sla_share is not None else "-"
        cells = (row.rule, f"{row.period:%Y-%m-%d %H:%M}", row.channel or "-", str(row.pairs), str(row.left_count),
                 str(row.right_count), f"{row.left_total:,.2f}", f"{row.right_total:,.2f}", f"{row.variance:,.2f}",
                 f"{row.mismatch_rate:.2%}", within)  # fmt: skip
        parity_table.add_row(*cells)
    console.print(parity_table)
    if not found:
        console.print("no mismatched transactions")
        return
    listing = Table(title=f"{len(found)} mismatched transactions")
    for column in ("rule", "key", "matched on", "field", "left", "right", "systems", "since (UTC)"):
        listing.add_column(column)
    for m in found:
        listing.add_row(m.rule, m.key, m.match_key, m.field, "-" if m.left is None else str(m.left),
                        "-" if m.right is None else str(m.right), f"{m.left_system} -> {m.right_system}",
                        f"{m.since:%Y-%m-%d %H:%M}")  # fmt: skip
    console.print(listing)


class AlertsEvaluate(_AlertsOptions):
    """One evaluation pass: every alert with its rule, labels, severity, state, value and transactions.

    Records state changes and sends due notifications, as one loop iteration does;
    --dry-run only evaluates.
    """

    dry_run: bool = Field(False, description="evaluate only: write nothing, notify nobody")

    def cli_cmd(self) -> None:
        from biztrace.alerts.loop import run_pass

        config = self.load_config()
        with open_store(self.store) as store:
            report = run_pass(store, config, self.moment(), persist=not self.dry_run)
        if self.json_output:
            print_json(report)
            return
        for alert in report.alerts:
            muted = report.muted.get(alert.fingerprint)
            labels = ", ".join(f"{k}={v}" for k, v in alert.labels.items() if k not in ("alertname", "severity"))
            at_risk = f" · {alert.at_risk.text()}" if alert.at_risk is not None else ""
            sample = f" of {alert.sample:,}" if alert.sample is not None else ""  # what a share counted
            print(f"{alert.state:<9} {alert.severity:<8} {alert.rule} {{{labels}}} value={alert.value:g}{sample}"
                  f"{at_risk}" + (f" [{muted}]" if muted else ""))  # fmt: skip
        for error in report.rule_errors:
            print(f"rule error: {error}", file=sys.stderr)
        for silence_id, problem in report.silence_problems.items():
            print(f"silence {silence_id} mutes nothing: {problem}", file=sys.stderr)
        for receiver, problem in report.receiver_problems.items():
            print(f"receiver {receiver} cannot send: {problem}", file=sys.stderr)
        if not report.alerts:
            print("no alerts")


class AlertsRun(_AlertsOptions):
    """Evaluate every evaluation_interval until Ctrl-C or SIGTERM; notifications go out as due."""

    def cli_cmd(self) -> None:
        from biztrace.alerts.loop import run_forever

        config = self.load_config()
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        with open_store(self.store) as store:
            print(f"alert loop: every {config.evaluation_interval.total_seconds():g}s, "
                  f"{len(config.rules)} rules, store {store.address.display}", file=sys.stderr)  # fmt: skip
            run_forever(store, config, stop=stop, on_pass=lambda r: print(
                f"{r.evaluated_at:%H:%M:%S} {sum(a.state == 'firing' for a in r.alerts)} firing, "
                f"{r.queued} notifications queued, {sum(n.delivered for n in r.notifications)} delivered"
                + (f", rules not evaluated: {', '.join(r.failed_rules)}" if r.failed_rules else ""),
                file=sys.stderr))  # fmt: skip


class SilenceAdd(_AlertsOptions):
    """Mute notifications of matching alerts for a while.

    Example: biztrace alerts silence add --matcher alertname=OrdersStuck --duration 2h --by alice --comment "ERP down"
    """

    matcher: list[str] = Field(description="label=value, label=~regex or label=!value; repeat for several")
    duration: str = Field("2h", description="how long, e.g. 30m, 2h, 1d")
    by: str = Field(description="who silences")
    comment: str = Field("", description="why")

    def cli_cmd(self) -> None:
        from biztrace.readmodel import actions

        try:
            length = alerts_config.parse_duration(self.duration)
        except ValueError as exc:
            raise CommandFailed(f"--duration: {exc}", 2) from None
        try:
            matchers = actions.parse_matchers(self.matcher)
            Silence(id="check", matchers=matchers, starts_at=self.moment(), ends_at=self.moment() + length,
                    created_by=self.by, created_at=self.moment())  # fmt: skip
        except ValueError as exc:  # a matcher that cannot be evaluated, e.g. alertname=~(
            raise CommandFailed(f"--matcher: {str(exc).splitlines()[0]}", 2) from None
        try:
            with open_store(self.store) as store:
                silence = actions.create_silence(store, matchers, length, self.by, self.comment, self.moment())
            shown = silence.model_dump(mode="json")
        except CommandFailed as failure:
            body = {"matchers": self.matcher, "duration": self.duration, "comment": self.comment, "by": self.by}
            shown = remote_for(self.store, failure).call("POST", "/silences", body=body)
        print_json(shown) if self.json_output else print(f"silence {shown['id']} until {shown['ends_at'][:16]} UTC")


class SilenceList(_AlertsOptions):
    """Every silence with its state (pending, active, expired)."""

    def cli_cmd(self) -> None:
        from biztrace.readmodel import alert_store

        try:
            with open_store(self.store) as store:
                now = self.moment()
                rows = [{**s.model_dump(mode="json"), "state": s.state(now)} for s in alert_store.silences(store)]
        except CommandFailed as failure:
            rows = remote_for(self.store, failure).call("GET", "/silences")
        if self.json_output:
            print_json(rows)
            return
        for row in rows or [None]:
            if row is None:
                print("no silences")
                break
            matchers = ", ".join(f"{k}={v}" for k, v in row["matchers"].items())
            print(f"{row['id']}  {row['state']:<8} until {row['ends_at']}  {{{matchers}}}  by {row['created_by']}"
                  + (f"  (mutes nothing: {row['problem']})" if row.get("problem") else ""))  # fmt: skip


class SilenceExpire(_AlertsOptions):
    """End a silence now."""

    id: CliPositionalArg[str] = Field(description="the silence id")

    def cli_cmd(self) -> None:
        from biztrace.readmodel import actions

        try:
            with open_store(self.store) as store:
                actions.expire_silence(store, self.id, self.moment())
        except NotFound as exc:
            raise CommandFailed(str(exc), EXIT_NOT_FOUND) from exc
        except CommandFailed as failure:
            if failure.code == EXIT_NOT_FOUND:
                raise
            remote_for(self.store, failure).call("DELETE", f"/silences/{self.id}")
        print(f"silence {self.id} expired")


class SilenceCommand(BaseModel):
    """Create, list and expire silences."""

    add: CliSubCommand[SilenceAdd] = Field(description="mute matching alerts for a while")
    list: CliSubCommand[SilenceList] = Field(description="every silence and its state")
    expire: CliSubCommand[SilenceExpire] = Field(description="end a silence now")

    def cli_cmd(self) -> None:
        CliApp.run_subcommand(self)


class AlertsHistory(_AlertsOptions):
    """Recent alert state changes and notification outcomes."""

    limit: int = Field(100, ge=1)

    def cli_cmd(self) -> None:
        from biztrace.readmodel import alert_store
        from biztrace.readmodel.models import AtRisk

        with open_store(self.store) as store:
            document = {"alerts": alert_store.history(store, self.limit),
                        "notifications": alert_store.notifications(store, self.limit)}  # fmt: skip
        if self.json_output:
            print_json(document)
            return
        from rich.console import Console
        from rich.table import Table

        console = Console(width=None if sys.stdout.isatty() else 200)
        changes = Table(title=f"{len(document['alerts'])} alert state changes")
        for column in ("at (UTC)", "state", "rule", "labels", "value", "at risk"):
            changes.add_column(column)
        for row in document["alerts"]:
            labels = ", ".join(f"{k}={v}" for k, v in dict(row["Labels"]).items() if k != "alertname")
            at_risk = AtRisk.model_validate(row["AtRisk"]).text() if row.get("AtRisk") is not None else ""
            changes.add_row(f"{row['At']:%Y-%m-%d %H:%M:%S}", row["State"], row["Rule"], labels, f"{row['Value']:g}",
                            at_risk)  # fmt: skip
        console.print(changes)
        sent = Table(title=f"{len(document['notifications'])} notifications")
        columns = list(document["notifications"][0]) if document["notifications"] else []
        for column in columns:
            sent.add_column(column)
        for row in document["notifications"]:
            sent.add_row(*(f"{v:%Y-%m-%d %H:%M:%S}" if isinstance(v, datetime) else str(v) for v in row.values()))
        console.print(sent)


class AlertsCommand(BaseModel):
    """Evaluate alert rules once, run the loop, manage silences, read history."""

    evaluate: CliSubCommand[AlertsEvaluate] = Field(description="one pass: every alert, its state, its transactions")
    run: CliSubCommand[AlertsRun] = Field(description="the loop: evaluate every interval, notify")
    silence: CliSubCommand[SilenceCommand] = Field(description="create, list and expire silences")
    history: CliSubCommand[AlertsHistory] = Field(description="recent state changes and notifications")

    def cli_cmd(self) -> None:
        CliApp.run_subcommand(self)
