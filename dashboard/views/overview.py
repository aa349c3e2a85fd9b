"""Overview, for operations leaders: are we meeting our SLAs, and where are orders piling up?"""

from __future__ import annotations

import streamlit as st

from biztrace.dashboard import charts, data, queries, ui
from biztrace.readmodel.transactions import transactions

ui.page_user("overview")
config = ui.load_config()
filters = ui.current_filters()


@st.cache_data(ttl=600, show_spinner=False, max_entries=32)
def _figures(filters_json: str, at) -> queries.Overview:
    return queries.overview(ui.load_config(), queries.Filters.model_validate_json(filters_json), at)


@st.fragment(run_every=ui.run_every())
def body() -> None:
    at = ui.tick()
    figures = _figures(filters.model_dump_json(), at)
    st.title("Overview")
    states = figures.states
    if states.empty:
        st.info(
            f"No transactions started in the last {filters.window}. Send spans to the collector "
            "(or run `biztrace simulate`), or widen the time range."
        )
        ui.footer()
        return
    totals = states.groupby("state")["transactions"].sum()
    count = int(totals.sum())
    kpis = st.columns(6)
    kpis[0].metric("Transactions", f"{count:,}", help=f"started in the last {filters.window}")
    kpis[1].metric("In flight", f"{int(totals.get('in_flight', 0)):,}")
    kpis[2].metric("Stuck", f"{int(totals.get('stuck', 0)):,}", help="the next stage is overdue against its SLA")
    kpis[3].metric(
        "Failed",
        f"{int(totals.get('failed', 0) + totals.get('dead_letter', 0)):,}",
        help="a hop ended in error or in a dead-letter queue",
    )
    kpis[4].metric("Complete", f"{int(totals.get('complete', 0)):,}")
    sla = figures.sla
    adherence = figures.adherence_overall
    kpis[5].metric(
        "End-to-end SLA adherence",
        "n/a" if adherence.adherence is None else f"{adherence.adherence:.1%}",
        help=f"{adherence.met:,} of {adherence.measured:,} transactions started in the last {filters.window} met "
        "their end-to-end SLA (stuck ones and those past the deadline count as missed; "
        f"{adherence.pending:,} still within it are not counted)",
    )
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
        st.plotly_chart(charts.sla_heatmap(sla, rows), width="stretch", key="sla_chart")
    _drill_down(event, at)

    st.subheader("Trend")
    st.plotly_chart(charts.trend(figures.trend), width="stretch", key="trend_chart")

    left, right = st.columns(2)
    with left:
        st.subheader("Where orders wait")
        worst = charts.worst_stages(states)
        st.dataframe(worst, hide_index=True, width="stretch")
        st.page_link("views/exceptions.py", label="Open the exception queues", icon=":material/arrow_forward:")
    with right:
        st.subheader("p95 hop latency by system")
        st.plotly_chart(charts.latency(figures.latency), width="stretch", key="latency_chart")
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
    rows = [
        {
            "order": ui.order_link(tx.key),
            "key": tx.key,
            "stage": tx.current_stage,
            "next": tx.next_stage,
            "system": tx.next_system or tx.last_system,
            "age": ui.age(tx.age_s),
            "priority": tx.priority,
        }
        for tx in found
        if tx.process == process
    ][:500]
    st.caption(f"{ui.literal(state)} transactions of {ui.literal(process)}: {len(rows)} shown")
    st.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        column_config={"order": st.column_config.LinkColumn("open", display_text="open")},
    )


body()
