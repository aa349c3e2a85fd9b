"""Plotly figures from the pages' DataFrames: pure functions, so they are tested without a browser."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from biztrace.dashboard.spans import OUTCOME

STATE_COLORS = {
    "complete": "#2e7d32",
    "in_flight": "#1976d2",
    "stuck": "#f9a825",
    "failed": "#c62828",
    "dead_letter": "#6a1b9a",
}
STATUS_COLORS = {"ok": "#2e7d32", "error": "#c62828"}


def _empty(title: str) -> go.Figure:
    figure = go.Figure()
    figure.add_annotation(text=title, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    return figure


def blank() -> go.Figure:
    """A figure that draws nothing, a few pixels high (the sign-in page's way of loading plotly early)."""
    figure = go.Figure()
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    figure.update_layout(
        height=10, margin={"t": 0, "b": 0, "l": 0, "r": 0}, paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)"
    )
    return figure


def states_by_process(states: pd.DataFrame) -> go.Figure:
    """Stacked bars: transactions per process by state (click a bar to list them)."""
    if states.empty:
        return _empty("no transactions")
    grouped = states.groupby(["process", "state"], as_index=False)["transactions"].sum()
    # one trace per state, in the states' order (graph objects: plotly.express took ~3x as long to build it)
    figure = go.Figure([
        go.Bar(x=rows["process"], y=rows["transactions"], name=state, marker_color=STATE_COLORS.get(state),
               customdata=[[state]] * len(rows), hovertemplate=f"%{{x}}<br>{state}: %{{y:,}}<extra></extra>")
        for state in [*STATE_COLORS, *sorted(set(grouped["state"]) - set(STATE_COLORS))]
        if not (rows := grouped[grouped["state"] == state]).empty
    ])  # fmt: skip
    figure.update_layout(barmode="stack", height=340, margin={"t": 10, "b": 10}, legend_title_text="",
                         xaxis_title="process", yaxis_title="transactions")  # fmt: skip
    return figure


BREACH, MET = "#c62828", "#2e7d32"


def sla_heatmap(sla: pd.DataFrame, rows: list[str] | None = None, target: float = 0.95) -> go.Figure:
    """Adherence per (process · stage) and priority, rows in ``rows`` order (the processes'
    stage order, first at the top), coloured against ``target``: red below it (a breach), green at or
    above it; each cell says its percentage, hover shows met of measured."""
    if sla.empty:
        return _empty("no stage with an SLA was measured")
    table = sla.assign(row=sla["process"] + " · " + sla["stage"])
    pivot = table.pivot_table(index="row", columns="priority", values="adherence", aggfunc="mean")
    if rows:
        pivot = pivot.reindex([r for r in rows if r in pivot.index][::-1])
    counts = table.pivot_table(index="row", columns="priority", values="measured", aggfunc="sum")
    met = (pivot >= target).astype(float).where(pivot.notna())
    measured = counts.reindex_like(pivot).fillna(0).astype(int)
    labels = pivot.map(lambda v: "" if pd.isna(v) else f"{v:.0%}")
    figure = go.Figure(
        go.Heatmap(
            z=met.values,
            x=list(pivot.columns),
            y=list(pivot.index),
            zmin=0,
            zmax=1,
            colorscale=[[0, BREACH], [0.5, BREACH], [0.5, MET], [1, MET]],
            showscale=False,
            text=labels.values,
            customdata=measured.values,
            texttemplate="%{text}",
            textfont={"color": "white"},
            hovertemplate="%{y}<br>priority %{x}<br>adherence %{text}"
            f" (target {target:.0%})<br>measured %{{customdata}}<extra></extra>",
            xgap=2,
            ygap=2,
        )
    )
    legend = {"text": f"red: below the {target:.0%} target · green: met", "font": {"size": 12}}
    figure.update_layout(height=340, margin={"t": 30, "b": 10}, title=legend)
    return figure


def _mark_partial(figure: go.Figure, partial_from, bucket_s: int) -> None:
    """Shade the last bucket, which is not over yet, and say so (its lower figures are not a fall)."""
    if partial_from is None:
        return
    end = pd.Timestamp(partial_from) + pd.Timedelta(seconds=bucket_s)
    figure.add_vrect(x0=pd.Timestamp(partial_from), x1=end, fillcolor="#9e9e9e", opacity=0.15, line_width=0,
                     annotation_text="partial: still filling", annotation_position="top left")  # fmt: skip


def trend(frame: pd.DataFrame, partial_from=None, bucket_s: int = 3600) -> go.Figure:
    """Transactions started per bucket, split by what became of them; the last bucket, still open,
    shaded as partial."""
    if frame.empty:
        return _empty("no transactions")
    summed = frame.groupby("bucket", as_index=False)[["complete", "in_flight", "stuck", "failed"]].sum()
    figure = go.Figure([
        go.Scatter(x=summed["bucket"], y=summed[state], name=state, mode="lines", stackgroup="states",
                   line={"color": STATE_COLORS[state], "width": 0.5},
                   hovertemplate=f"%{{x}}<br>{state}: %{{y:,}}<extra></extra>")
        for state in ("complete", "in_flight", "stuck", "failed")
    ])  # fmt: skip
    figure.update_layout(height=300, margin={"t": 10, "b": 10}, legend_title_text="", xaxis_title="",
                         yaxis_title="transactions")  # fmt: skip
    _mark_partial(figure, partial_from, bucket_s)
    return figure


def sla_trend(
    current: pd.DataFrame, previous: pd.DataFrame | None = None, *, target: float = 0.95, partial_from=None,
    bucket_s: int = 3600,
) -> go.Figure:  # fmt: skip
    """End-to-end SLA adherence per start bucket (solid), the previous period on the same buckets
    (grey, dotted), the target (a dashed line); the last bucket, still open, its own trace (open
    marker, dotted) in a shaded band."""
    if current.empty:
        return _empty("no transaction with an end-to-end SLA was measured")
    figure = go.Figure()
    if previous is not None and not previous.empty:
        figure.add_trace(go.Scatter(
            x=previous["bucket"], y=previous["adherence"], name="previous period", mode="lines",
            line={"dash": "dot", "color": "#9e9e9e"}, customdata=previous[["met", "measured"]],
            hovertemplate="previous period<br>%{y:.1%} (%{customdata[0]} of %{customdata[1]})<extra></extra>",
        ))  # fmt: skip
    is_partial = current["bucket"] >= pd.Timestamp(partial_from) if partial_from is not None else None
    done = current[~is_partial] if is_partial is not None else current
    figure.add_trace(go.Scatter(
        x=done["bucket"], y=done["adherence"], name="this period", mode="lines+markers",
        line={"color": "#1976d2"}, marker={"size": 7}, customdata=done[["met", "measured"]],
        hovertemplate="%{x}<br>%{y:.1%} (%{customdata[0]} of %{customdata[1]} met)<extra></extra>",
    ))  # fmt: skip
    if is_partial is not None and is_partial.any():
        # the bucket still filling: an open marker joined by a dotted line, never a solid fall
        tail = current[is_partial | (current["bucket"] == done["bucket"].max())]
        figure.add_trace(go.Scatter(
            x=tail["bucket"], y=tail["adherence"], name="partial bucket (still filling)", mode="lines+markers",
            line={"color": "#1976d2", "dash": "dot"}, marker={"symbol": "circle-open", "size": 9},
            customdata=tail[["met", "measured"]],
            hovertemplate="%{x} (partial)<br>%{y:.1%} (%{customdata[0]} of %{customdata[1]} met so far)<extra></extra>",
        ))  # fmt: skip
    figure.add_hline(y=target, line={"color": BREACH, "dash": "dash", "width": 1},
                     annotation_text=f"target {target:.0%}", annotation_position="bottom right")  # fmt: skip
    _mark_partial(figure, partial_from, bucket_s)
    figure.update_layout(height=300, margin={"t": 10, "b": 10}, yaxis_tickformat=".0%", xaxis_title="",
                         yaxis_title="SLA adherence", yaxis_range=[0, 1.05], legend={"orientation": "h"})  # fmt: skip
    return figure


def money_stuck(frame: pd.DataFrame) -> go.Figure:
    """The value of the transactions in trouble per process · stage (``where``), stacked by state, one panel
    per currency, each with its own scale (amounts in two currencies are not added up)."""
    if frame.empty:
        return _empty("no amount stuck")
    currencies = sorted(set(frame["currency"]))
    figure = make_subplots(rows=1, cols=len(currencies), subplot_titles=[f"currency={c}" for c in currencies])
    for column, currency in enumerate(currencies, start=1):
        rows = frame[frame["currency"] == currency]
        for state in [*STATE_COLORS, *sorted(set(rows["state"]) - set(STATE_COLORS))]:
            part = rows[rows["state"] == state]
            if part.empty:
                continue
            figure.add_trace(go.Bar(
                x=part["where"], y=part["amount"], name=state, legendgroup=state, showlegend=column == 1,
                marker_color=STATE_COLORS.get(state),
                hovertemplate=f"%{{x}}<br>{state}: %{{y:,.2f}} {currency}<extra></extra>",
            ), row=1, col=column)  # fmt: skip
    figure.update_layout(barmode="stack", legend_title_text="", margin={"t": 30, "b": 10})
    figure.update_xaxes(title_text="process · stage")
    figure.update_yaxes(title_text="amount", col=1)
    return figure


def worst_stages(states: pd.DataFrame, limit: int = 10) -> pd.DataFrame:
    """Where unfinished transactions wait, worst first: stuck count, then failed."""
    open_ = states[states["state"].isin(["stuck", "failed", "dead_letter"])]
    if open_.empty:
        return pd.DataFrame(columns=["process", "waiting for", "system", "stuck", "failed"])
    table = open_.pivot_table(
        index=["process", "waiting_for", "system"], columns="state", values="transactions", aggfunc="sum", fill_value=0
    ).reset_index()
    for column in ("stuck", "failed", "dead_letter"):
        if column not in table:
            table[column] = 0
    table["failed"] = table["failed"] + table["dead_letter"]
    table = table.rename(columns={"waiting_for": "waiting for"})
    return (
        table[["process", "waiting for", "system", "stuck", "failed"]]
        .sort_values(["stuck", "failed"], ascending=False)
        .head(limit)
    )


def latency(frame: pd.DataFrame) -> go.Figure:
    """p95 hop latency per system (the worst stage of each system in the hover)."""
    if frame.empty:
        return _empty("no hops")
    per_system = frame.groupby("system", as_index=False).agg(hops=("hops", "sum"), p95_ms=("p95_ms", "max"))
    ordered = per_system.sort_values("p95_ms")
    figure = go.Figure(go.Bar(
        x=ordered["p95_ms"], y=ordered["system"], orientation="h", customdata=ordered["hops"],
        hovertemplate="%{y}<br>p95 %{x:,.0f} ms<br>%{customdata:,} hops<extra></extra>",
    ))  # fmt: skip
    figure.update_layout(height=300, margin={"t": 10, "b": 10}, yaxis_title="", xaxis_title="p95 latency (ms)")
    return figure


def timeline(hops: pd.DataFrame) -> go.Figure:
    """Every hop of one key across systems over time; colour is the hop's outcome (ok or error)."""
    if hops.empty:
        return _empty("no hops")
    frame = hops.assign(
        end=hops["start"] + pd.to_timedelta(hops["duration_ms"].clip(lower=1), unit="ms"),
        status=hops["status"].map(lambda s: OUTCOME.get(s, str(s).lower())),
    )
    figure = px.timeline(
        frame,
        x_start="start",
        x_end="end",
        y="system",
        color="status",
        color_discrete_map=STATUS_COLORS,
        hover_data=["stage", "span_name", "duration_ms", "trace_id"],
    )
    figure.add_trace(
        go.Scatter(
            x=frame["start"],
            y=frame["system"],
            mode="markers",
            showlegend=False,
            marker={"size": 9, "color": [STATUS_COLORS.get(s, "#2e7d32") for s in frame["status"]]},
            text=frame["stage"].where(frame["stage"] != "", frame["span_name"]),
            hoverinfo="text+x",
        )
    )
    figure.update_yaxes(categoryorder="array", categoryarray=list(dict.fromkeys(frame["system"]))[::-1])
    figure.update_layout(height=120 + 40 * frame["system"].nunique(), margin={"t": 10, "b": 10}, legend_title_text="",
                         showlegend=bool((frame["status"] == "error").any()))  # fmt: skip
    return figure


def process_flow(transitions: pd.DataFrame) -> go.Figure:
    """The stages as a flow (Sankey): link width is volume, hover shows the median transition time."""
    if transitions.empty:
        return _empty("no transactions")
    nodes = list(dict.fromkeys([*transitions["from_stage"], *transitions["to_stage"]]))
    index = {name: i for i, name in enumerate(nodes)}
    colors = [
        "#c62828" if n in ("(failed)", "(dead_letter)") else "#f9a825" if n == "(stuck)" else "#1976d2" for n in nodes
    ]
    median = transitions["median_s"].map(_human)
    figure = go.Figure(
        go.Sankey(
            node={"label": nodes, "pad": 18, "color": colors},
            link={
                "source": transitions["from_stage"].map(index),
                "target": transitions["to_stage"].map(index),
                "value": transitions["transactions"],
                "customdata": median,
                "hovertemplate": "%{source.label} → %{target.label}<br>%{value} transactions<br>"
                "median %{customdata}<extra></extra>",
            },
        )
    )
    figure.update_layout(height=460, margin={"t": 10, "b": 10})
    return figure


def _human(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def parity(frame: pd.DataFrame) -> go.Figure:
    """Mismatch rate per period and rule: the period's mismatched pairs over its pairs, every channel
    together (``frame`` holds the parity rows per period, rule and channel)."""
    if frame.empty:
        return _empty("nothing to reconcile in this window")
    per_period = frame.groupby(["period", "rule"], as_index=False)[["pairs", "mismatched"]].sum()
    per_period["mismatch_rate"] = per_period["mismatched"] / per_period["pairs"].where(per_period["pairs"] > 0)
    figure = px.bar(
        per_period,
        x="period",
        y="mismatch_rate",
        color="rule",
        barmode="group",
        hover_data=["pairs", "mismatched"],
        labels={"mismatch_rate": "mismatch rate"},
    )
    figure.update_layout(height=300, margin={"t": 10, "b": 10}, yaxis_tickformat=".1%", xaxis_title="")
    return figure


def exceptions_by_kind(frame: pd.DataFrame) -> go.Figure:
    """Exceptions per process, stacked by kind: ``frame`` holds counted rows (process, kind, exceptions)."""
    if frame.empty:
        return _empty("no exceptions")
    grouped = frame.groupby(["process", "kind"], as_index=False)["exceptions"].sum()
    figure = px.bar(grouped, x="exceptions", y="process", color="kind", orientation="h")
    figure.update_layout(height=220, margin={"t": 10, "b": 10}, yaxis_title="", legend_title_text="")
    return figure


def waterfall(frame: pd.DataFrame) -> go.Figure:
    """One trace's spans as a waterfall: a row per span in tree order (children under their parent,
    indented by depth), a bar from its start offset for its duration, failing spans red and marked
    ✖; the hover reads the span (service, start time, offset, duration, outcome, attributes).
    ``frame`` holds ``readmodel.traces.TraceSpan`` rows in the order the read model gives them."""
    from biztrace.dashboard import spans

    if frame.empty:
        return _empty("no spans stored for this trace")
    rows = frame.reset_index(drop=True)
    outcome = rows["status"].map(lambda s: OUTCOME.get(s, str(s).lower()))
    error = outcome == "error"
    labels = [spans.waterfall_label(n, d, e) for n, d, e in zip(rows["name"], rows["depth"], error, strict=True)]
    extent = float((rows["offset_ms"] + rows["duration_ms"]).max() or 1)
    hover = pd.DataFrame({
        "service": rows["service"],
        "start": rows["start"].map(lambda t: f"{pd.Timestamp(t):%Y-%m-%d %H:%M:%S.%f}"[:-3]),
        "offset": rows["offset_ms"].map(spans.duration),
        "duration": rows["duration_ms"].map(spans.duration),
        "outcome": outcome + rows["status_message"].map(lambda m: f": {m}" if m else ""),
        "attributes": rows["attributes"].map(spans.attribute_lines),
        "trace_id": rows["trace_id"],
        "span_id": rows["span_id"],
    })  # fmt: skip
    figure = go.Figure()
    for name, chosen in (("ok", ~error), ("error", error)):
        if not chosen.any():
            continue
        part = rows[chosen]
        figure.add_trace(go.Bar(
            name=name, orientation="h", y=list(part.index), base=part["offset_ms"],
            x=part["duration_ms"].clip(lower=extent / 400),  # a span of no duration still shows a sliver
            marker={"color": STATUS_COLORS[name]}, customdata=hover[chosen].values,
            hovertemplate="<b>%{customdata[0]}</b> · started %{customdata[1]} UTC<br>"
            "+%{customdata[2]} into the trace · took <b>%{customdata[3]}</b> · %{customdata[4]}<br>"
            "%{customdata[5]}<extra></extra>",
        ))  # fmt: skip
    # the names as left-aligned annotations, shifted by depth (tick labels are right-aligned: no indent)
    step = 14
    left = min(420, 24 + max(len(n) * 8 + step * (d + 1) for n, d in zip(rows["name"], rows["depth"], strict=True)))
    for index, (label, depth, failed) in enumerate(zip(labels, rows["depth"], error, strict=True)):
        figure.add_annotation(
            text=label.lstrip(spans.INDENT[0]), x=0, xref="paper", y=index, yref="y", xanchor="left", showarrow=False,
            xshift=-left + 6 + step * int(depth),
            font={"color": STATUS_COLORS["error"] if failed else None, "size": 12},
        )  # fmt: skip
    figure.update_yaxes(tickvals=list(rows.index), ticktext=labels, showticklabels=False, autorange="reversed",
                        title="")  # fmt: skip
    figure.update_xaxes(title="ms after the trace's first span", rangemode="tozero")
    figure.update_layout(
        meta="waterfall", height=80 + 24 * len(rows), margin={"t": 10, "b": 10, "l": left}, barmode="overlay",
        bargap=0.25, showlegend=bool(error.any()), legend_title_text="", hoverlabel={"align": "left"},
    )  # fmt: skip
    return figure
