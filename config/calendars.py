"""Business calendars: when a site or a team works, so that SLA clocks run in business time.

A calendar has a time zone, working hours per weekday (a day not listed is closed), holidays
(closed dates) and an optional cut-off: a clock started after the cut-off of a working day (or
on a closed day) starts at the next working day's opening. An SLA measured on a calendar counts
working time only: ``within: 16h`` is sixteen working hours, two days of ``08:00-16:00``.

Which calendar measures the time to reach a stage (the first that applies):

1. the stage SLA's own ``calendar:``;
2. the calendar of the stage's site: ``sites:`` maps a system name (the ``system:`` a stage names,
   the system expected to report it, e.g. ``wms-east``) to a calendar;
3. the process's ``calendar:``;
4. none: the 24x7 clock.

An end-to-end SLA uses its own ``calendar:``, else the process's. Calendars are read when a
query runs, so a change applies to every transaction, past ones included. Example::

    calendars:
      berlin_wh:
        timezone: Europe/Berlin
        hours: {mon: "08:00-17:00", tue: "08:00-17:00", wed: "08:00-17:00", thu: "08:00-17:00",
                fri: "08:00-16:00"}
        holidays: [2026-12-24, 2026-12-25, 2026-12-26]
        cutoff: "15:00"              # or per weekday: {fri: "12:00"}
    sites:
      wms-east: berlin_wh
"""

from __future__ import annotations

import re
from datetime import date, time
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    from biztrace.config import AlertsConfig

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Weekday names of ``hours:``, Monday first (``date.weekday()`` order)."""

_CLOCK = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


def parse_clock(text: str) -> time | None:
    """``HH:MM`` as a time of day; ``24:00`` (the end of the day) as None."""
    match = _CLOCK.match(str(text).strip())
    if not match:
        raise ValueError(f"{text!r} is not a time of day like 08:00")
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour == 24:
        if minute:
            raise ValueError(f"{text!r} is after 24:00")
        return None
    return time(hour, minute)


def _minutes(text: str) -> int:
    clock = parse_clock(text)
    return 24 * 60 if clock is None else clock.hour * 60 + clock.minute


class Calendar(BaseModel):
    """One business calendar (see the module's documentation)."""

    model_config = ConfigDict(extra="forbid")

    timezone: str = Field(description="IANA time zone, e.g. Europe/Berlin")
    hours: dict[str, str] = Field(
        description="working hours per weekday (mon..sun) as 'HH:MM-HH:MM' (end up to 24:00); a day not listed "
        "is closed"
    )
    holidays: list[date] = Field(default_factory=list, description="closed dates (local)")
    cutoff: str | dict[str, str] | None = Field(
        None,
        description="'HH:MM', or per weekday ({fri: '12:00'}; a day not listed has none): a clock started later on "
        "a working day starts at the next working day's opening",
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{name!r} is not an IANA time zone (e.g. Europe/Berlin)") from None
        return name

    @field_validator("hours")
    @classmethod
    def _hours(cls, hours: dict[str, str]) -> dict[str, str]:
        for day, span in hours.items():
            if day not in WEEKDAYS:
                raise ValueError(f"{day!r} is not a weekday ({', '.join(WEEKDAYS)})")
            start, sep, end = str(span).partition("-")
            if not sep:
                raise ValueError(f"{day}: {span!r} is not working hours like 08:00-17:00")
            try:
                opens, closes = _minutes(start), _minutes(end)
            except ValueError as exc:
                raise ValueError(f"{day}: {exc}") from None
            if opens >= closes:
                raise ValueError(f"{day}: {span!r} closes before it opens")
            if closes - opens < 15:
                raise ValueError(f"{day}: {span!r} is shorter than 15 minutes")
        if not hours:
            raise ValueError("a calendar needs working hours on at least one weekday")
        return hours

    @field_validator("cutoff", mode="before")
    @classmethod
    def _sexagesimal(cls, cutoff: object) -> object:
        # YAML 1.1 reads an unquoted 15:00 as the base-60 number 900
        def clock(value: object) -> object:
            if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
                return f"{value // 60:02d}:{value % 60:02d}"
            return value

        return {day: clock(value) for day, value in cutoff.items()} if isinstance(cutoff, dict) else clock(cutoff)

    @field_validator("cutoff")
    @classmethod
    def _cutoff(cls, cutoff: str | dict[str, str] | None) -> str | dict[str, str] | None:
        for day, clock in (cutoff if isinstance(cutoff, dict) else {"": cutoff} if cutoff else {}).items():
            if day and day not in WEEKDAYS:
                raise ValueError(f"{day!r} is not a weekday ({', '.join(WEEKDAYS)})")
            if parse_clock(clock) is None:
                raise ValueError("a cut-off is a time of day before 24:00")
        return cutoff

    def cutoff_on(self, weekday: int) -> time | None:
        """The cut-off of a weekday (0: Monday), or None when it has none."""
        clock = self.cutoff.get(WEEKDAYS[weekday]) if isinstance(self.cutoff, dict) else self.cutoff
        return parse_clock(clock) if clock else None

    def span(self, weekday: int) -> tuple[time, time | None] | None:
        """The working hours of a weekday (0: Monday) as (opens, closes; None: 24:00), or None when closed."""
        text = self.hours.get(WEEKDAYS[weekday])
        if text is None:
            return None
        start, _, end = text.partition("-")
        opens = parse_clock(start)
        return (opens if opens is not None else time(0), parse_clock(end))


def stage_calendar(config: AlertsConfig, process: str, stage: str) -> str | None:
    """The calendar that measures the time to reach ``stage`` of ``process`` (None: 24x7)."""
    definition = config.processes[process]
    found = next(s for s in definition.stages if s.name == stage)
    if found.sla is not None and found.sla.calendar:
        return found.sla.calendar
    if found.system and found.system in config.sites:
        return config.sites[found.system]
    return definition.calendar


def end_to_end_calendar(config: AlertsConfig, process: str) -> str | None:
    """The calendar of a process's end-to-end SLA (None: 24x7)."""
    definition = config.processes[process]
    if definition.end_to_end is not None and definition.end_to_end.calendar:
        return definition.end_to_end.calendar
    return definition.calendar


def reference_problems(config: AlertsConfig) -> list[tuple[tuple[str | int, ...], str]]:
    """Every calendar name used (sites, processes, stage and end-to-end SLAs) that ``calendars:`` does not define."""
    known = config.calendars
    problems: list[tuple[tuple[str | int, ...], str]] = []

    def check(where: tuple[str | int, ...], name: str | None) -> None:
        if name is not None and name not in known:
            problems.append((where, f"calendar {name!r} is not defined under calendars"))

    for site, name in config.sites.items():
        check(("sites", site), name)
    for process_name, process in config.processes.items():
        check(("processes", process_name, "calendar"), process.calendar)
        if process.end_to_end is not None:
            check(("processes", process_name, "end_to_end", "calendar"), process.end_to_end.calendar)
        for index, stage in enumerate(process.stages):
            if stage.sla is not None:
                check(("processes", process_name, "stages", index, "sla", "calendar"), stage.sla.calendar)
    return problems
