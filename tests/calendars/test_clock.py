"""The business-time clock (readmodel/sql/clock.sql) through the real engine, with fixed instants across a
weekend, a holiday, a cut-off and both DST changes of Europe/Berlin and America/New_York."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from biztrace.config import ConfigError, loads
from biztrace.readmodel import calendars
from biztrace.readmodel.transactions import process_parameters

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS_8_17 = '{mon: "08:00-17:00", tue: "08:00-17:00", wed: "08:00-17:00", thu: "08:00-17:00", fri: "08:00-17:00"}'
CONFIG = f"""
calendars:
  wh_cutoff:   # 1: a Berlin warehouse: Good Friday and Easter Monday off, orders after 15:00 count from the next day
    timezone: Europe/Berlin
    hours: {WEEKDAYS_8_17}
    holidays: [2026-04-03, 2026-04-06]
    cutoff: "15:00"
  office:      # 2: the same hours, no cut-off
    timezone: Europe/Berlin
    hours: {WEEKDAYS_8_17}
    holidays: [2026-04-03, 2026-04-06]
  always:      # 3: every hour of every local day
    timezone: Europe/Berlin
    hours: {{mon: "00:00-24:00", tue: "00:00-24:00", wed: "00:00-24:00", thu: "00:00-24:00", fri: "00:00-24:00",
             sat: "00:00-24:00", sun: "00:00-24:00"}}
    holidays: [2026-12-25]
  ny:          # 4: a New York partner desk
    timezone: America/New_York
    hours: {WEEKDAYS_8_17}
    holidays: [2026-11-26]
  fri_noon:    # 5: a cut-off on Fridays only
    timezone: Europe/Berlin
    hours: {WEEKDAYS_8_17}
    holidays: [2026-03-02]
    cutoff: {{fri: "12:00"}}
"""
CAL = {"wh_cutoff": 1, "office": 2, "always": 3, "ny": 4, "fri_noon": 5}
H = 3_600_000


def local(zone: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=zone).astimezone(UTC)


# (calendar, clock started at, business ms allowed, expected due time)
DUE = [
    # a weekend, and the cut-off: Friday 16:00 is after 15:00, so the 4 hours count from Monday 08:00
    ("wh_cutoff", local(BERLIN, 2026, 3, 20, 16), 4 * H, local(BERLIN, 2026, 3, 23, 12)),
    ("office", local(BERLIN, 2026, 3, 20, 16), 4 * H, local(BERLIN, 2026, 3, 23, 11)),
    # Saturday, a closed day: from Monday's opening
    ("wh_cutoff", local(BERLIN, 2026, 3, 21, 10), 1 * H, local(BERLIN, 2026, 3, 23, 9)),
    # before the opening: from 08:00
    ("office", local(BERLIN, 2026, 3, 23, 6), 1 * H, local(BERLIN, 2026, 3, 23, 9)),
    # holidays: Thursday 10:00 + 16 working hours = Thursday's 7, then (Good Friday, the weekend, Easter Monday
    # closed) Tuesday's 9: due exactly at Tuesday's closing
    ("wh_cutoff", local(BERLIN, 2026, 4, 2, 10), 16 * H, local(BERLIN, 2026, 4, 7, 17)),
    # DST spring-forward (Sunday 29 March): Monday opens at 08:00 CEST, 06:00 UTC
    ("office", local(BERLIN, 2026, 3, 27, 16, 30), 1 * H, local(BERLIN, 2026, 3, 30, 8, 30)),
    # DST fall-back (Sunday 25 October): Monday opens at 08:00 CET, 07:00 UTC
    ("office", local(BERLIN, 2026, 10, 23, 16, 30), 1 * H, local(BERLIN, 2026, 10, 26, 8, 30)),
    # a 24-hour local day is 23 hours long on the spring-forward Sunday and 25 on the fall-back one
    ("always", local(BERLIN, 2026, 3, 29), 24 * H, local(BERLIN, 2026, 3, 30, 1)),
    ("always", local(BERLIN, 2026, 10, 25), 24 * H, local(BERLIN, 2026, 10, 25, 23)),
    # a holiday in a 24x7 calendar: Christmas Day does not count
    ("always", local(BERLIN, 2026, 12, 24, 12), 24 * H, local(BERLIN, 2026, 12, 26, 12)),
    # New York: spring-forward (8 March), Thanksgiving (26 November) and the weekend after it
    ("ny", local(NEW_YORK, 2026, 3, 6, 16), 2 * H, local(NEW_YORK, 2026, 3, 9, 9)),
    ("ny", local(NEW_YORK, 2026, 11, 25, 16), 2 * H, local(NEW_YORK, 2026, 11, 27, 9)),
    ("ny", local(NEW_YORK, 2026, 10, 30, 16), 2 * H, local(NEW_YORK, 2026, 11, 2, 9)),
    # a cut-off on one weekday only
    ("fri_noon", local(BERLIN, 2026, 3, 19, 13), 1 * H, local(BERLIN, 2026, 3, 19, 14)),
    ("fri_noon", local(BERLIN, 2026, 3, 20, 13), 1 * H, local(BERLIN, 2026, 3, 23, 9)),
]

# (calendar, from, to, expected business ms): B(to) - B(from), the elapsed time of a measured stage
ELAPSED = [
    ("office", local(BERLIN, 2026, 4, 2, 16), local(BERLIN, 2026, 4, 7, 9), 2 * H),
    ("office", local(BERLIN, 2026, 3, 27, 16), local(BERLIN, 2026, 3, 30, 9), 2 * H),
    ("always", local(BERLIN, 2026, 3, 28, 12), local(BERLIN, 2026, 3, 29, 12), 23 * H),  # real time, not wall clock
    ("always", local(BERLIN, 2026, 3, 29, 0), local(BERLIN, 2026, 3, 30, 0), 23 * H),
    ("always", local(BERLIN, 2026, 10, 25, 0), local(BERLIN, 2026, 10, 26, 0), 25 * H),
    # a clock started after the cut-off counts nothing until the next opening
    ("wh_cutoff", local(BERLIN, 2026, 3, 20, 15, 30), local(BERLIN, 2026, 3, 23, 9), 1 * H),
]

QUERY = """
SELECT i, ${business_due:cal,b} AS due, ${business_ms:cal,t2} - ${business_start_ms:cal,t1} AS elapsed
FROM (
    SELECT i, {cals:Array(UInt16)}[i] AS cal, fromUnixTimestamp64Milli({t1:Array(Int64)}[i], 'UTC') AS t1,
        fromUnixTimestamp64Milli({t2:Array(Int64)}[i], 'UTC') AS t2,
        ${business_start_ms:cal,t1} + {allowed:Array(Int64)}[i] AS b
    FROM (SELECT arrayJoin(arrayEnumerate({cals:Array(UInt16)})) AS i)
)
ORDER BY i
"""


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def test_due_times_and_elapsed_business_time(empty_store) -> None:
    config = loads(CONFIG)
    assert list(config.calendars) == list(CAL)
    cases = [(c, start, allowed, start) for c, start, allowed, _ in DUE] + [(c, t1, 0, t2) for c, t1, t2, _ in ELAPSED]
    parameters = process_parameters(config) | {
        "cals": [CAL[c] for c, *_ in cases],
        "t1": [_ms(t1) for _, t1, _, _ in cases],
        "t2": [_ms(t2) for *_, t2 in cases],
        "allowed": [allowed for _, _, allowed, _ in cases],
    }
    rows = empty_store.client.query(calendars.expand(QUERY), parameters=parameters).result_rows
    due = [row[1].replace(tzinfo=UTC) for row in rows[: len(DUE)]]
    assert due == [expected for *_, expected in DUE]
    assert [row[2] for row in rows[len(DUE) :]] == [expected for *_, expected in ELAPSED]


def test_compiled_span_and_errors() -> None:
    config = loads(CONFIG)
    compiled = calendars.compile_calendar(
        config.calendars["office"], *calendars.span(config.calendars["office"], datetime(2026, 3, 1).date())
    )
    day = (datetime(2026, 3, 30).date() - compiled.first).days
    assert compiled.open_ms[day] == _ms(local(BERLIN, 2026, 3, 30, 8))  # CEST
    assert compiled.len_ms[day - 1] == 0 and compiled.cum_ms[day] == compiled.cum_ms[day - 3] + 9 * H
    with pytest.raises(ConfigError, match=r"calendars\.x\.hours: .*closes before it opens"):
        loads("calendars: {x: {timezone: Europe/Berlin, hours: {mon: '17:00-08:00'}}}")
    with pytest.raises(ConfigError, match=r"calendars\.x\.timezone: 'Mars/Base' is not an IANA time zone"):
        loads("calendars: {x: {timezone: Mars/Base, hours: {mon: '08:00-17:00'}}}")
    with pytest.raises(ConfigError, match=r"sites\.wms-east: calendar 'nope' is not defined under calendars"):
        loads("sites: {wms-east: nope}")
    unquoted = loads("calendars: {x: {timezone: UTC, hours: {mon: 08:00-17:00}, cutoff: 15:00}}")  # YAML's 900
    assert unquoted.calendars["x"].cutoff == "15:00"
