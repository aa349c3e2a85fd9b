"""``biztrace scorecards``: SLA scorecards per customer, trading partner, channel or system."""

from __future__ import annotations

import csv
import sys
from datetime import UTC, datetime
from typing import Literal

from pydantic import AliasChoices, Field

from biztrace import config as alerts_config
from biztrace.cli.remote import remote_for
from biztrace.cli.util import (
    EXIT_NOT_FOUND,
    EXIT_STORE,
    EXIT_USAGE,
    CommandFailed,
    open_store,
    print_json,
    working,
)
from biztrace.config.errors import ConfigError
from biztrace.readmodel.errors import QueryError
from biztrace.readmodel.models import format_money, naive_utc
from biztrace.store.options import StoreOptions


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _points(value: float | None) -> str:
    return "" if value is None else f"{value * 100:+.1f} pt"


class ScorecardsCommand(StoreOptions):
    """SLA scorecards of the transactions started in the last --period, against the period before it
    (as long): transactions, end-to-end and stage SLA adherence, p50/p90 stage times, exceptions and
    mismatches by kind, money affected per currency, and the trend. One row per customer
    (customer.id), trading partner (the system that reported the capture stage), channel or system at
    fault; '(none)' for transactions without one. The --limit rows with the most transactions.

    Example: biztrace scorecards --by customer --period 30d --limit 20 --csv > scorecards.csv
    """

    by: Literal["customer", "partner", "channel", "system"] = Field("customer", description="one row per this")
    period: str = Field("7d", description="the period ending now (30m, 24h, 7d, 30d)")
    process: str | None = Field(None, description="only this process")
    limit: int = Field(50, ge=1, le=100_000, description="rows: those with the most transactions in the period")
    config: str | None = Field(None, description="process/SLA/rule YAML (default: the built-in one)")
    json_output: bool = Field(False, validation_alias=AliasChoices("json"), description="print one JSON document")
    csv_output: bool = Field(False, validation_alias=AliasChoices("csv"), description="print CSV, one row per line")

    def cli_cmd(self) -> None:
        from biztrace.readmodel.scorecards import Scorecards, csv_rows, scorecards

        try:
            length = alerts_config.parse_duration(self.period)
            config = alerts_config.load(self.config)
        except (ValueError, ConfigError) as exc:
            raise CommandFailed(str(exc).splitlines()[0], EXIT_USAGE) from exc
        if self.json_output and self.csv_output:
            raise CommandFailed("--json and --csv: choose one", EXIT_USAGE)
        now = naive_utc(datetime.now(UTC))
        try:
            with open_store(self.store) as store, working(f"computing the scorecards of the last {self.period}"):
                try:
                    found = scorecards(store, config, now, period=length, by=self.by, process=self.process or "",
                                       limit=self.limit)  # fmt: skip
                except ValueError as exc:
                    raise CommandFailed(str(exc).splitlines()[0], EXIT_USAGE) from exc
                except QueryError as exc:
                    raise CommandFailed(str(exc), EXIT_STORE) from exc
        except CommandFailed as failure:  # a running biztrace holds the store: ask its API (its configuration)
            api = remote_for(self.store, failure)
            params = {"by": self.by, "period": self.period, "process": self.process, "limit": self.limit}
            with working(f"asking {api.url} for the scorecards"):
                found = Scorecards.model_validate(api.call("GET", "/scorecards", params=params))
        if self.json_output:
            print_json(found)
            return
        if self.csv_output:
            rows = csv_rows(found)
            if rows:
                writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]), lineterminator="\n")
                writer.writeheader()
                writer.writerows(rows)
            return
        if not found.rows:
            raise CommandFailed(f"no transaction started since {found.previous_start:%Y-%m-%d %H:%M} UTC",
                                EXIT_NOT_FOUND)  # fmt: skip
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"SLA scorecards by {self.by}, {found.start:%Y-%m-%d %H:%M} to {found.now:%Y-%m-%d %H:%M}"
                      f" UTC against the period before ({len(found.rows)} of {found.scopes})")  # fmt: skip
        for column in (self.by, "transactions", "e2e SLA", "trend", "stage SLAs", "trend", "exceptions",
                       "money affected"):  # fmt: skip
            table.add_column(column, justify="left" if column == self.by else "right")
        for row in found.rows:
            now_, trend = row.current, row.trend
            table.add_row(
                row.name, f"{now_.transactions:,} ({trend.transactions:+,})", _pct(now_.end_to_end.adherence),
                _points(trend.end_to_end), _pct(now_.stage_adherence), _points(trend.stage_sla),
                f"{sum(now_.exceptions.values()):,} ({trend.exceptions:+,})",
                " ".join(format_money(amount, currency) for currency, amount in sorted(now_.money_affected.items())),
            )  # fmt: skip
        Console(width=None if sys.stdout.isatty() else 200).print(table)
