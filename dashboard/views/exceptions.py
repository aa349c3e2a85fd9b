"""Exception queues: every transaction in trouble, by process and kind, with the actions on it.

The queue is sorted and paged in ClickHouse (``queries.exception_page``): a page of rows and
the totals come back, never the whole queue.

Acknowledge, assign and resolve are recorded with the signed-in user in
``biztrace_exception_events`` (the same audit trail as ``biztrace exceptions ack``).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from biztrace.dashboard import charts, queries, ui
from biztrace.readmodel.errors import NotFound

config = ui.load_config()
filters = ui.current_filters()
user = ui.page_user("exceptions")
PAGE_SIZE = 50


@st.cache_data(ttl=600, show_spinner=False, max_entries=32)
def _page(filters_json: str, at, version: int, states: tuple, kinds: tuple, sort: str, page: int):
    return queries.exception_page(
        ui.load_config(),
        queries.Filters.model_validate_json(filters_json),
        at,
        states=states,
        kinds=kinds,
        sort=sort,
        page=page,
        page_size=PAGE_SIZE,
    )


def _reset_page() -> None:
    st.session_state["x_page"] = 1


st.title("Exception queues")
left, middle, right = st.columns(3)
kinds = left.multiselect(
    "Kind", ["stuck", "failed", "dead_letter", "duplicate", "mismatch"], key="x_kinds", on_change=_reset_page
)
states = middle.multiselect(
    "State", list(queries.EXCEPTION_STATES), default=["open", "acknowledged"], key="x_states", on_change=_reset_page
)
order = right.selectbox("Sort by", list(queries.EXCEPTION_SORTS), key="x_sort", on_change=_reset_page)
page_number = int(st.session_state.get("x_page", 1))
version = st.session_state.get("exceptions_version", 0)
result = _page(
    filters.model_dump_json(),
    ui.tick(),
    version,
    tuple(states or queries.EXCEPTION_STATES),
    tuple(kinds),
    order,
    page_number - 1,
)
counts = result.counts
if counts.empty:
    st.success(f"No exceptions among transactions started in {filters.label()}.")
    ui.footer()
    st.stop()

kpis = st.columns(5)
kpis[0].metric("Open", f"{result.count('open'):,}")
kpis[1].metric("Acknowledged", f"{result.count('acknowledged'):,}")
kpis[2].metric("Resolved", f"{result.count('resolved'):,}", help="opened in the window, resolved since")
kpis[3].metric(
    "Median time to resolve",
    "—" if result.median_resolution_s is None else ui.age(result.median_resolution_s),
    help="resolved - opened, over the resolved exceptions",
)
kpis[4].metric("p90 time to resolve", "—" if result.p90_resolution_s is None else ui.age(result.p90_resolution_s))
st.plotly_chart(charts.exceptions_by_kind(counts[counts["state"] != "resolved"]), width="stretch", key="kinds_chart")

pages = max(1, -(-result.matching // PAGE_SIZE))
if page_number > pages:  # the queue shrank under the page being read
    st.session_state["x_page"] = pages
    st.rerun()
rows = result.rows
table = pd.DataFrame(
    {
        "order": rows["key"].map(ui.order_link),
        **{name: rows[name] for name in ("process", "kind", "key", "stage", "system", "state", "priority")},
        "age": rows["age_s"].map(ui.age),
        "since": rows["since"],
        "assignee": rows["assignee"],
        "runbook": rows["runbook"],
    }
)
first = (page_number - 1) * PAGE_SIZE
st.caption(f"{result.matching:,} exceptions" + (f" · {first + 1:,}–{first + len(rows):,} shown" if len(rows) else ""))
# Every widget of the selection and the action is keyed by the version, which an Apply raises: the
# table's selection, the chosen exceptions, the action and the note start empty after each Apply,
# so a second Apply can never act on rows nobody chose.
event = st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    on_select="rerun",
    selection_mode="multi-row",
    key=f"exceptions_table_{version}_{page_number}",
    column_config={
        "order": st.column_config.LinkColumn("open", display_text="open"),
        "runbook": st.column_config.LinkColumn("runbook", display_text="runbook"),
    },
)
if pages > 1:
    st.number_input(f"Page (of {pages:,})", min_value=1, max_value=pages, step=1, key="x_page")
picked = [rows.iloc[i] for i in (event.selection.rows if event is not None else [])]
actionable = rows[rows["state"] != "resolved"]
labels = {f"{r.key} · {r.kind} · {r.process}": (r.process, r.key, r.kind) for r in actionable.itertuples()}

if user.may("exception") and labels:
    st.markdown(f"**Act on exceptions** · recorded as {ui.literal(user.name)}")
    defaults = [
        label
        for label, identity in labels.items()
        if any((row["process"], row["key"], row["kind"]) == identity for row in picked)
    ]
    chosen = st.multiselect(
        "Exceptions (or select rows in the table)",
        list(labels),
        default=defaults,
        key=f"x_chosen_{version}_{page_number}_{'|'.join(defaults)}",
    )
    action = st.radio("Action", ["acknowledge", "assign", "resolve"], horizontal=True, key=f"x_action_{version}")
    assignee = st.text_input("Assign to", key=f"x_assignee_{version}")
    note = st.text_input("Note", key=f"x_note_{version}")
    if chosen:
        targets = ", ".join(ui.literal(labels[label][1]) + f" ({labels[label][2]})" for label in chosen)
        st.markdown(f"Apply will **{action}** {len(chosen)} exception(s): {targets}")
    else:
        st.caption("Choose exceptions above, or select rows in the table, to act on them.")
    applied = st.button("Apply", type="primary", disabled=not chosen, key=f"x_apply_{version}")
    if applied and action == "assign" and not assignee.strip():
        st.error("assign needs a name in 'Assign to'")
    elif applied:
        done, problems = 0, []
        for label in chosen:
            try:
                queries.act_on_exception(config, labels[label], action, user.name, assignee.strip(), note.strip())
                done += 1
            except NotFound:
                problems.append(f"{ui.literal(label)}: no longer detected")
        st.session_state["exceptions_version"] = version + 1
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
