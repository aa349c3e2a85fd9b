"""Business calendars compiled once into day-indexed arrays, so that ClickHouse runs SLA clocks in business time.

A calendar (:class:`biztrace.config.calendars.Calendar`) is compiled for a span of local days
(:func:`span`) into arrays, per local day ``d``: its opening and closing instants in UTC (time
zone rules, DST included, applied here by ``zoneinfo``), its cut-off instant, and the business
milliseconds of every earlier day (``cum``). In SQL, with ``d`` the local day of ``t``::

    B(t)       = cum[d] + clamp(t - open[d], 0, close[d] - open[d])     business ms up to t
    B_start(t) = cum[d] + close[d] - open[d]   if t is at or after d's cut-off, else B(t)

A duration is ``B(end) - B_start(start)``; a due time is the instant where ``B`` reaches
``B_start(start) + sla``. Every step is an O(1) array lookup (``sql/clock.sql``):

* the local day of ``t``: windows of 24 hours start at local noon of the first day, so each holds
  exactly one local midnight (``mid``); ``d = w + (t >= mid[w])`` with ``w`` the window of ``t``;
* the inverse of ``B``: the business time is cut into quanta no longer than the shortest working
  day; ``inv[k]`` is the day holding the quantum's start, and the due time lies on that day or on
  the next working day (``next``).

Instants before the span count as its first day's midnight; due times beyond it are clamped to it.
Stages and processes without a calendar keep the 24x7 clock: the SQL takes it when the calendar
number is 0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from importlib import resources
from string import Template
from typing import Any
from zoneinfo import ZoneInfo

from biztrace.config import AlertsConfig
from biztrace.config.calendars import Calendar, end_to_end_calendar, stage_calendar

DAY_MS = 86_400_000
SPAN_BEFORE_DAYS = 1100
"""Days compiled before today: how far back SLA clocks of stored transactions are right (the arrays travel
with every query, so a longer span costs every query a little)."""
SPAN_AFTER_DAYS = 400
"""Days compiled after today: how far ahead a due time can be placed."""
HOLIDAY_MARGIN_DAYS = 14
"""The span also covers every listed holiday, with this margin."""
MAX_QUANTA = 2_000_000
"""The inverse table's largest size for one calendar."""

_SQL = resources.files("biztrace.readmodel") / "sql"


class CalendarError(ValueError):
    """A calendar cannot be compiled for the span (a time zone that moves too far, no working day)."""


@dataclass(frozen=True)
class Compiled:
    """One calendar's arrays over ``days`` local days from ``first`` (see the module's documentation)."""

    first: date
    anchor_ms: int
    mid_ms: list[int]  # per window w: the local midnight inside it (the start of day w + 1)
    open_ms: list[int]
    len_ms: list[int]
    cut_ms: list[int]
    cum_ms: list[int]
    next_day: list[int]  # the next working day after d (the last day for the last ones)
    quantum_ms: int
    inv: list[int]  # per quantum k: the working day where business ms k * quantum_ms are reached

    @property
    def days(self) -> int:
        return len(self.open_ms)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _local(day: date, clock: time | None, zone: ZoneInfo) -> datetime:
    if clock is None:  # 24:00
        return datetime.combine(day + timedelta(days=1), time(0), zone)
    return datetime.combine(day, clock, zone)


def span(calendar: Calendar, today: date) -> tuple[date, date]:
    """The local days a calendar is compiled for: around ``today``, and every listed holiday."""
    first = today - timedelta(days=SPAN_BEFORE_DAYS)
    last = today + timedelta(days=SPAN_AFTER_DAYS)
    if calendar.holidays:
        first = min(first, min(calendar.holidays) - timedelta(days=HOLIDAY_MARGIN_DAYS))
        last = max(last, max(calendar.holidays) + timedelta(days=HOLIDAY_MARGIN_DAYS))
    return first, last


def compile_calendar(calendar: Calendar, first: date, last: date) -> Compiled:
    """The arrays of ``calendar`` for the local days ``first`` to ``last``.

    Raises:
        CalendarError: no working time in the span, or a time zone whose offset moves by 12 hours or more.
    """
    zone = ZoneInfo(calendar.timezone)
    holidays = set(calendar.holidays)
    days = (last - first).days + 1
    midnights = [_ms(_local(first + timedelta(days=j), time(0), zone)) for j in range(days + 1)]
    open_ms, len_ms, cut_ms, cum_ms = [], [], [], []
    total = 0
    for j in range(days):
        day = first + timedelta(days=j)
        hours = None if day in holidays else calendar.span(day.weekday())
        opens = closes = midnights[j]
        cut = midnights[j]
        if hours is not None:
            opens, closes = _ms(_local(day, hours[0], zone)), _ms(_local(day, hours[1], zone))
            closes = max(closes, opens)
            cutoff = calendar.cutoff_on(day.weekday())
            cut = min(_ms(_local(day, cutoff, zone)), closes) if cutoff else closes
        open_ms.append(opens)
        len_ms.append(closes - opens)
        cut_ms.append(cut)
        cum_ms.append(total)
        total += closes - opens
    working = [j for j in range(days) if len_ms[j] > 0]
    if not working:
        raise CalendarError(f"no working time between {first} and {last}")
    anchor = midnights[0] + DAY_MS // 2
    mid_ms = []
    for w in range(days):
        midnight = midnights[w + 1]
        if not anchor + w * DAY_MS <= midnight < anchor + (w + 1) * DAY_MS:
            moved = first + timedelta(days=w)
            raise CalendarError(f"{calendar.timezone} moves its clock by 12 hours or more around {moved}")
        mid_ms.append(midnight)
    next_day = [0] * days
    following = working[-1]
    for j in range(days - 1, -1, -1):
        next_day[j] = following
        if len_ms[j] > 0:
            following = j
    quantum = min(len_ms[j] for j in working)
    count = total // quantum + 1
    if count > MAX_QUANTA:
        raise CalendarError(f"working days of {quantum // 60000} minutes are too short for {days} days")
    inv = []
    position = 0  # into working
    for k in range(count):
        at = k * quantum
        while position + 1 < len(working) and cum_ms[working[position]] + len_ms[working[position]] < at:
            position += 1
        inv.append(working[position])
    return Compiled(first, anchor, mid_ms, open_ms, len_ms, cut_ms, cum_ms, next_day, quantum, inv)


@lru_cache(maxsize=32)
def _compiled(calendar_json: str, today: date) -> Compiled:
    calendar = Calendar.model_validate_json(calendar_json)
    return compile_calendar(calendar, *span(calendar, today))


_DAY_ARRAYS = ("mid_ms", "cum_ms", "open_ms", "len_ms", "cut_ms", "next_day")


@lru_cache(maxsize=8)
def _arrays(calendars: tuple[str, ...], today: date) -> dict[str, Any]:
    """Every calendar's arrays, concatenated (per-calendar offsets), as query parameters."""
    per: dict[str, list[int]] = {name: [] for name in ("anchor_ms", "first", "days", "quantum_ms", "inv_first",
                                                       "inv_count")}  # fmt: skip
    flat: dict[str, list[int]] = {name: [] for name in (*_DAY_ARRAYS, "inv")}
    for text in calendars:
        compiled = _compiled(text, today)
        per["anchor_ms"].append(compiled.anchor_ms)
        per["first"].append(len(flat["open_ms"]))
        per["days"].append(compiled.days)
        per["quantum_ms"].append(compiled.quantum_ms)
        per["inv_first"].append(len(flat["inv"]))
        per["inv_count"].append(len(compiled.inv))
        for name in _DAY_ARRAYS:
            flat[name].extend(getattr(compiled, name))
        flat["inv"].extend(compiled.inv)
    parameters: dict[str, Any] = {f"cal_{name}": values for name, values in per.items()}
    parameters.update({f"cal_{name}": ArrayLiteral(values) for name, values in flat.items()})
    return parameters


class ArrayLiteral:
    """A long array of integers as a query parameter, formatted once: clickhouse-connect formats a list element
    by element and escapes a string character by character (~40 ms per query for a few calendars), and sends
    any other value as its ``str()``."""

    __slots__ = ("text",)

    def __init__(self, values: list[int]) -> None:
        self.text = "[" + ",".join(map(str, values)) + "]"

    def __str__(self) -> str:
        return self.text


def calendar_parameters(config: AlertsConfig, today: date | None = None) -> dict[str, Any]:
    """What ``sql/clock.sql`` needs: the compiled calendars (numbered from 1 in ``calendars:`` order) and
    the calendar of each stage (``index_calendar``, in ``stage_codes`` order, 0: 24x7).

    Args:
        today: the day the span is centred on (default: today, UTC).

    Raises:
        CalendarError: a calendar cannot be compiled (see :func:`compile_calendar`).
    """
    numbers = {name: number for number, name in enumerate(config.calendars, start=1)}
    index_calendar = []
    for name, process in config.processes.items():
        for stage in process.stages:
            index_calendar.append(numbers.get(stage_calendar(config, name, stage.name) or "", 0))
    texts = tuple(calendar.model_dump_json() for calendar in config.calendars.values())
    arrays = _arrays(texts, today or datetime.now(UTC).date())
    return {**arrays, "index_calendar": index_calendar}


def end_to_end_parameters(config: AlertsConfig, today: date | None = None) -> dict[str, Any]:
    """:func:`calendar_parameters` plus ``e2e_calendar``: the calendar of each process with an end-to-end SLA,
    in the order of ``figures.sla_parameters``' ``e2e_processes``."""
    timed = [name for name, process in config.processes.items() if process.end_to_end]
    numbers = {name: number for number, name in enumerate(config.calendars, start=1)}
    return calendar_parameters(config, today) | {
        "e2e_calendar": [numbers.get(end_to_end_calendar(config, name) or "", 0) for name in timed]
    }


_MACRO = re.compile(r"\$\{(business_ms|business_start_ms|business_due):([^,{}]+),([^{}]+)\}")


_IDLE = {
    "business_ms": "toInt64(0)",
    "business_start_ms": "toInt64(0)",
    "business_due": "fromUnixTimestamp64Nano(toInt64(0))",
}
"""What the macros become for a configuration without calendars: every clock is 24x7 (calendar 0), so the
queries never take their value, and ClickHouse does not compute a clock for nothing."""


def expand(text: str, config: AlertsConfig | None = None) -> str:
    """Fill in the clock macros of a query (``sql/clock.sql``): ``${business_ms:cal,t}`` (business ms up
    to ``t``), ``${business_start_ms:cal,t}`` (the same for a clock started at ``t``: a start after the
    cut-off starts at the next opening) and ``${business_due:cal,b}`` (the instant, DateTime64(9), where
    the business ms reach ``b``). ``cal`` is a calendar number (1-based), ``t`` a DateTime64, ``b`` an
    Int64; both are expressions without commas or braces (a column name, typically). With a ``config``
    that has no calendars, each macro becomes a constant (:data:`_IDLE`)."""
    idle = config is not None and not config.calendars

    def one(match: re.Match[str]) -> str:
        name, calendar, argument = match.group(1), match.group(2).strip(), match.group(3).strip()
        if idle:
            return _IDLE[name]
        return "(" + Template(_expression(name)).substitute(cal=f"({calendar})", arg=f"({argument})") + ")"

    return _MACRO.sub(one, text)


@lru_cache(maxsize=4)
def _expression(name: str) -> str:
    """A section of ``sql/clock.sql`` with every section it names filled in (``$cal`` and ``$arg`` left)."""
    sections: dict[str, str] = {}
    current = None
    for line in (_SQL / "clock.sql").read_text().splitlines():
        if line.startswith("-- @"):
            current = line[4:].split()[0]
            sections[current] = ""
        elif current is not None and line.strip() and not line.lstrip().startswith("--"):
            sections[current] += line.strip() + " "
    wrapped = {key: f"({value.strip()})" for key, value in sections.items()}
    text = sections[name].strip()
    while True:
        filled = Template(text).safe_substitute(wrapped)
        if filled == text:
            return text
        text = filled
