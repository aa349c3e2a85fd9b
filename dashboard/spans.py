"""One stored span as a person reads it: durations in ms, times as dates, attributes as a table.

Pure functions of the record ``queries.span`` returns, so they are tested without Streamlit.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

OUTCOME = {"Unset": "ok", "Ok": "ok", "Error": "error"}
"""OpenTelemetry's status as an outcome: "Unset" (no error recorded) is ok, not a third state."""


def when(moment: Any) -> str:
    """A time with its year (UTC, to the second), or nothing."""
    if moment is None:
        return ""
    try:
        if pd.isna(moment):
            return ""
    except (TypeError, ValueError):
        pass
    return f"{pd.Timestamp(moment):%Y-%m-%d %H:%M:%S}"


def blank(frame: pd.DataFrame) -> pd.DataFrame:
    """Empty cells empty, never "None" or "nan": a column with a gap becomes text (numbers as
    written, ``12.5``), a column without one keeps its type."""
    out = frame.copy()
    for column in out.columns:
        missing = out[column].isna()
        if not missing.any():
            continue
        if pd.api.types.is_numeric_dtype(out[column]) or out[column].map(lambda v: isinstance(v, int | float)).all():
            text = out[column].map(lambda v: "" if pd.isna(v) else f"{v:,.2f}".rstrip("0").rstrip("."))
        else:
            text = out[column].map(lambda v: "" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v))
        out[column] = text.astype(str)
    return out


def plural(count: int, word: str) -> str:
    """ "1 hop", "3 hops"."""
    return f"{count:,} {word}" if count == 1 else f"{count:,} {word}s"


def facts(record: dict[str, Any]) -> dict[str, str]:
    """The span's name, service, kind, start (a date), duration (ms), outcome and parent."""
    status = str(record.get("StatusCode", ""))
    outcome = OUTCOME.get(status, status.lower())
    message = str(record.get("StatusMessage") or "")
    return {
        "span": str(record.get("SpanName", "")),
        "service": str(record.get("ServiceName", "")),
        "kind": str(record.get("SpanKind", "")).removeprefix("SPAN_KIND_").removeprefix("Span_Kind_").lower(),
        "started": when(record.get("Timestamp")),
        "duration": f"{float(record.get('Duration') or 0) / 1e6:,.1f} ms",
        "outcome": outcome + (f": {message}" if message else ""),
        "parent span": str(record.get("ParentSpanId") or "") or "(root)",
    }


def attributes(record: dict[str, Any]) -> pd.DataFrame:
    """The span's and its resource's attributes, one row each, sorted."""
    rows = [("span", k, str(v)) for k, v in sorted(dict(record.get("SpanAttributes") or {}).items())]
    rows += [("resource", k, str(v)) for k, v in sorted(dict(record.get("ResourceAttributes") or {}).items())]
    return pd.DataFrame(rows, columns=["of", "attribute", "value"])


def events(record: dict[str, Any]) -> pd.DataFrame:
    """The span's events: when (a date) and name."""
    times, names = record.get("event_times") or [], record.get("event_names") or []
    return pd.DataFrame([(when(t), str(n)) for t, n in zip(times, names, strict=False)], columns=["at", "event"])


def duration(ms: float | None) -> str:
    """A duration as a person reads it: "850 µs", "12.5 ms", "2.50 s", "3.2 min", "1.5 h"."""
    ms = float(ms or 0)
    if ms < 1:
        return f"{ms * 1000:.0f} µs"
    if ms < 1000:
        return f"{ms:,.1f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    if ms < 3_600_000:
        return f"{ms / 60_000:.1f} min"
    return f"{ms / 3_600_000:.1f} h"


def attribute_lines(attributes: dict[str, Any] | None, limit: int = 15, width: int = 80) -> str:
    """A span's attributes for a hover: "key = value" lines (sorted, HTML escaped, long values cut),
    at most ``limit`` of them and how many more."""
    from html import escape

    items = sorted(dict(attributes or {}).items())
    lines = [escape(f"{k} = {v if len(str(v)) <= width else str(v)[: width - 1] + '…'}") for k, v in items[:limit]]
    if len(items) > limit:
        lines.append(f"… {len(items) - limit} more (click the bar)")
    return "<br>".join(lines) or "no attributes"


INDENT = "\u00a0\u00a0"
"""One level of the waterfall's indentation (non-breaking: plotly keeps it)."""


def waterfall_label(name: str, depth: int, error: bool) -> str:
    """A span's row in the waterfall: indented by its depth, a failing span marked ✖."""
    return INDENT * int(depth) + ("✖ " if error else "") + str(name)
