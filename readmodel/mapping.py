"""Mapping rules (config ``mappings:``) as the parameters ``sql/mapped_hops.sql`` applies when it reads spans.

The rules are applied at query time, never written back: a span a rule matches is read from
``otel_traces`` (sorted by ``service.name``, so only the mapped services' spans are read) and
becomes a hop like any stored one. A changed rule applies to every span already stored, and data
of unmapped services costs what it cost before (the mapped branch reads no granule).

A reader that asks many statements in a row (the alert loop's pass: a dozen) applies the rules once
instead: within :func:`materialized`, the SQL built for the same rules reads their spans from a Memory
table filled at the block's start.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from importlib import resources
from typing import Any

from biztrace.config import KEY_COLUMNS, AlertsConfig
from biztrace.store import Store

KEY_ORDER = tuple(KEY_COLUMNS)
"""The key attributes in the order ``sql/mapped_hops.sql`` numbers their columns (1..5: OrderId,
CustomerId, InvoiceId, ShipmentId, ReturnId), the order of ``KEY_COLUMNS``."""


def mapping_parameters(config: AlertsConfig) -> dict[str, Any]:
    """The mapping rules as parallel arrays, one element per rule in file order (empty without rules)."""
    rules = config.mappings
    sources = [[rule.key_source(key) for key in KEY_ORDER] for rule in rules]
    return {
        "map_services": sorted({rule.when.service for rule in rules}),
        "map_service": [rule.when.service for rule in rules],
        "map_regex": [rule.span_name_regex() for rule in rules],
        "map_stage": [rule.set_.stage or "" for rule in rules],
        "map_process": [rule.set_.process or "" for rule in rules],
        "map_system": [rule.set_.system or "" for rule in rules],
        "map_key_attr": [[attribute for attribute, _ in row] for row in sources],
        "map_key_group": [[group for _, group in row] for row in sources],
    }


_MATERIALIZED: ContextVar[tuple[list, str] | None] = ContextVar("biztrace_mapped_spans", default=None)
"""Within :func:`materialized`: its rules and the table holding the spans they make hops."""


@contextmanager
def materialized(store: Store, config: AlertsConfig) -> Iterator[None]:
    """The spans ``config``'s rules make hops, read once into a Memory table for the block: the SQL built
    in it for the same rules (:func:`mapped_spans_sql`, in this thread and in the lanes of
    ``Store.side_by_side``) reads that table instead of applying the rules again. Each statement that
    applies them plans a branch per rule and its key-graph links (at 1M transactions and 10,000 mapped
    spans, the alert pass's statements took ~0.5 s more than without rules; filling the table ~0.06 s; it
    holds ~0.3 KB per mapped span while the block runs).
    The spans are those stored when the block starts. One stored later is read by the next block: the alert
    loop's next pass counts it as stored since the watermark of this one, taken just after the table is
    filled less an overlap (``snapshots.SETTLE``, two minutes) that covers the milliseconds between.
    Without rules, nothing is filled."""
    if not config.mappings:
        yield
        return
    parameters = {"db": store.database} | mapping_parameters(config)
    with store.memory_table(mapped_spans_sql(config), parameters, "biztrace_mapped") as table:
        token = _MATERIALIZED.set((list(config.mappings), table))
        try:
            yield
        finally:
            _MATERIALIZED.reset(token)


def mapped_spans_sql(config: AlertsConfig) -> str:
    """``sql/mapped_spans.sql`` for ``config``'s rules: one branch per rule, joined by UNION ALL, its number a
    constant in its branch; a span is taken by the first rule of its service that matches it. Within
    :func:`materialized` for the same rules: a read of its table."""
    current = _MATERIALIZED.get()
    if current is not None and current[0] == config.mappings:
        return f"SELECT * FROM {{db:Identifier}}.`{current[1]}`"
    text = (resources.files("biztrace.readmodel") / "sql" / "mapped_spans.sql").read_text().strip()
    branches = []
    for number, rule in enumerate(config.mappings, start=1):
        earlier = [f"NOT match(SpanName, {{map_regex:Array(String)}}[{before}])"
                   for before, other in enumerate(config.mappings[: number - 1], start=1)
                   if other.when.service == rule.when.service]  # fmt: skip
        branches.append(text.replace("${rule}", str(number)).replace("${earlier}", " AND ".join(earlier) or "true"))
    return "\nUNION ALL\n".join(branches)
