"""Order search, for support: where is this order right now, and what happened to it?

Any id works (order, customer, SKU, invoice, shipment, return); a partial id lists the ids
that start with it. The page's URL carries the id (``/search?key=O-1182``), so it can be shared.
"""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from biztrace.config import AlertsConfig
from biztrace.dashboard import charts, data, markers, queries, spans, ui
from biztrace.readmodel.models import format_money
from biztrace.readmodel.traces import TraceSpans, trace_spans
from biztrace.readmodel.transactions import Transaction

RECENT = 8

ui.page_user("search")
config = ui.load_config()
st.title("Order search")

# The URL's key wins when it is not the one this page wrote last: a shared link, or a link to another key
# opened from this very page ("Open order ..."); typing a key writes it to the URL in turn.
url_key = st.query_params.get("key", "")
if "search_key" not in st.session_state or (url_key and url_key != st.session_state.get("search_url_key")):
    st.session_state["search_key"] = url_key
st.session_state["search_url_key"] = url_key


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
    st.query_params.pop("trace", None)
    st.info("Type an id above. Partial ids work: `O-11` lists the orders starting with it.")
    _recent()
    ui.footer()
    st.stop()


def _stage_progress(tx: Transaction, config: AlertsConfig) -> None:
    """One line per transaction: the stages, which were reached, where it failed, and the SLA of the next."""
    process = config.processes.get(tx.process)
    names = process.stage_names() if process else tx.stages_reached
    reached = dict(zip(tx.stages_reached, tx.stages_reached_at, strict=False))
    failed_at = tx.trouble_stage if tx.state in ("failed", "dead_letter") else ""
    if failed_at and failed_at not in names:
        failed_at = tx.next_stage or ""  # the failing hop named no stage of the process: the one it was headed for
    done = sum(1 for name in names if name in reached and name != failed_at)
    label = {
        "complete": "complete",
        "in_flight": "in flight",
        "stuck": "STUCK",
        "failed": "FAILED",
        "dead_letter": "DEAD-LETTERED",
    }[tx.state]
    channel = ui.literal(tx.channel) if tx.channel else "—"
    value = ui.literal(format_money(tx.amount, tx.currency)) if tx.amount is not None else "no amount"
    st.markdown(
        f"**{ui.literal(tx.process)}** · {ui.literal(tx.key)} · {label} · value {value} · "
        f"priority {ui.literal(tx.priority)} · channel {channel}"
    )
    text = f"{done} of {len(names)} stages reached"
    if failed_at:
        text += f" · {'dead-lettered' if tx.state == 'dead_letter' else 'failed'} at {failed_at}"
    st.progress(done / max(len(names), 1), text=text)
    stages = []
    for name in names:
        if name == failed_at:
            where = f" at {tx.trouble_system}" if tx.trouble_system else ""
            when = f" · {tx.trouble_at:%Y-%m-%d %H:%M}" if tx.trouble_at else ""
            stages.append(markers.Stage(name, "failed", f"failed: {tx.error_type or tx.state}{where}{when}"))
        elif name in reached:
            stages.append(markers.Stage(name, "reached", f"{reached[name]:%Y-%m-%d %H:%M}"))
        elif name == tx.next_stage and tx.state == "stuck":
            overdue = f"overdue since {tx.due_at:%Y-%m-%d %H:%M}" if tx.due_at is not None else "overdue"
            stages.append(markers.Stage(name, "overdue", overdue))
        elif name == tx.next_stage and tx.due_at is not None and tx.state == "in_flight":
            stages.append(markers.Stage(name, "due", f"due {tx.due_at:%Y-%m-%d %H:%M}"))
        else:
            stages.append(markers.Stage(name, "ahead"))
    st.html(markers.stage_strip(stages))


def _tree(view: queries.OrderView) -> None:
    """The keys linked to the searched one; its order(s) as links to their pages, in this tab."""
    tree = {k: kind for k, kind in view.history.tree.items() if k != view.key}
    orders = sorted({k for k, kind in tree.items() if kind == "order"} | {
        hop.order_id for hop in view.history.hops if hop.order_id and hop.order_id != view.key})  # fmt: skip
    if not tree and not orders:
        return
    kind = view.history.tree.get(view.key, "")
    for order in orders:
        st.page_link("views/search.py", label=f"Open order {order}", query_params={"key": order},
                     icon=":material/arrow_forward:")  # fmt: skip
    others = [f"{ui.literal(k)} ({kind or 'id'})" for k, kind in sorted(tree.items()) if k not in orders]
    if others:
        st.caption(f"Linked to this {kind or 'id'}: " + ", ".join(others))


def _show(key: str) -> None:
    view = queries.order_view(config, key, ui.tick())
    history = view.history
    st.query_params["key"] = key
    st.session_state["search_url_key"] = key
    _remember(key)
    st.subheader(ui.literal(key))
    systems = ", ".join(ui.literal(system) for system in history.systems)
    more = f" (the first {len(history.hops):,}: more are stored)" if history.truncated else ""
    st.caption(
        f"{spans.plural(len(history.hops), 'hop')}{more} in {spans.plural(history.traces, 'trace')} across "
        f"{spans.plural(len(history.systems), 'system')}: {systems}"
    )
    _tree(view)
    for tx in view.transactions:
        _stage_progress(tx, config)
    hops = pd.DataFrame([hop.model_dump() for hop in history.hops])

    timeline, waterfall = st.columns(2)
    with timeline:
        st.markdown("#### Timeline")
        st.plotly_chart(charts.timeline(hops), width="stretch", key="timeline_chart")
    with waterfall:
        _waterfall(history)

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
                    "since": spans.when(i.since),
                    "assignee": i.assignee,
                    "runbook": i.runbook,
                }
                for i in view.exceptions
            ]
            st.dataframe(
                rows,
                hide_index=True,
                width="stretch",
                # a link's text, not its address: the half-width table keeps room for when it started
                column_config={"runbook": st.column_config.LinkColumn("runbook", display_text="runbook")},
            )
        else:
            st.caption("none")
    with right:
        st.markdown("#### Alerts")
        if view.alerts:
            alerts = [{**a, "since": spans.when(a["since"])} for a in view.alerts]
            st.dataframe(
                spans.blank(pd.DataFrame(alerts).drop(columns=["fingerprint"])), hide_index=True, width="stretch"
            )
        else:
            st.caption("none")

    st.markdown("#### Hops (select one for the span's details)")
    shown = hops[
        [
            "start",
            "stored_at",  # when biztrace stored it: a late delivery shows here
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
        spans.blank(
            shown.assign(
                start=shown["start"].map(spans.when),
                stored_at=shown["stored_at"].map(spans.when),
                duration_ms=shown["duration_ms"].round(1),
                status=shown["status"].map(lambda s: spans.OUTCOME.get(s, s)),
            )
        ),  # fmt: skip
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key="hops_table",
        # the ids narrow (a selected row shows them whole below): the systems and stages read in full
        column_config={
            "trace_id": st.column_config.TextColumn("trace_id", width="small"),
            "span_id": st.column_config.TextColumn("span_id", width="small"),
        },
    )
    rows = event.selection.rows if event is not None else []
    if rows:
        hop = shown.iloc[rows[0]]
        record = queries.span(hop["trace_id"], hop["span_id"])
        st.markdown(f"##### Span {ui.literal(hop['span_id'])} of trace {ui.literal(hop['trace_id'])}")
        _span_details(record)


@st.cache_data(ttl=600, show_spinner=False, max_entries=32)
def _trace_spans(trace_ids: tuple[str, ...], at) -> TraceSpans:
    started = time.perf_counter()
    try:
        return trace_spans(data.store(), list(trace_ids))
    finally:
        data.add_query_time(time.perf_counter() - started)


def _waterfall(history) -> None:
    """The key's traces as a waterfall (one trace at a time, chosen here and kept in the URL as
    ``trace``): spans under their parents, bars from start offset for their duration, errors marked."""
    st.markdown("#### Trace waterfall")
    found = _trace_spans(tuple(dict.fromkeys(hop.trace_id for hop in history.hops)), ui.tick())
    if not found.spans:
        st.caption("no spans stored for these traces")
        return
    frame = pd.DataFrame([span.model_dump() for span in found.spans])
    per_trace = frame.groupby("trace_id", sort=False).agg(
        root=("name", "first"), start=("trace_start", "first"), spans=("span_id", "count"),
        errors=("status", lambda s: int((s == "Error").sum())),
    )  # fmt: skip
    traces = list(per_trace.index)
    if st.session_state.get("wf_trace") not in traces:  # a new key, or a shared link naming its trace
        wanted = st.query_params.get("trace", "")
        failing = per_trace[per_trace["errors"] > 0]
        default = failing.index[0] if len(failing) else per_trace["spans"].idxmax()
        st.session_state["wf_trace"] = wanted if wanted in traces else default
    if len(traces) > 1:
        st.selectbox(
            "Trace", traces, key="wf_trace",
            format_func=lambda t: f"{per_trace.at[t, 'start']:%Y-%m-%d %H:%M:%S} · {per_trace.at[t, 'root']} · "
            f"{spans.plural(int(per_trace.at[t, 'spans']), 'span')}"
            + (f" · ✖ {spans.plural(int(per_trace.at[t, 'errors']), 'error')}" if per_trace.at[t, "errors"] else ""),
        )  # fmt: skip
    chosen = st.session_state["wf_trace"]
    st.query_params["trace"] = chosen
    cut = f" (the waterfall shows at most {found.limit})" if len(found.spans) < found.total else ""
    st.caption(
        f"{ui.shown(len(found.spans), found.total)} spans of {spans.plural(len(found.traces), 'trace')}{cut} · "
        "hover a bar for the span, click it for its details"
    )
    shown = frame[frame["trace_id"] == chosen].reset_index(drop=True)
    event = st.plotly_chart(
        charts.waterfall(shown), width="stretch", key="waterfall_chart", on_select="rerun", selection_mode="points",
    )  # fmt: skip
    points = event.selection.points if event is not None and "selection" in event else []
    row = points[0].get("y") if points else None  # a bar's row is its span's position in ``shown``
    if isinstance(row, int | float) and 0 <= int(row) < len(shown):
        span = shown.iloc[int(row)]
        st.markdown(f"##### Span {ui.literal(span['span_id'])} of trace {ui.literal(span['trace_id'])}")
        _span_details(queries.span(span["trace_id"], span["span_id"]))


def _span_details(record: dict | None) -> None:
    """One span readable: its facts (duration in ms, times as dates), attributes and events as tables."""
    if not record:
        st.caption("this span is no longer stored")
        return
    found = spans.facts(record)
    st.table(pd.DataFrame({"": list(found), "value": list(found.values())}).set_index(""))
    st.markdown("###### Attributes")
    st.dataframe(spans.attributes(record), hide_index=True, width="stretch")
    events = spans.events(record)
    if len(events):
        st.markdown("###### Events")
        st.dataframe(events, hide_index=True, width="stretch")


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
    latest["last_seen"] = latest["last_seen"].map(spans.when)
    return spans.blank(latest.reset_index())


found = queries.search_keys(typed, limit=1)
if not found.empty and found.iloc[0]["key"] == typed:
    _show(typed)
else:
    st.query_params.pop("key", None)  # the URL never names the previous id after an unknown one
    st.query_params.pop("trace", None)
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
