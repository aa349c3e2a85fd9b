"""Each page's filters live in the URL (issue 16, item 2): a shared link sets the sidebar and the
figures, a change writes the URL, an unknown value is ignored with a notice, and links carry them."""

from __future__ import annotations

import json
from datetime import timedelta

from biztrace.dashboard import queries


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]
    return at


def _param(at, name: str):
    value = at.query_params.get(name)
    return value[0] if isinstance(value, list) else value


def test_a_shared_url_sets_the_filters_and_a_change_writes_them_back(app) -> None:
    at = _ok(app("admin", window="7d", process="order_to_cash", key="ignored-by-overview").run())
    side = at.sidebar
    assert side.selectbox(key="f_window").value == "7d" and side.selectbox(key="f_process").value == "order_to_cash"
    states = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if "states_chart" in c.proto.id)
    assert {x for bar in states["data"] for x in bar["x"]} == {"order_to_cash"}, "the figures follow the link's filters"
    # (unfiltered, the chart also shows customer_master)
    assert any("the last 7d" in m.help for m in at.metric if m.label == "Transactions")

    side.selectbox(key="f_channel").set_value(side.selectbox(key="f_channel").options[1]).run()
    _ok(at)
    channel = at.sidebar.selectbox(key="f_channel").value
    assert channel and _param(at, "channel") == channel
    assert _param(at, "window") == "7d" and _param(at, "process") == "order_to_cash", "the other filters stay"
    at.sidebar.selectbox(key="f_window").set_value("24h").run()
    assert "window" not in at.query_params, "a default is left out of the URL"
    at.switch_page("views/reconciliation.py").run()  # another page: the filters stay, in state and URL
    assert _param(_ok(at), "process") == "order_to_cash" and _param(at, "channel") == channel


def test_unknown_values_in_the_url_are_ignored_with_a_notice(app) -> None:
    today = queries.now().date()
    # as support, whose first page (search, no key) queries nothing: the sidebar is the same
    at = _ok(app("support", window="2y", process="no_such_process", priority="<b>urgent</b>").run())
    assert at.sidebar.selectbox(key="f_window").value == "24h"
    assert at.sidebar.selectbox(key="f_process").value == ""
    notice = " ".join(w.value for w in at.sidebar.warning)
    assert "window=2y" in notice and "process=no_such_process" in notice and "priority=<b>urgent</b>" in notice
    assert "window" not in at.query_params and "process" not in at.query_params

    start, end = today - timedelta(days=3), today - timedelta(days=1)
    at = _ok(app("support", window="custom", **{"from": start.isoformat(), "to": end.isoformat()}).run())
    assert at.sidebar.date_input(key="f_range").value == (start, end)
    bad = _ok(app("support", window="custom", **{"from": "2026-13-01", "to": "soon"}).run())
    assert "from=2026-13-01" in " ".join(w.value for w in bad.sidebar.warning)
    assert bad.sidebar.selectbox(key="f_window").value == "custom"


def test_the_process_map_keeps_its_process_in_the_url(app) -> None:
    at = app("admin", map="customer_master")
    at.run()
    at.switch_page("views/process_map.py").run()
    assert _ok(at).get("segmented_control")[0].value == "customer_master"  # not the first process
    at.get("segmented_control")[0].set_value("order_to_cash").run()
    assert _param(_ok(at), "map") == "order_to_cash"
    unknown = app("admin", map="nope")
    unknown.run()
    unknown.switch_page("views/process_map.py").run()
    assert "nope" in " ".join(c.value for c in _ok(unknown).caption)
    assert unknown.get("segmented_control")[0].value == "order_to_cash"


def test_links_carry_only_what_differs_from_the_defaults() -> None:
    from datetime import date
    from urllib.parse import urlencode

    from biztrace.dashboard import ui

    assert ui.filter_params(queries.Filters()) == {}
    custom = queries.Filters(window="custom", start=date(2026, 11, 1), end=date(2026, 11, 30), channel="web")
    assert urlencode(ui.filter_params(custom)) == "window=custom&from=2026-11-01&to=2026-11-30&channel=web"


def test_the_exception_queue_keeps_its_kind_state_and_sort_in_the_url(app) -> None:
    sorts = list(queries.EXCEPTION_SORTS)
    at = app("admin", kind="stuck", state="resolved", sort=sorts[1])
    at.run()
    at.switch_page("views/exceptions.py").run()
    assert _ok(at).multiselect(key="x_kinds").value == ["stuck"]
    assert at.multiselect(key="x_states").value == ["resolved"] and at.selectbox(key="x_sort").value == sorts[1]
    at.multiselect(key="x_kinds").set_value(["failed"]).run()
    assert _param(_ok(at), "kind") == "failed" and _param(at, "state") == "resolved"
    at.multiselect(key="x_states").set_value(["open", "acknowledged"]).run()
    assert "state" not in _ok(at).query_params, "the default states are left out of the URL"
    unknown = app("admin", kind="lost")
    unknown.run()
    unknown.switch_page("views/exceptions.py").run()
    assert "lost" in " ".join(c.value for c in _ok(unknown).caption) and unknown.multiselect(key="x_kinds").value == []
