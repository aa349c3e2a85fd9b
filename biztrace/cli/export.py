"""``biztrace export ...``: hand what biztrace knows to other tools (today: OCEL 2.0 for process mining)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from pydantic import AliasChoices, BaseModel, Field
from pydantic_settings import CliApp, CliSubCommand

from biztrace.cli.export_exceptions import ExportExceptions
from biztrace.cli.util import EXIT_STORE, EXIT_USAGE, CommandFailed, open_store, print_json
from biztrace.readmodel.errors import QueryError, ReadModelError
from biztrace.readmodel.models import naive_utc
from biztrace.store.options import StoreOptions


class ExportOcel(StoreOptions):
    """Write the business hops of a time window as an OCEL 2.0 object-centric event log.

    Events are the hops that reached a stage; objects are the orders, shipments, invoices,
    returns, customers and SKUs they carry, with their status and amounts over time, linked to
    the events and to each other. The extension chooses the form: .json or .jsonocel (JSON),
    .sqlite (SQLite). pm4py, OCEL viewers and other process-mining tools read both.

    Example: biztrace export ocel --since 2026-11-20 --until 2026-11-21 --output o2c.jsonocel
    """

    since: datetime = Field(description="from (ISO 8601, UTC unless it names a zone)")
    until: datetime | None = Field(None, description="to, exclusive (default: now)")
    output: Path = Field(description="the file to write: .json, .jsonocel or .sqlite")
    config: Path | None = Field(
        None, description="YAML with processes (merged over the defaults): the process each event is placed in"
    )
    json_output: bool = Field(False, validation_alias=AliasChoices("json"), description="print a JSON summary")

    def cli_cmd(self) -> None:
        from biztrace import config as alerts_config
        from biztrace.config.errors import ConfigError
        from biztrace.readmodel.ocel import count_events, export_ocel, ocel_format

        try:
            config = alerts_config.load(self.config)
        except ConfigError as exc:
            raise CommandFailed(str(exc), EXIT_USAGE) from exc

        try:
            ocel_format(self.output)
        except ReadModelError as exc:
            raise CommandFailed(str(exc), EXIT_USAGE) from exc
        since = naive_utc(self.since)
        until = naive_utc(self.until or datetime.now(UTC))
        if since >= until:
            raise CommandFailed(f"--since {since:%Y-%m-%d %H:%M:%S} is not before --until {until:%Y-%m-%d %H:%M:%S}",
                                EXIT_USAGE)  # fmt: skip
        if not self.output.parent.is_dir():
            raise CommandFailed(f"cannot write {self.output}: there is no directory {self.output.parent}", EXIT_USAGE)
        with open_store(self.store) as store, _bar() as bar:
            progress = None
            if bar is not None:
                tasks = {"events": bar.add_task("events", total=count_events(store, since, until, config)),
                         "objects": bar.add_task("objects", total=None)}  # fmt: skip
                progress = lambda phase, rows: bar.advance(tasks[phase], rows)  # noqa: E731
            try:
                summary = export_ocel(store, since, until, self.output, progress, config)
            except QueryError as exc:
                raise CommandFailed(str(exc), EXIT_STORE) from exc
            except (OSError, sqlite3.Error) as exc:
                raise CommandFailed(f"cannot write {self.output}: {getattr(exc, 'strerror', None) or exc}",
                                    EXIT_USAGE) from exc  # fmt: skip
        if self.json_output:
            print_json(summary)
            return
        kinds = ", ".join(f"{count:,} {kind}" for kind, count in sorted(summary.objects_by_type.items())) or "none"
        print(f"wrote {summary.output} (OCEL 2.0 {summary.format}): {summary.events:,} events, {summary.objects:,} "
              f"objects ({kinds}), {summary.event_object:,} event-object and {summary.object_object:,} object-object "
              f"relationships in {summary.seconds:.1f}s")  # fmt: skip


class _bar:
    """A rich progress bar on stderr when it is a terminal; ``None`` otherwise."""

    def __enter__(self):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        console = Console(stderr=True)
        if not console.is_terminal:
            self.progress = None
            return None
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=console, transient=True)  # fmt: skip
        return self.progress.__enter__()

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)


class ExportCommand(BaseModel):
    """Export business data for other tools."""

    ocel: CliSubCommand[ExportOcel] = Field(description="an OCEL 2.0 log (.json, .jsonocel or .sqlite)")
    exceptions: CliSubCommand[ExportExceptions] = Field(description="every exception, as CSV or JSON lines")

    def cli_cmd(self) -> None:
        CliApp.run_subcommand(self)
