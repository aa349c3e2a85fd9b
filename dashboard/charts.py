"""Plotly figures from the pages' DataFrames: pure functions, so they are tested without a browser."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

STATE_COLORS = {
    "complete": "#2e7d32",
    "in_flight": "#1976d2",
    "stuck": "#f9a825",
    "failed": "#c62828",
    "dead_letter": "#6a1b9a",
}
STATUS_COLORS = {"Ok": "#2e7d32", "Unset": "#1976d2", "Error": "#c62828"}


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
    figure = px.bar(
        grouped, x="process", y="transactions", color="state", color_discrete_map=STATE_COLORS, custom_data=["state"]
    )
    figure.update_layout(barmode="stack", height=340, margin={"t": 10, "b": 10}, legend_title_text="")
    return figure


def sla_heatmap(sla: pd.DataFrame, rows: list[str] | None = None) -> go.Figure:
    """Adherence per (process · stage) and priority, rows in ``rows`` order (the processes'
    stage order, first at the top); hover shows met of measured."""
    if sla.empty:
        return _empty("no stage with an SLA was measured")
    table = sla.assign(row=sla["process"] + " · " + sla["stage"])
    pivot = table.pivot_table(index="row", columns="priority", values="adherence", aggfunc="mean")
    if rows:
        pivot = pivot.reindex([r for r in rows if r in pivot.index][::-1])
    counts = table.pivot_table(index="row", columns="priority", values="measured", aggfunc="sum")
    figure = go.Figure(
        go.Heatmap(
            z=pivot.values,
            x=list(pivot.columns),
            y=list(pivot.index),
            zmin=0,
            zmax=1,
            colorscale="RdYlGn",
            text=counts.reindex_like(pivot).fillna(0).astype(int).values,
            texttemplate="%{z:.0%}",
            hovertemplate="%{y}<br>priority %{x}<br>adherence %{z:.1%}<br>measured %{text}<extra></extra>",
        )
    )
    figure.update_layout(height=340, margin={"t": 10, "b": 10})
    return figure


def trend(frame: pd.DataFrame) -> go.Figure:
    """Transactions started per bucket, split by what became of them."""
    if frame.empty:
        return _empty("no transactions")
    long = (
        frame.groupby("bucket", as_index=False)[["complete", "in_flight", "stuck", "failed"]]
        .sum()
        .melt(id_vars="bucket", var_name="state", value_name="transactions")
    )
    figure = px.area(long, x="bucket", y="transactions", color="state", color_discrete_map=STATE_COLORS)
    figure.update_layout(height=300, margin={"t": 10, "b": 10}, legend_title_text="", xaxis_title="")
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
    figure = px.bar(
        per_system.sort_values("p95_ms"),
        x="p95_ms",
        y="system",
        orientation="h",
        hover_data=["hops"],
        labels={"p95_ms": "p95 latency (ms)"},
    )
    figure.update_layout(height=300, margin={"t": 10, "b": 10}, yaxis_title="")
    return figure


def timeline(hops: pd.DataFrame) -> go.Figure:
    """Every hop of one key across systems over time; colour is the span status."""
    if hops.empty:
        return _empty("no hops")
    frame = hops.assign(end=hops["start"] + pd.to_timedelta(hops["duration_ms"].clip(lower=1), unit="ms"))
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
            marker={"size": 9, "color": [STATUS_COLORS.get(s, "#1976d2") for s in frame["status"]]},
            text=frame["stage"].where(frame["stage"] != "", frame["span_name"]),
            hoverinfo="text+x",
        )
    )
    figure.update_yaxes(categoryorder="array", categoryarray=list(dict.fromkeys(frame["system"]))[::-1])
    figure.update_layout(height=120 + 40 * frame["system"].nunique(), margin={"t": 10, "b": 10}, legend_title_text="")
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
