"""Mapping rules: spans that do not follow ``shared/CONVENTIONS.md`` made into business hops by configuration.

A rule matches spans by ``service.name`` and, optionally, span name (exact, or a pattern with
``{placeholder}`` segments such as ``POST /api/orders/{id}/ship``), and says which stage,
process and system such a span reports and where its business keys are: under another
attribute (``order.id: sales_order_number``) or in a placeholder of the span name
(``order.id: "{id}"``). Rules are applied when the data is read, so a changed rule applies to
spans already stored, like an SLA.

Example::

    mappings:
      - when: {service: legacy-oms, span_name: "POST /api/orders/{id}/ship"}
        set: {stage: shipment.confirmed, process: order_to_cash}
        keys: {order.id: "{id}"}
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

KeyAttribute = Literal["order.id", "customer.id", "invoice.id", "shipment.id", "return.id"]
"""The business keys a mapping can fill (the keys of ``biztrace.config.KEY_COLUMNS``)."""

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)\}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class MappingWhen(_Strict):
    """Which spans a rule applies to."""

    service: str = Field(min_length=1, description="the resource's service.name")
    span_name: str | None = Field(None, description="exact span name, or a pattern with {placeholder} segments")


class MappingSet(_Strict):
    """What a matched span reports (unset: what the span's own attributes say)."""

    stage: str | None = None
    process: str | None = None
    system: str | None = None


class Mapping(_Strict):
    """One mapping rule; the first rule (in file order) that matches a span applies."""

    when: MappingWhen
    set_: MappingSet = Field(default_factory=MappingSet, alias="set")
    keys: dict[KeyAttribute, str] = Field(
        default_factory=dict, description='key attribute: the span attribute holding it, or "{placeholder}"'
    )

    @model_validator(mode="after")
    def _placeholders_exist(self) -> Mapping:
        names = self.placeholders()
        for key, source in self.keys.items():
            match = _PLACEHOLDER.fullmatch(source)
            if match and match.group(1) not in names:
                raise ValueError(f"keys.{key}: {source} is not a placeholder of the span name")
            if not source:
                raise ValueError(f"keys.{key}: give an attribute name or a {{placeholder}}")
        return self

    def placeholders(self) -> list[str]:
        """The placeholder names of the span name pattern, in order."""
        return _PLACEHOLDER.findall(self.when.span_name or "")

    def span_name_regex(self) -> str:
        """An anchored regular expression for the span name ('' matches any name); each
        placeholder is one capture group matching a run of characters other than ``/``."""
        pattern = self.when.span_name
        if pattern is None:
            return ""
        parts, end = [], 0
        for match in _PLACEHOLDER.finditer(pattern):
            parts.append(re.escape(pattern[end : match.start()]))
            parts.append("([^/]+)")
            end = match.end()
        parts.append(re.escape(pattern[end:]))
        return "^" + "".join(parts) + "$"

    def key_source(self, key: str) -> tuple[str, int]:
        """Where this rule takes ``key`` from: (attribute name, 0) or ('', placeholder's group number)."""
        source = self.keys.get(key)  # type: ignore[call-overload]
        if source is None:
            return key, 0
        match = _PLACEHOLDER.fullmatch(source)
        if match:
            return "", self.placeholders().index(match.group(1)) + 1
        return source, 0
