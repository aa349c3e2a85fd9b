"""Variants per object type: the distinct paths of stages that orders, shipments or returns took.

Process-mining users read a process by its variants: for each object of a type, the sequence of
stages its hops reached (oldest first, a stage repeated in a row counted once), then each distinct
sequence with how many objects followed it and their share, most frequent first. The first ``top``
are listed; the rest are summed into one "other" row that says how many variants it holds.

An object's hops are those that carry its key (a shipment.confirmed hop with only shipment.id is
its shipment's, as in the OCEL export's event-to-object relationships), and those placed in a
process keyed by its type whose key was resolved to it through the key graph. Computed in
ClickHouse (``sql/variants.sql``) over the business hops, mapped spans included.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from clickhouse_connect.driver.exceptions import ClickHouseError
from pydantic import BaseModel, Field

from biztrace.config import AlertsConfig
from biztrace.readmodel.errors import QueryError
from biztrace.readmodel.models import naive_utc
from biztrace.readmodel.transactions import process_parameters, sql
from biztrace.store import Store

ObjectType = Literal["order", "shipment", "return"]
OBJECT_TYPES: tuple[ObjectType, ...] = ("order", "shipment", "return")


class Variant(BaseModel):
    """One path of stages and the objects that followed it (or, ``other``, the variants not listed)."""

    stages: list[str] = Field(description="the stages reached, oldest first; empty for the other row")
    objects: int
    share: float = Field(description="of all the type's objects in the window, 0-1")
    variants: int = Field(1, description="how many distinct paths the row holds (1, or more for other)")
    other: bool = Field(False, description="the variants beyond the listed ones, summed")

    @property
    def path(self) -> str:
        return " → ".join(self.stages) if not self.other else f"other ({self.variants} variants)"


class Variants(BaseModel):
    """The variants of one object type in ``[since, until)``."""

    object_type: ObjectType
    since: datetime
    until: datetime
    objects: int = Field(description="objects of the type with at least one stage in the window")
    variants: list[Variant] = Field(description="most frequent first; the other row, if any, last")


def variants(
    store: Store, config: AlertsConfig, object_type: ObjectType, since: datetime, until: datetime, top: int = 10
) -> Variants:
    """The variants of ``object_type``'s objects whose hops reached a stage in ``[since, until)``.

    Raises:
        QueryError: ClickHouse refused the query.
    """
    since, until = naive_utc(since), naive_utc(until)
    parameters = process_parameters(config) | {
        "db": store.database, "kind": object_type, "since": since, "until": until, "top": top,
        "object_processes": list(config.processes),
        "object_process_kinds": [process.key.split(".")[0] for process in config.processes.values()],
    }  # fmt: skip
    try:
        rows = store.client.query(sql("variants", config, keys=False), parameters=parameters).named_results()
        found = [Variant(stages=row["stages"], objects=row["objects"], share=row["share"],
                         variants=row["variants"], other=not row["listed"]) for row in rows]  # fmt: skip
    except ClickHouseError as exc:
        raise QueryError(f"ClickHouse refused the variants query: {str(exc).strip().splitlines()[0][:300]}") from exc
    return Variants(object_type=object_type, since=since, until=until, objects=sum(v.objects for v in found),
                    variants=found)  # fmt: skip
