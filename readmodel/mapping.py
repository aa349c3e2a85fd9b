"""Mapping rules (config ``mappings:``) as the parameters ``sql/mapped_hops.sql`` applies when it reads spans.

The rules are applied at query time, never written back: a span a rule matches is read from
``otel_traces`` (sorted by ``service.name``, so only the mapped services' spans are read) and
becomes a hop like any stored one. A changed rule applies to every span already stored, and data
of unmapped services costs what it cost before (the mapped branch reads no granule).
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from biztrace.config import KEY_COLUMNS, AlertsConfig

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


def mapped_spans_sql(config: AlertsConfig) -> str:
    """``sql/mapped_spans.sql`` for ``config``'s rules: one branch per rule, joined by UNION ALL, its number a
    constant in its branch; a span is taken by the first rule of its service that matches it."""
    text = (resources.files("biztrace.readmodel") / "sql" / "mapped_spans.sql").read_text().strip()
    branches = []
    for number, rule in enumerate(config.mappings, start=1):
        earlier = [f"NOT match(SpanName, {{map_regex:Array(String)}}[{before}])"
                   for before, other in enumerate(config.mappings[: number - 1], start=1)
                   if other.when.service == rule.when.service]  # fmt: skip
        branches.append(text.replace("${rule}", str(number)).replace("${earlier}", " AND ".join(earlier) or "true"))
    return "\nUNION ALL\n".join(branches)
