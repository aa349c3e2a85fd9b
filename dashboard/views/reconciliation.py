"""Reconciliation: do CRM, ERP, WMS and billing agree about the same orders?"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from biztrace.dashboard import charts, queries, ui
from biztrace.readmodel import figures

ui.page_user("reconciliation")
config = ui.load_config()
filters = ui.current_filters()


@st.cache_data(ttl=600, show_spinner=False, max_entries=16)
def _report(filters_json: str, at) -> tuple[dict[str, pd.DataFrame], dict[str, list[figures.MismatchRate]]]:
    config = ui.load_config()
    report = queries.reconciliation(config, queries.Filters.model_validate_json(filters_json), at)
    rates = {by: figures.mismatch_rates(config, report["parity"], by=by) for by in ("process", "rule")}
    return {name: pd.DataFrame([row.model_dump() for row in rows]) for name, rows in report.items()}, rates


@ui.refreshed
def body() -> None:
    report, rates = _report(filters.model_dump_json(), ui.tick())
    st.title("Reconciliation")
    parity, systems, mismatches = report["parity"], report["systems"], report["mismatches"]
    if parity.empty:
        st.info(f"Nothing to reconcile among transactions of {filters.label()}.")
        ui.footer()
        return
    # the rate over all pairs, per process (the SystemsDisagree rule's figure) and per rule: never an
    # average or a stack of per-period or per-channel rates
    headlines = [(f"{r.scope} (every rule)", r) for r in rates["process"]] + [(r.scope, r) for r in rates["rule"]]
    for column, (label, rate) in zip(st.columns(len(headlines)), headlines, strict=False):
        column.metric(
            label, f"{rate.rate:.2%} mismatched", help=f"{rate.mismatched:,} of {rate.pairs:,} pairs disagree"
        )
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
        shown = mismatches.assign(left=mismatches["left"].map(_text), right=mismatches["right"].map(_text))
        shown = shown[
            [
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
        st.caption("select a row to open its order")
        ui.order_table(shown.reset_index(drop=True), "key", key="mismatch_table", hide_index=True, width="stretch")
    ui.footer()


def _text(value: object) -> str:
    """Left and right values mix numbers and statuses; one text column shows both."""
    return "—" if value is None or value != value else str(value)


body()
