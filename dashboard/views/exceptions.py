"""Exception queues: every transaction in trouble, by process and kind, with the actions on it.

Acknowledge, assign and resolve are recorded with the signed-in user in
``biztrace_exception_events`` (the same audit trail as ``biztrace exceptions ack``).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from alerts.errors import NotFound
from dashboard import charts, queries, ui

config = ui.load_config()
filters = ui.current_filters()
user = ui.page_user("exceptions")
PRIORITY_ORDER = {"high": 0, "normal": 1, "low": 2}


@st.cache_data(ttl=600, show_spinner=False, max_entries=16)
def _queue(filters_json: str, at, version: int) -> list[dict]:
    items = queries.exception_queue(ui.load_config(), queries.Filters.model_validate_json(filters_json), at)
    return [item.model_dump() for item in items]


def _frame() -> pd.DataFrame:
    rows = _queue(filters.model_dump_json(), ui.tick(), st.session_state.get("exceptions_version", 0))
    columns = [
        "process",
        "kind",
        "key",
        "stage",
        "system",
        "state",
        "priority",
        "channel",
        "since",
        "age_s",
        "assignee",
        "acknowledged_by",
        "resolved_by",
        "resolution_s",
        "runbook",
        "note",
        "opened_at",
    ]
    return pd.DataFrame(rows, columns=columns)


st.title("Exception queues")
frame = _frame()
if frame.empty:
    st.success(f"No exceptions among transactions started in the last {filters.window}.")
    ui.footer()
    st.stop()

open_ = frame[frame["state"] != "resolved"]
resolved = frame[frame["state"] == "resolved"]
kpis = st.columns(5)
kpis[0].metric("Open", f"{int((frame['state'] == 'open').sum()):,}")
kpis[1].metric("Acknowledged", f"{int((frame['state'] == 'acknowledged').sum()):,}")
kpis[2].metric("Resolved", f"{len(resolved):,}")
durations = resolved["resolution_s"].dropna()
kpis[3].metric("Median time to resolve", ui.age(durations.median()) if len(durations) else "—")
kpis[4].metric("p90 time to resolve", ui.age(durations.quantile(0.9)) if len(durations) else "—")
st.plotly_chart(charts.exceptions_by_kind(open_), width="stretch", key="kinds_chart")

left, middle, right = st.columns(3)
kinds = left.multiselect("Kind", sorted(frame["kind"].unique()), key="x_kinds")
states = middle.multiselect(
    "State", ["open", "acknowledged", "resolved"], default=["open", "acknowledged"], key="x_states"
)
order = right.selectbox("Sort by", ["oldest first", "newest first", "priority, then age"], key="x_sort")
shown = frame[frame["state"].isin(states or ["open", "acknowledged", "resolved"])]
if kinds:
    shown = shown[shown["kind"].isin(kinds)]
if order == "priority, then age":
    shown = shown.assign(_p=shown["priority"].map(PRIORITY_ORDER).fillna(3)).sort_values(
        ["_p", "age_s"], ascending=[True, False]
    )
else:
    shown = shown.sort_values("age_s", ascending=order == "newest first")
table = shown.assign(order=shown["key"].map(ui.order_link), age=shown["age_s"].map(ui.age))[
    ["order", "process", "kind", "key", "stage", "system", "state", "priority", "age", "since", "assignee", "runbook"]
].reset_index(drop=True)
st.caption(f"{len(table):,} exceptions")
event = st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    on_select="rerun",
    selection_mode="multi-row",
    key="exceptions_table",
    column_config={
        "order": st.column_config.LinkColumn("open", display_text="open"),
        "runbook": st.column_config.LinkColumn("runbook", display_text="runbook"),
    },
)
picked = [shown.iloc[i] for i in (event.selection.rows if event is not None else [])]
actionable = shown[shown["state"] != "resolved"]
labels = {f"{r.key} · {r.kind} · {r.process}": (r.process, r.key, r.kind) for r in actionable.itertuples()}

if user.may("exception") and labels:
    st.markdown(f"**Act on exceptions** · recorded as `{user.name}`")
    defaults = [
        label
        for label, identity in labels.items()
        if any((row["process"], row["key"], row["kind"]) == identity for row in picked)
    ]
    with st.form("act"):
        chosen = st.multiselect(
            "Exceptions (or select rows in the table)",
            list(labels),
            default=defaults,
            key=f"x_chosen_{len(picked)}_{hash(tuple(defaults))}",
        )
        action = st.radio("Action", ["acknowledge", "assign", "resolve"], horizontal=True, key="x_action")
        assignee = st.text_input("Assign to", key="x_assignee")
        note = st.text_input("Note", key="x_note")
        if st.form_submit_button("Apply", type="primary"):
            done, problems = 0, []
            if action == "assign" and not assignee.strip():
                problems.append("assign needs a name in 'Assign to'")
                chosen = []
            by_identity = {item.identity: item for item in queries.exception_queue(config, filters, ui.tick())}
            for label in chosen:
                item = by_identity.get(labels[label])
                if item is None:
                    problems.append(f"{label}: no longer detected")
                    continue
                try:
                    queries.act_on_exception(config, item, action, user.name, assignee.strip(), note.strip())
                    done += 1
                except NotFound as exc:
                    problems.append(str(exc))
            st.session_state["exceptions_version"] = st.session_state.get("exceptions_version", 0) + 1
            st.session_state["exceptions_flash"] = (done, action, problems)
            st.rerun()
elif labels:
    st.caption("Your role can view the queue but not act on it.")

flash = st.session_state.pop("exceptions_flash", None)
if flash:
    done, action, problems = flash
    if done:
        st.success(f"{action}: {done} exception(s) updated")
    for problem in problems:
        st.warning(problem)
ui.footer()
