"""``biztrace variants``: the paths of stages that orders, shipments or returns took, most frequent first."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Literal

from pydantic import AliasChoices, Field

from biztrace import config as alerts_config
from biztrace.cli.remote import remote_for
from biztrace.cli.util import EXIT_NOT_FOUND, EXIT_STORE, EXIT_USAGE, CommandFailed, open_store, print_json
from biztrace.config.errors import ConfigError
from biztrace.readmodel.errors import QueryError
from biztrace.readmodel.models import naive_utc
from biztrace.store.options import StoreOptions


class VariantsCommand(StoreOptions):
    """The variants of one object type: each distinct sequence of stages its objects went through,
    with how many objects followed it and their share, most frequent first (the rest as "other").

    An object's stages are those of the hops carrying its key, mapped spans included; a stage
    repeated in a row counts once. Process-mining tools call these variants.

    Example: biztrace variants --object shipment --window 7d --json
    """

    object_type: Literal["order", "shipment", "return"] = Field(
        validation_alias=AliasChoices("object"), description="the object type: order, shipment or return"
    )
    window: str = Field("24h", description="hops in this window before --until (30m, 24h, 7d)")
    since: datetime | None = Field(None, description="from (ISO 8601, UTC unless it names a zone; overrides --window)")
    until: datetime | None = Field(None, description="to, exclusive (default: now)")
    top: int = Field(10, ge=1, le=1000, description="variants listed; the rest are summed into one other row")
    config: str | None = Field(None, description="process/SLA/rule YAML (default: the built-in one)")
    json_output: bool = Field(False, validation_alias=AliasChoices("json"), description="print one JSON document")

    def cli_cmd(self) -> None:
        from biztrace.readmodel.variants import Variants, variants

        try:
            length = alerts_config.parse_duration(self.window)
            config = alerts_config.load(self.config)
        except (ValueError, ConfigError) as exc:
            raise CommandFailed(str(exc).splitlines()[0], EXIT_USAGE) from exc
        until = naive_utc(self.until or datetime.now(UTC))
        since = naive_utc(self.since) if self.since else until - length
        if since >= until:
            raise CommandFailed(f"--since {since:%Y-%m-%d %H:%M:%S} is not before --until {until:%Y-%m-%d %H:%M:%S}",
                                EXIT_USAGE)  # fmt: skip
        try:
            with open_store(self.store) as store:
                try:
                    found = variants(store, config, self.object_type, since, until, top=self.top)
                except QueryError as exc:
                    raise CommandFailed(str(exc), EXIT_STORE) from exc
        except CommandFailed as failure:  # a running biztrace holds the store: ask its API (its configuration)
            api = remote_for(self.store, failure)
            params = {"object": self.object_type, "since": since.isoformat(), "until": until.isoformat()}
            found = Variants.model_validate(api.call("GET", "/variants", params=params | {"top": self.top}))
        if self.json_output:
            print_json(found)
        if not found.variants:
            raise CommandFailed(f"no {self.object_type} reached a stage between {since:%Y-%m-%d %H:%M} and "
                                f"{until:%Y-%m-%d %H:%M} UTC", EXIT_NOT_FOUND)  # fmt: skip
        if self.json_output:
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(
            title=f"{found.objects:,} {self.object_type}s, {since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC"
        )
        for column in ("#", "variant", "objects", "share"):
            table.add_column(column, justify="right" if column != "variant" else "left")
        for rank, variant in enumerate(found.variants, start=1):
            table.add_row(
                "" if variant.other else str(rank), variant.path, f"{variant.objects:,}", f"{variant.share:.1%}"
            )
        Console(width=None if sys.stdout.isatty() else 200).print(table)
