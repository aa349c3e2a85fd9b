"""SLA scorecards, for operations leaders and account managers: per customer, trading partner,
channel or system, how the period went against the one before, worst money first."""

from __future__ import annotations

import time
from datetime import timedelta

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from biztrace.dashboard import data, queries, ui
from biztrace.readmodel import scorecards as read_scorecards
from biztrace.readmodel.models import format_money

PERIODS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30), "90d": timedelta(days=90)}
LIMITS = (10, 25, 50, 100, 500)

ui.page_user("scorecards")
config = ui.load_config()
filters = ui.current_filters()


@st.cache_data(ttl=600, show_spinner=False, max_entries=16)
def _cards(by: str, period: str, process: str, limit: int, at) -> read_scorecards.Scorecards:
    """The scorecards of one refresh (``at``, its cache key): beside the alert loop (``biztrace up``), those of
    its last pass, read from what it classified and detected (``shared``); else computed now."""
    started = time.perf_counter()
    try:
        return read_scorecards.scorecards(data.store(), ui.load_config(), queries.now(),
                                          period=PERIODS[period], by=by, process=process, limit=limit,
                                          shared=True)  # fmt: skip
    finally:
        data.add_query_time(time.perf_counter() - started)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _arrow(delta: float | None, *, better_up: bool = True, points: bool = True) -> str:
    """The trend as an arrow and the difference: ▲ better, ▼ worse, ▬ unchanged (n/a without a figure)."""
    if delta is None:
        return "n/a"
    shown = f"{delta * 100:+.1f} pt" if points else f"{delta:+,.0f}"
    if abs(delta) < 1e-9:
        return f"▬ {shown}"
    return f"{'▲' if (delta > 0) == better_up else '▼'} {shown}"


def _money(amounts: dict[str, float], *, signed: bool = False) -> str:
    """Amounts per currency; ``signed``: a difference, "+" before an increase (as the other trends)."""
    return " · ".join(("+" if signed and amount > 0 else "") + format_money(amount, currency)
                      for currency, amount in sorted(amounts.items())) or "—"  # fmt: skip


def table(cards: read_scorecards.Scorecards, currency: str) -> pd.DataFrame:
    """The scorecards as the page lists them: most money affected (in ``currency``) first."""
    rows = []
    for row in cards.rows:
        now, trend = row.current, row.trend
        rows.append({
            cards.by: row.name,
            "money affected": now.money_affected.get(currency, 0.0),
            "money trend": _money({c: v for c, v in trend.money_affected.items() if v}, signed=True),
            "money (all currencies)": _money(now.money_affected),
            "transactions": now.transactions,
            "transactions trend": f"{trend.transactions:+,}",
            "end-to-end SLA": _pct(now.end_to_end.adherence),
            "end-to-end trend": _arrow(trend.end_to_end),
            "stage SLAs": _pct(now.stage_adherence),
            "stage SLAs trend": _arrow(trend.stage_sla),
            "exceptions": sum(now.exceptions.values()),
            "exceptions trend": _arrow(trend.exceptions, better_up=False, points=False),
            "by kind": ", ".join(f"{kind} {count}" for kind, count in sorted(now.exceptions.items())),
            "mismatches": ", ".join(f"{field} {count}" for field, count in sorted(now.mismatches.items())),
            "stuck": now.stuck,
            "failed": now.failed + now.dead_letter,
        })  # fmt: skip
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    return frame.sort_values(["money affected", "transactions"], ascending=False).reset_index(drop=True)


def chart(cards: read_scorecards.Scorecards, order: list[str]) -> go.Figure:
    """Stage SLA adherence per row, this period beside the previous one."""
    by_name = {row.name: row for row in cards.rows}
    names = [name for name in order if name in by_name]
    figure = go.Figure()
    for label, pick in (("previous period", lambda r: r.previous), ("this period", lambda r: r.current)):
        figure.add_bar(
            name=label,
            x=names,
            y=[pick(by_name[n]).stage_adherence for n in names],
            customdata=[pick(by_name[n]).stage_measured for n in names],
            hovertemplate="%{x}: %{y:.1%} of %{customdata} stage SLAs met<extra>" + label + "</extra>",
        )
    figure.update_layout(barmode="group", yaxis_tickformat=".0%", yaxis_title="stage SLAs met", height=360,
                         margin={"t": 10, "b": 10}, legend={"orientation": "h"})  # fmt: skip
    return figure


def body() -> None:
    st.title("SLA scorecards")
    left, middle, right = st.columns(3)
    by = left.segmented_control("One row per", list(read_scorecards.DIMENSIONS), default="customer", key="sc_by")
    period = middle.segmented_control("Period", list(PERIODS), default="7d", key="sc_period")
    limit = right.selectbox("Rows (most transactions)", LIMITS, index=2, key="sc_limit")
    by, period = by or "customer", period or "7d"
    cards = _cards(by, period, filters.process, int(limit), ui.tick())
    process = f" of {filters.process}" if filters.process else ""
    st.caption(
        f"Transactions{process} started in the last {period} ({cards.start:%Y-%m-%d %H:%M} to "
        f"{cards.now:%Y-%m-%d %H:%M} UTC) against the {period} before; every figure judged at the period's end. "
        f"{len(cards.rows)} of {cards.scopes} "
        f"{by}s shown (those with the most transactions). Money affected: the value of the transactions with an "
        "exception (any kind, any state). ▲ better, ▼ worse."
    )
    if not cards.rows:
        st.info(f"No transactions{process} started in the last {2 * PERIODS[period]}.")
        ui.footer()
        return
    currencies = sorted({c for row in cards.rows for c in row.current.money_affected}) or [""]
    totals = {c: sum(row.current.money_affected.get(c, 0.0) for row in cards.rows) for c in currencies}
    currency = max(currencies, key=lambda c: totals[c])
    if len(currencies) > 1:
        currency = st.selectbox("Sort by money affected in", currencies, index=currencies.index(currency),
                                key="sc_currency")  # fmt: skip
    frame = table(cards, currency)
    # the amounts drawn as the trend beside them is ("€91,291.08"), the column still sorted as numbers
    money = {"EUR": "euro", "USD": "dollar", "JPY": "yen"}.get(currency, "accounting")
    st.dataframe(
        frame, hide_index=True, width="stretch", key="scorecards_table",
        column_config={"money affected": st.column_config.NumberColumn(f"money affected ({currency or 'no currency'})",
                                                                       format=money)},
    )  # fmt: skip
    st.subheader("Stage SLAs met: this period against the previous one")
    st.plotly_chart(chart(cards, list(frame[by])), width="stretch", key="scorecards_chart")
    st.download_button("Download CSV", pd.DataFrame(read_scorecards.csv_rows(cards)).to_csv(index=False),
                       file_name=f"scorecards-{by}-{period}.csv", mime="text/csv")  # fmt: skip
    ui.footer()


body()
