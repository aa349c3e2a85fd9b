"""The ``biztrace`` command: a thin router to each part's entry point.

Every option has a flag, a ``BIZTRACE_*`` environment variable and a default (pydantic-
settings builds both from the same model). Query commands take ``--json`` and then print
one JSON document on stdout; logs go to stderr.

Exit codes: 0 success, 1 nothing found, 2 usage error, 3 the store cannot be used.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from urllib.parse import quote

from pydantic import AliasChoices, BaseModel, Field, ValidationError
from pydantic_settings import BaseSettings, CliApp, CliPositionalArg, CliSubCommand, SettingsConfigDict

from biztrace.cli.alerts import AlertsCommand, ExceptionsCommand, ReconcileCommand
from biztrace.cli.config import ConfigCommand
from biztrace.cli.dashboard import DashboardCommand, UpCommand, UserCommand
from biztrace.cli.export import ExportCommand
from biztrace.cli.figures import FiguresCommand
from biztrace.cli.remote import remote_for
from biztrace.cli.scorecards import ScorecardsCommand
from biztrace.cli.serving import ApiOptions
from biztrace.cli.token import TokenCommand
from biztrace.cli.util import EXIT_NOT_FOUND, EXIT_STORE, EXIT_USAGE, CommandFailed, open_store, print_json
from biztrace.cli.variants import VariantsCommand
from biztrace.collector.settings import CollectorSettings
from biztrace.readmodel.lookup import key_history
from biztrace.simulator.scenario import FaultRates
from biztrace.store import StoreError, parse_store
from biztrace.store.options import StoreOptions


class CollectCommand(CollectorSettings, ApiOptions):
    """Receive OTLP traces (HTTP :4318, gRPC :4317) and write them to the store.

    Acknowledges a request only after its spans are committed, and stores a retried
    request once. Ctrl-C or SIGTERM writes what is queued, then exits.

    Also serves the HTTP API (--api-port), so commands beside it work on its store.

    Example: biztrace collect --store chdb:data --token s3cret
    """

    config: Path | None = Field(None, description="process/SLA/rule YAML the API answers with (default: built-in)")

    def cli_cmd(self) -> None:
        from biztrace import config as alerts_config
        from biztrace.cli.serving import serve_api
        from biztrace.collector.service import Collector
        from biztrace.config.errors import ConfigError

        try:
            config = alerts_config.load(self.config)
        except ConfigError as exc:
            raise CommandFailed(str(exc), 2) from exc
        done = threading.Event()  # a signal during start-up still stops cleanly once started
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: done.set())
        collector = Collector(self, lookup=partial(key_history, config=config))  # hops placed, as the API shows them
        try:
            collector.start()
            store = collector.store
            api = serve_api(store.view(), config, self.api_host, self.api_port)
        except StoreError as exc:
            raise CommandFailed(str(exc), EXIT_STORE) from exc
        except OSError as exc:
            collector.stop()
            raise CommandFailed(str(exc), EXIT_STORE) from exc
        ports = collector.ports
        print(
            f"biztrace collector: OTLP/HTTP http://{self.host}:{ports.http}/v1/traces, "
            f"OTLP/gRPC {self.host}:{ports.grpc}, API {api.url}, store {collector.store.address.display}",
            file=sys.stderr,
        )
        while not done.wait(1.0):
            pass
        api.stop()  # before the collector closes the store the API reads
        collector.stop()


class DbInit(StoreOptions):
    """Create or upgrade the schema (idempotent: running it twice changes nothing).

    On a cluster: biztrace db init --store http://user:pass@ch-1:8123/otel --cluster biztrace --distributed
    """

    json_output: bool = Field(False, validation_alias=AliasChoices("json"), description="print JSON")
    print_ddl: bool = Field(False, description="print the statements for an empty store and change nothing")

    def cli_cmd(self) -> None:
        from biztrace.store import schema

        try:
            options = self.schema_options()
        except ValidationError as exc:
            raise CommandFailed("; ".join(e["msg"] for e in exc.errors()), 2) from exc
        if self.print_ddl:
            print(";\n\n".join(schema.plan(options, parse_store(self.store).database)) + ";")
            return
        with open_store(self.store, create=True) as store:
            applied = schema.apply(store, self.schema_options())
            report = schema.status(store, self.schema_options())
        if self.json_output:
            print_json({"applied": [m.version for m in applied], "migrations": [r.model_dump() for r in report]})
        else:
            names = ", ".join(f"{m.version:03d}_{m.name}" for m in applied) or "nothing (already up to date)"
            print(f"applied: {names}")


class DbStatus(StoreOptions):
    """Show which schema migrations the store has."""

    json_output: bool = Field(False, validation_alias=AliasChoices("json"), description="print JSON")

    def cli_cmd(self) -> None:
        from biztrace.store import schema

        try:
            with open_store(self.store, require_schema=False) as store:
                report = schema.status(store, self.schema_options())
        except CommandFailed as failure:
            answer = remote_for(self.store, failure).call("GET", "/status")
            report = [schema.MigrationStatus(**row) for row in answer["migrations"]]
        if self.json_output:
            print_json([r.model_dump() for r in report])
            return
        for row in report:
            state = f"applied {row.applied_at:%Y-%m-%d %H:%M:%S}" if row.applied else "pending"
            if row.applied and row.checksum_matches is False:
                state += " (file changed since)"
            print(f"{row.version:03d}  {row.name:<20} {state}")
        pending = sum(not r.applied for r in report)
        print(f"{len(report) - pending} applied, {pending} pending" + ("; run: biztrace db init" if pending else ""))


class DbRebuild(StoreOptions):
    """Re-derive the business tables from the raw spans of a time window.

    For a window where a crash may have left spans without their business rows; safe to
    repeat. Example: biztrace db rebuild --since 2026-11-20T00:00 --until 2026-11-21T00:00
    """

    since: datetime = Field(description="from (ISO 8601, UTC)")
    until: datetime = Field(description="to, exclusive (ISO 8601, UTC)")
    json_output: bool = Field(False, validation_alias=AliasChoices("json"), description="print JSON")

    def cli_cmd(self) -> None:
        from biztrace.store import schema

        with open_store(self.store) as store:
            derived = schema.rebuild(store, self.since.replace(tzinfo=None), self.until.replace(tzinfo=None))
        if self.json_output:
            print_json(derived)
        else:
            print(f"re-derived from {derived.get('biz_hops', 0):,} spans")


class DbCommand(BaseModel):
    """Manage the store's schema."""

    init: CliSubCommand[DbInit] = Field(description="create or upgrade the schema (idempotent)")
    status: CliSubCommand[DbStatus] = Field(description="which migrations the store has")
    rebuild: CliSubCommand[DbRebuild] = Field(description="re-derive the business tables of a window")

    def cli_cmd(self) -> None:
        CliApp.run_subcommand(self)


class OrderCommand(StoreOptions):
    """Show every hop of one business key, across all its traces, in time order.

    KEY is an order id, or a customer, SKU, invoice, shipment or return id.

    Example: biztrace order O-1182 --json
    """

    key: CliPositionalArg[str] = Field(description="the business key to look up, e.g. O-1182")
    json_output: bool = Field(False, validation_alias=AliasChoices("json"), description="print JSON")
    limit: int = Field(10_000, ge=1, description="at most this many hops")
    config: Path | None = Field(
        None,
        description="YAML whose mapping rules make spans of existing instrumentation hops (as the rules see them); "
        "through a running biztrace's API, that process's configuration applies",
    )

    def cli_cmd(self) -> None:
        from biztrace import config as biztrace_config
        from biztrace.readmodel.lookup import KeyHistory, key_history, tree_transactions
        from biztrace.readmodel.models import naive_utc
        from biztrace.readmodel.transactions import Transaction

        if not self.key.strip():
            raise CommandFailed("give a business key, e.g. biztrace order O-1182", EXIT_USAGE)
        try:
            config = biztrace_config.load(self.config) if self.config else None
            judged_by = config or biztrace_config.load()  # the processes the transactions are judged by
        except Exception as exc:  # ConfigError and friends: the message names file and line
            raise CommandFailed(str(exc).splitlines()[0] if str(exc) else repr(exc), EXIT_USAGE) from exc
        try:
            with open_store(self.store) as store:
                history = key_history(store, self.key, self.limit, config)
                found = tree_transactions(store, judged_by, naive_utc(datetime.now(UTC)), history)
        except CommandFailed as failure:
            api = remote_for(self.store, failure)
            try:
                tree = api.call("GET", f"/keys/{quote(self.key, safe='')}", params={"limit": min(self.limit, 10_000)})
                history = KeyHistory.model_validate(tree["history"])
                found = [Transaction.model_validate(row) for row in tree["transactions"]]
            except CommandFailed as missing:
                if missing.code != EXIT_NOT_FOUND:
                    raise
                history, found = KeyHistory(key=self.key, found=False, traces=0, systems=[], hops=[]), []
        if self.json_output:  # the hops' answer, with its transactions as the API's key tree has them
            print_json({**history.model_dump(mode="json"), "transactions": [t.model_dump(mode="json") for t in found]})
        else:
            _print_history(history)
            _print_transactions(found)
        if not history.found:
            raise CommandFailed(f"no hop carries the key {self.key!r} in this store", EXIT_NOT_FOUND)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _print_transactions(found) -> None:
    """Where each transaction of the key's tree stands: state, furthest stage, what is due next and by
    when, its value (the same rows as the API's key tree and the order page)."""
    from rich.console import Console
    from rich.table import Table

    from biztrace.cli.alerts import _age

    if not found:
        return
    table = Table(title=_plural(len(found), "transaction"))
    for column in ("process", "key", "state", "stage reached", "next (system)", "due (UTC)", "amount", "age"):
        table.add_column(column)
    styles = {"stuck": "yellow", "failed": "red", "dead_letter": "red"}
    for tx in found:
        state = tx.state
        if tx.state in ("failed", "dead_letter"):  # where and in which system, as the exception says
            cause = ", ".join(part for part in (tx.trouble_system, tx.error_type) if part)
            state += f" at {tx.trouble_stage or tx.next_stage or '-'}" + (f" ({cause})" if cause else "")
        table.add_row(
            tx.process, tx.key, state, tx.current_stage or "-",
            f"{tx.next_stage} ({tx.next_system})" if tx.next_stage and tx.next_system else tx.next_stage or "-",
            tx.due_at.strftime("%Y-%m-%d %H:%M") if tx.due_at else "-",
            f"{tx.amount:,.2f} {tx.currency}".strip() if tx.amount is not None else "-", _age(tx.age_s),
            style=styles.get(tx.state),
        )  # fmt: skip
    Console(width=None if sys.stdout.isatty() else 200).print(table)


def _print_history(history) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 200)
    if not history.found:
        return
    title = f"{history.key}: {_plural(len(history.hops), 'hop')} in {_plural(history.traces, 'trace')}"
    if history.truncated:
        title += f" (the first {len(history.hops)}: more are stored, raise --limit)"
    table = Table(title=title)
    for column in ("start (UTC)", "system", "stage", "span", "duration", "status", "trace id", "span id"):
        table.add_column(column, no_wrap=column in ("trace id", "span id"))
    for hop in history.hops:
        status = hop.status if not hop.error_type else f"{hop.status} ({hop.error_type})"
        style = "red" if hop.status == "Error" else None
        table.add_row(
            hop.start.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
            hop.system,
            hop.stage or "-",
            hop.span_name,
            f"{hop.duration_ms:,.1f} ms",
            status,
            hop.trace_id,
            hop.span_id,
            style=style,
        )
    console.print(table)


class SimulateCommand(BaseSettings):
    """Emit a distributor's business over OTLP to a collector: backfill, then optionally live.

    Orders are captured in CRM, eCommerce, EDI, marketplaces and portals, routed by middleware,
    accepted by the ERP, allocated and shipped by the WMS/TMS (split shipments, backorders),
    invoiced and paid; returns and customer master updates too. Faults are injected at the
    given rates (--faults.stuck 0.05 ...) and listed in the --ground-truth file.

    Example: biztrace simulate --days 3 --orders-per-day 2000 --ground-truth truth.json --json
    """

    model_config = SettingsConfigDict(env_prefix="BIZTRACE_SIMULATE_", cli_kebab_case=True,
                                      cli_implicit_flags=True, cli_hide_none_type=True, extra="ignore")  # fmt: skip

    endpoint: str = Field("http://localhost:4318", description="the collector's OTLP/HTTP address")
    token: str | None = Field(None, description="bearer token, when the collector requires one")
    days: float = Field(1.0, gt=0, le=366, description="days of history to backfill, ending now")
    orders_per_day: int = Field(2000, ge=1, description="orders captured per day (backfill and live)")
    seed: int = Field(1, description="same seed, same business")
    now: datetime | None = Field(None, description="the simulation's present (ISO 8601; default: the clock)")
    return_rate: float = Field(0.03, ge=0, le=1, description="share of shipped orders returned")
    faults: FaultRates = Field(default_factory=FaultRates, description="fault rates, each a share of orders")
    varied: bool = Field(False, description="producers as varied as real ones: no biz.process/biz.system, "
                         "other systems for some stages, keys linked on separate hops")  # fmt: skip
    ground_truth: Path | None = Field(None, description="write the injected faults to this JSON file")
    live: bool = Field(False, description="after the backfill, keep sending through the OTel SDK in real time")
    duration_s: float | None = Field(None, gt=0, description="stop live mode after this many seconds (default: Ctrl-C)")
    concurrency: int = Field(32, ge=1, le=256, description="backfill requests in flight (acks come after commit)")
    retry_for_s: float = Field(120.0, gt=0, description="keep retrying a refused or unanswered request this long")
    json_output: bool = Field(False, validation_alias=AliasChoices("json"), description="print a JSON summary")

    def cli_cmd(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from biztrace.simulator.run import SdkEmitter, backfill, live
        from biztrace.simulator.scenario import Scenario
        from biztrace.simulator.sender import OtlpHttpSender, SendError

        options = {"now": self.now} if self.now else {}
        scenario = Scenario(seed=self.seed, days=self.days, orders_per_day=self.orders_per_day,
                            return_rate=self.return_rate, faults=self.faults, varied=self.varied,
                            **options)  # fmt: skip
        try:
            sender = OtlpHttpSender(
                self.endpoint, token=self.token, concurrency=self.concurrency, retry_for_s=self.retry_for_s
            )
        except ValueError as exc:
            raise CommandFailed(str(exc), 2) from exc
        expected = round(scenario.orders_per_day * scenario.days * 10)
        columns = (TextColumn("backfill"), BarColumn(), MofNCompleteColumn(), TextColumn("spans"), TimeElapsedColumn())
        with Progress(*columns, transient=True, console=_stderr_console()) as bar:
            task = bar.add_task("spans", total=expected)
            try:
                summary, world, future = backfill(
                    scenario, sender, ground_truth=self.ground_truth, keep_future=self.live,
                    progress=lambda n: bar.advance(task, n),
                )  # fmt: skip
            except SendError as exc:
                raise CommandFailed(
                    f"the collector at {self.endpoint} refused the backfill: {exc}", EXIT_STORE
                ) from exc
            finally:
                sender.close()
        if self.live:
            print(f"backfilled {summary.spans_sent} spans; now live (Ctrl-C to stop)", file=sys.stderr)
            emitter = SdkEmitter(self.endpoint, self.token)
            try:
                sent = live(
                    scenario, emitter, future, world, duration_s=self.duration_s, ground_truth=self.ground_truth
                )
            except KeyboardInterrupt:
                sent = 0
            finally:
                emitter.shutdown()
            summary.mode = "backfill+live"
            summary.spans_sent += sent
        if self.json_output:
            print_json(summary)
        else:
            faults = ", ".join(f"{kind} {count}" for kind, count in sorted(summary.faults.items())) or "none"
            print(
                f"sent {summary.spans_sent:,} spans ({summary.orders:,} orders, {summary.returns:,} returns, "
                f"{summary.customer_updates:,} customer updates) in {summary.seconds:.1f}s "
                f"= {summary.spans_per_second:,.0f} spans/s; faults: {faults}"
            )


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True)


class Biztrace(BaseSettings):
    """biztrace: business transaction tracing for distributors.

    Every option also reads a BIZTRACE_* environment variable (e.g. BIZTRACE_STORE).
    Run 'biztrace COMMAND --help' for a command's options.
    """

    model_config = SettingsConfigDict(
        cli_kebab_case=True,
        cli_implicit_flags=True,
        cli_hide_none_type=True,
        cli_prog_name="biztrace",
        extra="ignore",
    )

    collect: CliSubCommand[CollectCommand] = Field(description="run the OTLP collector")
    db: CliSubCommand[DbCommand] = Field(description="create, upgrade or inspect the schema")
    order: CliSubCommand[OrderCommand] = Field(description="every hop of one order (or other business key)")
    simulate: CliSubCommand[SimulateCommand] = Field(description="emit a distributor's realistic traffic over OTLP")
    exceptions: CliSubCommand[ExceptionsCommand] = Field(description="transactions in trouble, and acting on them")
    alerts: CliSubCommand[AlertsCommand] = Field(description="evaluate rules, run the alert loop, silences")
    reconcile: CliSubCommand[ReconcileCommand] = Field(description="where systems disagree: parity and mismatches")
    up: CliSubCommand[UpCommand] = Field(description="collector, alert loop and dashboard in one process (--demo)")
    dashboard: CliSubCommand[DashboardCommand] = Field(description="serve the dashboard on its own")
    user: CliSubCommand[UserCommand] = Field(description="the dashboard's local users")
    config: CliSubCommand[ConfigCommand] = Field(description="check a configuration file: every problem, file:line")
    token: CliSubCommand[TokenCommand] = Field(description="API tokens with roles: create, list, revoke")
    figures: CliSubCommand[FiguresCommand] = Field(description="SLA adherence and mismatch rates over a window")
    export: CliSubCommand[ExportCommand] = Field(
        description="write the business hops as an OCEL 2.0 log for process mining"
    )
    variants: CliSubCommand[VariantsCommand] = Field(
        description="the paths of stages orders, shipments or returns took"
    )
    scorecards: CliSubCommand[ScorecardsCommand] = Field(
        description="SLA scorecards per customer, partner, channel or system, against the previous period"
    )

    def cli_cmd(self) -> None:
        CliApp.run_subcommand(self)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``biztrace`` console script."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # the HTTP driver's retries and its "Unexpected Http Driver Exception" precede the error biztrace reports
    # itself, in one line (a server that cannot be reached): their warnings only repeat it, noisily; and a
    # command beside a running biztrace (through its API) would log each of its requests (httpx's INFO)
    for noisy in ("urllib3", "clickhouse_connect", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    args = sys.argv[1:] if argv is None else argv
    try:
        CliApp.run(Biztrace, cli_args=args)
    except CommandFailed as exc:
        print(f"biztrace: {exc}", file=sys.stderr)
        return exc.code
    except StoreError as exc:
        print(f"biztrace: {exc}", file=sys.stderr)
        return EXIT_STORE
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"][1:] or error["loc"]).replace("_", "-")
            print(f"biztrace: --{where}: {error['msg']} (got {error.get('input')!r})", file=sys.stderr)
        return 2
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
