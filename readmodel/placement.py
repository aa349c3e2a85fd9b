"""Hops that could not be placed in a process: reported, never guessed (CONVENTIONS v2).

A stage that two configured processes share places nothing by itself: such a hop must say
``biz.process``, and one that does not is counted here (``sql/unplaced_hops.sql``) with examples,
as is a hop naming a stage no process declares. ``db status`` and the API show the report.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from biztrace.config import AlertsConfig
from biztrace.readmodel.transactions import process_parameters, sql
from biztrace.store import Store


class UnplacedHop(BaseModel):
    """One example span."""

    at: datetime
    trace_id: str
    span_id: str
    service: str
    span_name: str
    process: str = Field(description="the process it was placed in ('' for none)")


class UnplacedStage(BaseModel):
    """The hops of one stage that could not be placed, and why."""

    reason: Literal["shared_stage", "unknown_stage"]
    stage: str
    processes: list[str] = Field(description="the configured processes that declare the stage")
    hops: int
    first_at: datetime
    last_at: datetime
    examples: list[UnplacedHop]


class UnplacedReport(BaseModel):
    """Every stage with unplaced hops in the window, most hops first within each reason."""

    since: datetime
    now: datetime
    shared_stage_hops: int = Field(description="hops of a shared stage without biz.process: in no transaction")
    unknown_stage_hops: int = Field(description="hops naming a stage no configured process declares")
    stages: list[UnplacedStage]


def unplaced_hops(
    store: Store, config: AlertsConfig, now: datetime, since: datetime, examples: int = 5
) -> UnplacedReport:
    """The hops between ``since`` and ``now`` that are in no process's stages (see the module doc)."""
    parameters = process_parameters(config) | {"db": store.database, "now": now, "since": since, "examples": examples}
    declared: dict[str, list[str]] = {}
    for name, process in config.processes.items():
        for stage in process.stage_names():
            declared.setdefault(stage, []).append(name)
    stages = []
    for row in store.client.query(sql("unplaced_hops", config), parameters=parameters).named_results():
        row["examples"] = [
            UnplacedHop(at=at, trace_id=trace, span_id=span, service=service, span_name=name, process=process)
            for at, trace, span, service, name, process in row["examples"]
        ]
        stages.append(UnplacedStage(processes=declared.get(row["stage"], []), **row))
    return UnplacedReport(
        since=since,
        now=now,
        shared_stage_hops=sum(s.hops for s in stages if s.reason == "shared_stage"),
        unknown_stage_hops=sum(s.hops for s in stages if s.reason == "unknown_stage"),
        stages=stages,
    )
