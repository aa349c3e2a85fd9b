"""``biztrace figures``: the headline figures of a window, as the Overview and the API show them."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from pydantic import AliasChoices, Field

from biztrace import config as alerts_config
from biztrace.cli.remote import remote_for
from biztrace.cli.util import EXIT_USAGE, CommandFailed, open_store, print_json, working
from biztrace.config.errors import ConfigError
from biztrace.readmodel.figures import Figures, headline
from biztrace.store.options import StoreOptions


class FiguresCommand(StoreOptions):
    """End-to-end SLA adherence (per process and overall) and mismatch rates over a window.

    One definition each (readmodel/figures.py): the Overview, the sla_adherence and mismatch_rate
    rules, the API and /metrics show the same numbers.

    Example: biztrace figures --window 7d --json
    """

    window: str = Field("7d", description="transactions started in this window before now (30m, 24h, 7d)")
    config: str | None = Field(None, description="process/SLA/rule YAML (default: the built-in one)")
    now: datetime | None = Field(None, description="as of this time (ISO 8601; default: the clock)")
    json_output: bool = Field(False, validation_alias=AliasChoices("json"), description="print one JSON document")

    def cli_cmd(self) -> None:
        try:
            length = alerts_config.parse_duration(self.window)
            config = alerts_config.load(self.config)
        except (ValueError, ConfigError) as exc:
            raise CommandFailed(str(exc).splitlines()[0], EXIT_USAGE) from exc
        now = (
            (self.now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
            if self.now and self.now.tzinfo
            else (self.now or datetime.now(UTC).replace(tzinfo=None))
        )
        try:
            with open_store(self.store) as store, working(f"computing the figures of the last {self.window}"):
                figures = headline(store, config, now, now - length)
        except CommandFailed as failure:
            answer = remote_for(self.store, failure).call("GET", "/figures", params={"window": self.window})
            figures = Figures.model_validate(answer)
        if self.json_output:
            print_json(figures)
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"started since {figures.window_start:%Y-%m-%d %H:%M} UTC")
        for column in ("process", "SLA adherence", "met", "missed", "pending", "mismatch rate", "pairs"):
            table.add_column(column)
        rates = {rate.scope: rate for rate in figures.mismatch_rates}
        for group in [*figures.sla_adherence, figures.sla_adherence_overall]:
            process = group.labels.get("process", "all")
            rate = rates.get(process)
            table.add_row(process, f"{group.adherence:.1%}" if group.adherence is not None else "-", str(group.met),
                          str(group.missed), str(group.pending), f"{rate.rate:.2%}" if rate else "-",
                          str(rate.pairs) if rate else "-")  # fmt: skip
        Console(width=None if sys.stdout.isatty() else 200).print(table)
