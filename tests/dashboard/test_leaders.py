"""The Overview answers the operations leader's questions: is SLA adherence getting worse (over time,
beside the previous period), which channel or system is worst, over a custom range if need be.
Figures are checked against ``readmodel.figures.sla_adherence`` on the same store and moment."""

from __future__ import annotations

from datetime import timedelta

from streamlit.testing.v1 import AppTest

from biztrace import config as alerts_config
from biztrace.dashboard import queries, ui
from biztrace.dashboard.queries import Filters
from biztrace.readmodel import figures, rules


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _table(at: AppTest, column: str):
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _expected(store, filters: Filters, group: tuple[str, ...]):
    config = alerts_config.load()
    moment = ui.tick()
    with rules.snapshot(store, config, moment) as snapshot:
        bounded = f"(SELECT * FROM {snapshot} WHERE started_at >= {{window_start:DateTime64(9)}})"
        found = figures.sla_adherence(store, config, bounded, moment, filters.since(moment), group=group)
    return sorted([g for g in found if g.adherence is not None], key=lambda g: (g.adherence, -g.measured))


def test_channels_and_systems_are_ranked_worst_first_with_the_one_definition(app, populated) -> None:
    _, store = populated
    at = _run(app("operations"))
    channels = _table(at, "channel")
    expected = _expected(store, Filters(), ("channel",))
    assert list(channels["channel"]) == [g.labels["channel"] or "(none)" for g in expected]
    assert list(channels["SLA adherence"]) == [f"{g.adherence:.1%}" for g in expected]
    assert list(channels["measured"]) == [g.measured for g in expected]
    target = queries.sla_target(alerts_config.load())
    assert list(channels["vs target"]) == ["breach" if g.adherence < target else "met" for g in expected]
    systems = _table(at, "system")
    assert list(systems["system"]) == [g.labels["system"] or "(none)" for g in _expected(store, Filters(), ("system",))]


def test_sla_over_time_sits_beside_the_previous_period_and_the_buckets_add_up(app, populated) -> None:
    _, store = populated
    at = _run(app("operations"))
    caption = next(c.value for c in at.caption if c.value.startswith("this period"))
    overall = figures.overall(_expected(store, Filters(), ("process",)))
    assert f"this period {overall.adherence:.1%} ({overall.met:,} of {overall.measured:,})" in caption
    assert "previous period" in caption and "target 95%" in caption
    assert "still filling" in caption, "the 24h window's last hour bucket is not over"
    moment = ui.tick()
    frame = queries.overview(alerts_config.load(), Filters(), moment).sla_trend
    assert int(frame["met"].sum()) == overall.met and int(frame["measured"].sum()) == overall.measured


def test_a_custom_range_in_the_sidebar_narrows_the_figures(app, populated) -> None:
    at = _run(app("operations"))
    at.sidebar.selectbox(key="f_window").set_value("7d").run()  # (24h is nearly "yesterday" just after midnight)
    before = int(next(m.value for m in at.metric if m.label == "Transactions").replace(",", ""))
    at.sidebar.selectbox(key="f_window").set_value("custom").run()
    today = queries.now().date()
    at.sidebar.date_input(key="f_range").set_value((today - timedelta(days=1), today - timedelta(days=1))).run()
    assert not at.exception, [e.value for e in at.exception]
    yesterday = int(next(m.value for m in at.metric if m.label == "Transactions").replace(",", ""))
    assert 0 < yesterday < before
    assert any(f"{today - timedelta(days=1)} to {today - timedelta(days=1)}" in (m.help or "") for m in at.metric)


def test_a_cut_list_says_so() -> None:
    assert ui.shown(500, 1234) == "first 500 of 1,234"
    assert ui.shown(12, 12) == "all 12"


def test_the_previous_period_is_the_read_models_adherence_of_the_transactions_started_then(
    populated, monkeypatch
) -> None:
    """The comparison line (the period before the window, as long as it): per bucket, the read model's
    end-to-end SLA adherence of the transactions started in that period, for every process and for one."""
    dsn, store = populated
    monkeypatch.setenv("BIZTRACE_STORE", dsn)  # the dashboard's queries ask the populated store
    config = alerts_config.load()
    moment = ui.tick()
    for process in ("", "order_to_cash"):
        filters = Filters(window="24h", process=process)
        since, until = filters.since(moment) - filters.span(moment), filters.since(moment)
        frame = queries.previous_sla_trend(config, filters, moment)
        with rules.snapshot(store, config, moment) as snapshot:
            bounded = (f"(SELECT * FROM {snapshot} WHERE started_at >= {{window_start:DateTime64(9)}} "
                       f"AND started_at <= '{until:%Y-%m-%d %H:%M:%S.%f}')")  # fmt: skip
            found = figures.sla_adherence(store, config, bounded, moment, since, process=process or None)
        expected = figures.overall(found)
        assert expected.measured > 0, process
        assert (int(frame["met"].sum()), int(frame["measured"].sum())) == (expected.met, expected.measured), process
        shifted = frame["bucket"] >= until.replace(tzinfo=None)  # the frame's times are naive UTC
        assert shifted.all(), "the buckets are shifted by one period onto the window's"
