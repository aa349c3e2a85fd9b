"""Order search, for support: where is this order right now, and what happened to it?

Any id works (order, customer, SKU, invoice, shipment, return); a partial id lists the ids
that start with it. The page's URL carries the id (``/search?key=O-1182``), so it can be shared.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from biztrace.config import AlertsConfig
from biztrace.dashboard import charts, queries, ui
from biztrace.readmodel.transactions import Transaction

RECENT = 8

ui.page_user("search")
config = ui.load_config()
st.title("Order search")

if "search_key" not in st.session_state:
    st.session_state["search_key"] = st.query_params.get("key", "")


def _remember(key: str) -> None:
    recent = [k for k in st.session_state.get("recent_searches", []) if k != key]
    st.session_state["recent_searches"] = [key, *recent][:RECENT]


def _pick(key: str) -> None:
    st.session_state["search_key"] = key


typed = st.text_input(
    "Order, customer, SKU, invoice, shipment or return id",
    key="search_key",
    placeholder="O-1182, or the first characters of any id",
).strip()
recent_bar = st.container()  # filled at the end, once this search is among the recent ones


def _recent() -> None:
    recent = st.session_state.get("recent_searches", [])
    if recent:
        cols = recent_bar.columns(len(recent) + 1)
        cols[0].caption("Recent:")
        for column, key in zip(cols[1:], recent, strict=False):
            column.button(ui.literal(key), key=f"recent_{key}", on_click=_pick, args=(key,))


if not typed:
    st.query_params.pop("key", None)
    st.info("Type an id above. Partial ids work: `O-11` lists the orders starting with it.")
    _recent()
    ui.footer()
    st.stop()


def _stage_progress(tx: Transaction, config: AlertsConfig) -> None:
    """One line per transaction: the stages, which were reached, and the SLA of the next."""
    process = config.processes.get(tx.process)
    names = process.stage_names() if process else tx.stages_reached
    reached = dict(zip(tx.stages_reached, tx.stages_reached_at, strict=False))
    done = sum(1 for name in names if name in reached)
    label = {
        "complete": "complete",
        "in_flight": "in flight",
        "stuck": "STUCK",
        "failed": "FAILED",
        "dead_letter": "DEAD-LETTERED",
    }[tx.state]
    channel = ui.literal(tx.channel) if tx.channel else "—"
    st.markdown(
        f"**{ui.literal(tx.process)}** · {ui.literal(tx.key)} · {label} · priority {ui.literal(tx.priority)} · "
        f"channel {channel}"
    )
    st.progress(done / max(len(names), 1), text=f"{done} of {len(names)} stages")
    cells = st.columns(len(names))
    for cell, name in zip(cells, names, strict=False):
        if name in reached:
            cell.markdown(f":green[●] **{ui.literal(name)}**  \n{reached[name]:%m-%d %H:%M}")
        elif name == tx.next_stage and tx.state == "stuck":
            cell.markdown(f":orange[●] **{ui.literal(name)}**  \noverdue since {tx.due_at:%m-%d %H:%M}")
        elif name == tx.next_stage and tx.state in ("failed", "dead_letter"):
            why = ui.literal(tx.error_type or tx.state)
            cell.markdown(f":red[●] **{ui.literal(name)}**  \n{why} at {ui.literal(tx.trouble_system)}")
        elif name == tx.next_stage and tx.due_at is not None:
            cell.markdown(f":blue[○] **{ui.literal(name)}**  \ndue {tx.due_at:%m-%d %H:%M}")
        else:
            cell.markdown(f":gray[○] {ui.literal(name)}")


def _show(key: str) -> None:
    view = queries.order_view(config, key, ui.tick())
    history = view.history
    st.query_params["key"] = key
    _remember(key)
    st.subheader(ui.literal(key))
    systems = ", ".join(ui.literal(system) for system in history.systems)
    st.caption(f"{len(history.hops)} hops in {history.traces} traces across {systems}")
    for tx in view.transactions:
        _stage_progress(tx, config)
    hops = pd.DataFrame([hop.model_dump() for hop in history.hops])

    st.markdown("#### Timeline")
    st.plotly_chart(charts.timeline(hops), width="stretch", key="timeline_chart")

    st.markdown("#### What each system says")
    st.dataframe(_systems_side_by_side(hops), hide_index=True, width="stretch")

    left, right = st.columns(2)
    with left:
        st.markdown("#### Exceptions")
        if view.exceptions:
            rows = [
                {
                    "kind": i.kind,
                    "state": i.state,
                    "stage": i.stage,
                    "system": i.system,
                    "since": i.since,
                    "assignee": i.assignee,
                    "runbook": i.runbook,
                }
                for i in view.exceptions
            ]
            st.dataframe(
                rows,
                hide_index=True,
                width="stretch",
                column_config={"runbook": st.column_config.LinkColumn("runbook")},
            )
        else:
            st.caption("none")
    with right:
        st.markdown("#### Alerts")
        if view.alerts:
            st.dataframe(view.alerts, hide_index=True, width="stretch")
        else:
            st.caption("none")

    st.markdown("#### Hops (select one for the span's details)")
    shown = hops[
        [
            "start",
            "system",
            "stage",
            "span_name",
            "status",
            "duration_ms",
            "amount",
            "quantity",
            "biz_status",
            "error_type",
            "trace_id",
            "span_id",
        ]
    ]
    event = st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key="hops_table",
    )
    rows = event.selection.rows if event is not None else []
    if rows:
        hop = shown.iloc[rows[0]]
        record = queries.span(hop["trace_id"], hop["span_id"])
        st.markdown(f"##### Span {ui.literal(hop['span_id'])} of trace {ui.literal(hop['trace_id'])}")
        st.json(
            {
                k: (str(v) if not isinstance(v, dict | list | str | int | float) else v)
                for k, v in (record or {}).items()
            },
            expanded=True,
        )


def _systems_side_by_side(hops: pd.DataFrame) -> pd.DataFrame:
    """Each system's latest view of amount, quantity and status (a handful of rows per order)."""
    latest = (
        hops.sort_values("start")
        .groupby("system", sort=False)
        .agg(
            last_stage=("stage", "last"),
            amount=("amount", "last"),
            currency=("currency", "last"),
            quantity=("quantity", "last"),
            status=("biz_status", "last"),
            hops=("span_id", "count"),
            last_seen=("start", "last"),
        )
    )
    return latest.reset_index()


found = queries.search_keys(typed, limit=1)
if not found.empty and found.iloc[0]["key"] == typed:
    _show(typed)
else:
    suggestions = queries.search_keys(typed, limit=20)
    if suggestions.empty:
        st.warning(f"No order, customer, SKU, invoice, shipment or return id starts with {ui.literal(typed)}.")
    else:
        st.caption(f"Ids starting with {ui.literal(typed)}:")
        for row in suggestions.itertuples():
            st.button(
                f"{ui.literal(row.key)}  ·  {row.kind}  ·  last seen {row.last_seen:%Y-%m-%d %H:%M}",
                key=f"pick_{row.key}",
                on_click=_pick,
                args=(row.key,),
            )
_recent()
ui.footer()
