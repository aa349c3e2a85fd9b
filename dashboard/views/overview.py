"""Overview, for operations leaders: are we meeting our SLAs, and where are orders piling up?"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from biztrace.dashboard import charts, data, queries, ui
from biztrace.readmodel import overview as read_overview
from biztrace.readmodel.models import format_money
from biztrace.readmodel.transactions import transactions

LIMIT = 500
ui.page_user("overview")
config = ui.load_config()
filters = ui.current_filters()


@st.cache_data(ttl=600, show_spinner=False, max_entries=32)
def _figures(filters_json: str, at) -> tuple[queries.Overview, pd.DataFrame]:
    """The window's figures and the previous period's SLA trend, computed side by side."""
    return queries.overview_with_previous(ui.load_config(), queries.Filters.model_validate_json(filters_json), at)


def _money_stuck(rows: list[read_overview.StuckMoney]) -> None:
    """Per process and stage, the value of the stuck, failed and dead-lettered transactions, per currency
    (summed from the window's snapshot the page's other figures read)."""
    st.subheader("Money stuck, by stage")
    totals = read_overview.money_totals(rows)
    if not rows:
        st.caption(f"no stuck, failed or dead-lettered transaction started in {filters.label()}")
        return
    cols = st.columns(max(len(totals), 1))
    for col, (currency, amount) in zip(cols, sorted(totals.items(), key=lambda item: -item[1]), strict=False):
        count = sum(r.transactions for r in rows if r.currency == currency)
        col.metric(
            f"Money stuck ({currency or 'no currency'})",
            format_money(amount, currency),
            help=f"{count:,} stuck, failed or dead-lettered transactions started in {filters.label()}",
        )
    without = sum(r.without_amount for r in rows)
    if without:
        st.caption(f"{without:,} of them carried no amount")
    valued = [r for r in rows if r.transactions > r.without_amount]
    if valued:
        frame = pd.DataFrame([{"where": f"{r.process} · {r.stage or '(none)'}", "state": r.state,
                               "currency": r.currency or "(none)", "amount": r.amount} for r in valued])  # fmt: skip
        st.plotly_chart(charts.money_stuck(frame), width="stretch", key="money_stuck_chart")
    st.dataframe(
        [{"process": r.process, "stage": r.stage, "state": r.state, "value": format_money(r.amount, r.currency)
          if r.transactions > r.without_amount else "", "transactions": r.transactions,
          "without amount": r.without_amount} for r in rows],
        hide_index=True, width="stretch",
    )  # fmt: skip


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _points(now: float | None, before: float | None) -> float | None:
    """The change of a share against the period before, in percentage points to one decimal (None when
    either is not measured): what the headline's arrow shows, green up, red down, grey for none."""
    return None if now is None or before is None else round((now - before) * 100, 1)


def _breakdown(groups, label: str, target: float) -> list[dict]:
    return [
        {
            label: g.labels[label] or "(none)",
            "SLA adherence": _pct(g.adherence),
            "vs target": "breach" if g.adherence is not None and g.adherence < target else "met",
            "met": g.met,
            "measured": g.measured,
            "missed": g.missed,
        }
        for g in groups
    ]


@ui.refreshed
def body() -> None:
    at = ui.tick()
    figures, previous = _figures(filters.model_dump_json(), at)
    st.title("Overview")
    states = figures.states
    if states.empty:
        st.info(
            f"No transactions started in {filters.label()}. Send spans to the collector "
            "(or run `biztrace simulate`), or widen the time range."
        )
        ui.footer()
        return
    totals = states.groupby("state")["transactions"].sum()
    count = int(totals.sum())
    kpis = st.columns([1, 1, 1, 1, 1, 1.6])  # the SLA's label whole at 1280 px (it was cut to "End-to-end SLA ad…")
    kpis[0].metric("Transactions", f"{count:,}", help=f"started in {filters.label()}")
    kpis[1].metric("In flight", f"{int(totals.get('in_flight', 0)):,}")
    kpis[2].metric("Stuck", f"{int(totals.get('stuck', 0)):,}", help="the next stage is overdue against its SLA")
    kpis[3].metric(
        "Failed",
        f"{int(totals.get('failed', 0) + totals.get('dead_letter', 0)):,}",
        help="a hop ended in error or in a dead-letter queue",
    )
    kpis[4].metric("Complete", f"{int(totals.get('complete', 0)):,}")
    sla = figures.sla
    target = queries.sla_target(config, filters.process)
    adherence = figures.adherence_overall
    prior_met, prior_measured = int(previous["met"].sum()), int(previous["measured"].sum())
    prior = prior_met / prior_measured if prior_measured else None
    points = _points(adherence.adherence, prior)
    before = "" if prior is None else f". The change is against the period before, as long: {prior:.1%}, " \
        f"{prior_met:,} of {prior_measured:,}."  # fmt: skip
    kpis[5].metric(
        "End-to-end SLA adherence",
        "n/a" if adherence.adherence is None else f"{adherence.adherence:.1%}",
        delta=None if points is None else f"{points:+.1f} pts" if points else "0.0 pts",
        delta_color="normal" if points else "off",  # grey, not a green arrow, when nothing changed
        delta_description=None if points is None else "vs the previous period",
        help=f"{adherence.met:,} of {adherence.measured:,} transactions started in {filters.label()} met "
        "their end-to-end SLA (stuck ones and those past the deadline count as missed; "
        f"{adherence.pending:,} still within it are not counted){before}",
    )
    # the counts beside the share: "0.0%" of 3 measured reads differently from 0.0% of 3,000
    kpis[5].caption(f"{adherence.met:,} of {adherence.measured:,} measured · {adherence.pending:,} still within "
                    "their SLA")  # fmt: skip
    for item in figures.finance:
        st.metric(
            f"{item['right']} within SLA after {item['left']} ({item['rule']})",
            f"{item['share']:.1%}",
            help=f"{item['met']:,} of {item['measured']:,} measured",
        )

    left, right = st.columns(2)
    with left:
        st.subheader("State by process")
        event = st.plotly_chart(
            charts.states_by_process(states),
            on_select="rerun",
            key="states_chart",
            selection_mode="points",
            width="stretch",
        )
    with right:
        st.subheader("Stage SLAs met, by stage")
        rows = [f"{name} · {stage}" for name, process in config.processes.items() for stage in process.stage_names()]
        st.plotly_chart(charts.sla_heatmap(sla, rows, target), width="stretch", key="sla_chart")
    _drill_down(event, at)

    st.subheader("Is it getting worse? End-to-end SLA adherence over time")
    st.caption(
        f"this period {_pct(adherence.adherence)} ({adherence.met:,} of {adherence.measured:,}) · previous period "
        f"{_pct(prior)} ({prior_met:,} of {prior_measured:,}) · target {target:.0%}"
        + (" · the last bucket is still filling (shaded, open marker)" if figures.partial_from is not None else "")
    )
    st.plotly_chart(
        charts.sla_trend(figures.sla_trend, previous, target=target, partial_from=figures.partial_from,
                         bucket_s=figures.bucket_s),
        width="stretch", key="sla_trend_chart",
    )  # fmt: skip
    left, right = st.columns(2)
    with left:
        st.subheader("By channel, worst first")
        st.dataframe(_breakdown(figures.by_channel, "channel", target), hide_index=True, width="stretch")
    with right:
        st.subheader("By system at fault, worst first")
        st.dataframe(_breakdown(figures.by_system, "system", target), hide_index=True, width="stretch")

    st.subheader("Transactions started, by what became of them")
    st.plotly_chart(charts.trend(figures.trend, figures.partial_from, figures.bucket_s), width="stretch",
                    key="trend_chart")  # fmt: skip

    left, right = st.columns(2)
    with left:
        st.subheader("Where orders wait")
        worst = charts.worst_stages(states)
        st.dataframe(worst, hide_index=True, width="stretch")
        st.page_link("views/exceptions.py", label="Open the exception queues", icon=":material/arrow_forward:")
    with right:
        st.subheader("p95 hop latency by system")
        st.plotly_chart(charts.latency(figures.latency), width="stretch", key="latency_chart")
    _money_stuck(figures.money)
    ui.footer()


def _drill_down(event, at) -> None:
    """The transactions behind a clicked bar, linked to their order pages."""
    points = event.selection.points if event is not None and "selection" in event else []
    if not points:
        return
    point = points[0]
    process, state = point.get("x"), (point.get("customdata") or [None])[0]
    if not process or not state:
        return
    with st.spinner("Finding the transactions"):
        found = transactions(data.store(), config, at, states=[state], since=filters.since(at))
    until = filters.until(at).replace(tzinfo=None)
    found = [tx for tx in found if tx.process == process and tx.started_at.replace(tzinfo=None) <= until]
    rows = [
        {
            "key": tx.key,
            "stage": tx.current_stage,
            "next": tx.next_stage,
            "system": tx.next_system or tx.last_system,
            "age": ui.age(tx.age_s),
            "priority": tx.priority,
        }
        for tx in found[:LIMIT]
    ]
    st.caption(
        f"{ui.literal(state)} transactions of {ui.literal(process)}: {ui.shown(len(rows), len(found))} · "
        "select a row to open it" + (" · every one in the download" if len(rows) < len(found) else "")
    )
    ui.order_table(pd.DataFrame(rows, columns=["key", "stage", "next", "system", "age", "priority"]), "key",
                   key="drill_table", hide_index=True, width="stretch")  # fmt: skip
    # all of them, not only the table's first rows, with what a spreadsheet needs (times, value, age in seconds)
    every = pd.DataFrame(
        [{"key": tx.key, "process": tx.process, "state": tx.state, "stage": tx.current_stage, "next": tx.next_stage,
          "system": tx.next_system or tx.last_system, "started_at": tx.started_at, "due_at": tx.due_at,
          "age_s": tx.age_s, "priority": tx.priority, "channel": tx.channel, "amount": tx.amount,
          "currency": tx.currency} for tx in found],
        columns=["key", "process", "state", "stage", "next", "system", "started_at", "due_at", "age_s", "priority",
                 "channel", "amount", "currency"],
    )  # fmt: skip
    st.download_button(f"Download all {len(found):,} (CSV)", every.to_csv(index=False), f"{process}-{state}.csv",
                       "text/csv", key="drill_download", on_click="ignore")  # fmt: skip


body()
