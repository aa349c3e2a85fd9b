"""Markers any browser draws, the stage strip's markup, and the short time the Alerts page's "Since" shows."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from biztrace.dashboard import markers, ui


def test_alert_markers_are_shapes_with_their_word_and_no_emoji(no_glyph) -> None:
    for status in markers.ALERT_MARKERS:
        plain, coloured = markers.alert_status(status), markers.alert_status_markdown(status)
        assert plain.endswith(f" {status}") and coloured.endswith(f"] {status}"), (plain, coloured)
        assert not no_glyph(plain), plain
    assert markers.alert_status("unknown") == "unknown"


def test_the_stage_strip_breaks_names_only_after_a_dot_and_escapes_them() -> None:
    strip = markers.stage_strip([
        markers.Stage("inventory.allocated", "reached", "2026-12-05 06:48"),
        markers.Stage("<b>x</b>.y", "failed", "failed: <Timeout> at erp"),
        markers.Stage("payment.received", "ahead"),
    ])  # fmt: skip
    whole = re.findall(r'<span style="white-space:nowrap">([^<]*)</span>', strip)
    assert whole == ["inventory", "allocated", "&lt;b&gt;x&lt;/b&gt;", "y", "payment", "received"], whole
    assert "inventory</span>.<wbr>" in strip and "<b>" not in strip and "&lt;Timeout&gt;" in strip
    assert re.findall(r'data-kind="(\w+)"', strip) == ["reached", "failed", "ahead"]
    assert 'title="payment.received: not reached yet"' in strip


def test_short_time_has_the_year_only_when_it_is_not_this_year() -> None:
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    assert ui.short_time(datetime(2026, 12, 6, 3, 51, tzinfo=UTC), now) == "Dec 6 03:51"
    assert ui.short_time(datetime(2025, 12, 31, 23, 59, tzinfo=UTC), now) == "Dec 31 2025 23:59"
