"""Reconciliation: do CRM, ERP, WMS and billing agree about the same orders?"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from biztrace.dashboard import charts, queries, ui

ui.page_user("reconciliation")
config = ui.load_config()
filters = ui.current_filters()


@st.cache_data(ttl=600, show_spinner=False, max_entries=16)
def _report(filters_json: str, at) -> dict[str, pd.DataFrame]:
    report = queries.reconciliation(ui.load_config(), queries.Filters.model_validate_json(filters_json), at)
    return {name: pd.DataFrame([row.model_dump() for row in rows]) for name, rows in report.items()}


@st.fragment(run_every=ui.run_every())
def body() -> None:
    report = _report(filters.model_dump_json(), ui.tick())
    st.title("Reconciliation")
    parity, systems, mismatches = report["parity"], report["systems"], report["mismatches"]
    if parity.empty:
        st.info(f"Nothing to reconcile among transactions of the last {filters.window}.")
        ui.footer()
        return
    totals = parity.groupby("rule", as_index=False)[["pairs", "mismatched"]].sum()
    cols = st.columns(len(totals))
    for column, row in zip(cols, totals.itertuples(), strict=False):
        rate = row.mismatched / row.pairs if row.pairs else 0.0
        column.metric(row.rule, f"{rate:.2%} mismatched", help=f"{row.mismatched:,} of {row.pairs:,} pairs")
    st.plotly_chart(charts.parity(parity), width="stretch", key="parity_chart")
    st.subheader("Parity by period, rule and channel")
    st.dataframe(
        parity,
        hide_index=True,
        width="stretch",
        column_config={
            "mismatch_rate": st.column_config.NumberColumn(format="percent"),
            "right_within_sla_share": st.column_config.NumberColumn("within SLA", format="percent"),
        },
    )
    st.subheader("What each system saw")
    st.dataframe(systems, hide_index=True, width="stretch")
    st.subheader(f"Mismatched transactions ({len(mismatches):,})")
    if mismatches.empty:
        st.caption("none")
    else:
        shown = mismatches.assign(
            order=mismatches["key"].map(ui.order_link),
            left=mismatches["left"].map(_text),
            right=mismatches["right"].map(_text),
        )
        shown = shown[
            [
                "order",
                "key",
                "rule",
                "field",
                "left_system",
                "left",
                "right_system",
                "right",
                "currency",
                "channel",
                "since",
                "match_key",
            ]
        ]
        st.dataframe(
            shown,
            hide_index=True,
            width="stretch",
            column_config={"order": st.column_config.LinkColumn("open", display_text="open")},
        )
    ui.footer()


def _text(value: object) -> str:
    """Left and right values mix numbers and statuses; one text column shows both."""
    return "—" if value is None or value != value else str(value)


body()
