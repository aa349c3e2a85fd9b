"""Exception queues: every transaction in trouble, by process and kind, with the actions on it.

The queue is sorted and paged in ClickHouse (``queries.exception_page``): a page of rows and
the totals come back, never the whole queue.

Acknowledge, assign, comment, postpone, unpostpone and resolve are recorded with the signed-in
user in ``biztrace_exception_events`` (the same audit trail as ``biztrace exceptions ack``). Replay
asks the middleware to resubmit the transaction through its configured target (``replay:`` in the
configuration; offered to the roles a target allows, when this process was given a sender), shows
what the middleware answered, and each chosen exception lists its replays with where the
transaction stands since (moved on within its SLA, late, or still stuck). A
postponed exception leaves the default queue (open and acknowledged) and its "Open" figure until its
time, then comes back by itself; the State filter shows postponed ones. Comments are shown as plain
text under the table for the selected rows, each with a link to its order page (in this tab).
"""

from __future__ import annotations

import time
from typing import get_args

import pandas as pd
import streamlit as st

from biztrace.config.replay import ExceptionKind
from biztrace.dashboard import charts, data, queries, ui
from biztrace.readmodel import exceptions as alert_exceptions
from biztrace.readmodel import replays as read_replays
from biztrace.readmodel.errors import NotFound
from biztrace.readmodel.models import format_money

config = ui.load_config()
filters = ui.current_filters()
user = ui.page_user("exceptions")
PAGE_SIZE = 50
ACTIONS = ["acknowledge", "assign", "comment", "postpone", "unpostpone", "resolve"]
# Replay is offered when a target serves some exception, a role of this user may use one, and this
# process was handed a sender (``biztrace up`` / ``biztrace dashboard``); the read model checks each one.
REPLAY_ROLES = {role for target in config.replay for role in target.roles}
may_replay = bool(REPLAY_ROLES & set(user.roles))
sender = ui.replay_sender()
if may_replay and sender is not None:
    ACTIONS.append("replay")
FOLLOWUP = {
    "moved_on": "moved on within its SLA",
    "moved_on_late": "moved on, after its SLA",
    "still_stuck": "still stuck past its SLA",
    "waiting": "waiting, within its SLA",
}


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


def _replays(process: str, key: str, kind: str) -> list[read_replays.Replay]:
    started = time.perf_counter()
    try:
        return read_replays.replays(data.store(), config, queries.now(), process=process, key=key, kind=kind, limit=5)
    finally:
        data.add_query_time(time.perf_counter() - started)


def replay_text(replay: read_replays.Replay) -> str:
    """One replay as a line: when, who, what the middleware answered, where the transaction stands since."""
    status = f" (HTTP {replay.http_status})" if replay.http_status else ""
    answer = f": {replay.detail}" if replay.detail else ""
    text = f"replay {replay.requested_at:%Y-%m-%d %H:%M} UTC by {replay.actor} via {replay.target}: "
    text += f"{replay.outcome}{status}{answer}"
    if replay.followup:
        text += f" · {FOLLOWUP.get(replay.followup, replay.followup)}"
        if replay.followup in ("moved_on", "moved_on_late") and replay.moved_on_stage:
            text += f" ({replay.moved_on_stage})"
        elif replay.due_at is not None:
            text += f" (awaiting {replay.awaited_stage}, due {replay.due_at:%Y-%m-%d %H:%M} UTC)"
    return text


def _detail(chosen_rows: list) -> None:
    """The chosen exceptions' detail: a link to the order, postponement, replays and comments, shown as
    plain text (never markdown)."""
    for row in chosen_rows[:10]:
        title = f"{ui.literal(row['key'])} · {row['kind']} · {len(row['comments'])} comment(s)"
        with st.expander(title, expanded=True):
            st.page_link(f"views/{ui.ORDER_PAGE}.py", label=f"Open {row['key']}", icon=":material/arrow_forward:",
                         query_params={"key": row["key"], **ui.filter_params(filters)})  # fmt: skip
            if config.replay:
                for replay in _replays(row["process"], row["key"], row["kind"]):
                    st.text(replay_text(replay))
            if row["postponed_until"] is not None and not pd.isna(row["postponed_until"]):
                st.text(f"postponed until {row['postponed_until']:%Y-%m-%d %H:%M} UTC by {row['postponed_by']}")
            for comment in row["comments"]:
                st.text(f"{comment['at']:%Y-%m-%d %H:%M} UTC · {comment['by']}\n{comment['text']}")
            if not row["comments"]:
                st.caption("No comments yet.")


def _money(amount: float | None, currency: str | None) -> str:
    return "" if amount is None or pd.isna(amount) else format_money(float(amount), currency or "")


def _reset_page() -> None:
    st.session_state["x_page"] = 1


st.title("Exception queues")
KINDS = list(get_args(ExceptionKind))
DEFAULT_STATES = ["open", "acknowledged"]
SORTS = list(queries.EXCEPTION_SORTS)
# a shared link opens the same queue (?kind=stuck&state=open&sort=...)
ui.url_choice("kind", "x_kinds", KINDS, [], many=True)
ui.url_choice("state", "x_states", list(queries.EXCEPTION_STATES), DEFAULT_STATES, many=True)
ui.url_choice("sort", "x_sort", SORTS, SORTS[0])
left, middle, right = st.columns(3)
kinds = left.multiselect("Kind", KINDS, key="x_kinds", on_change=_reset_page)
states = middle.multiselect("State", list(queries.EXCEPTION_STATES), key="x_states", on_change=_reset_page)
order = right.selectbox("Sort by", SORTS, key="x_sort", on_change=_reset_page)
ui.keep_in_url("kind", kinds, [])
ui.keep_in_url("state", states, DEFAULT_STATES)
ui.keep_in_url("sort", order, SORTS[0])
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

kpis = st.columns(6)
kpis[0].metric("Open", f"{result.count('open'):,}", help="not postponed (postponed ones are counted apart)")
kpis[1].metric("Acknowledged", f"{result.count('acknowledged'):,}")
kpis[2].metric("Postponed", f"{result.count('postponed'):,}", help="out of the queue until their time, then back")
kpis[3].metric("Resolved", f"{result.count('resolved'):,}", help="opened in the window, resolved since")
kpis[4].metric(
    "Median time to resolve",
    "—" if result.median_resolution_s is None else ui.age(result.median_resolution_s),
    help="resolved - opened, over the resolved exceptions",
)
kpis[5].metric("p90 time to resolve", "—" if result.p90_resolution_s is None else ui.age(result.p90_resolution_s))
st.plotly_chart(charts.exceptions_by_kind(counts[counts["state"] != "resolved"]), width="stretch", key="kinds_chart")

pages = max(1, -(-result.matching // PAGE_SIZE))
if page_number > pages:  # the queue shrank under the page being read
    st.session_state["x_page"] = pages
    st.rerun()
rows = result.rows
table = pd.DataFrame(
    {
        **{name: rows[name] for name in ("process", "kind", "key", "stage", "system", "state", "priority")},
        # the transaction's value at risk ("largest amount first" sorts by it); blank when it carried none
        "amount": [_money(amount, currency) for amount, currency in zip(rows["amount"], rows["currency"], strict=True)],
        "age": rows["age_s"].map(ui.age),
        "since": rows["since"],
        "assignee": rows["assignee"],
        "postponed until": rows["postponed_until"].map(lambda t: "" if pd.isna(t) else f"{t:%Y-%m-%d %H:%M}"),
        "comments": rows["comments"].map(len),
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
    column_config={"runbook": st.column_config.LinkColumn("runbook", display_text="runbook")},
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
    shown = {(row["process"], row["key"], row["kind"]) for row in picked} | {labels[label] for label in chosen}
    _detail([row for _, row in rows.iterrows() if (row["process"], row["key"], row["kind"]) in shown])
    action = st.radio("Action", ACTIONS, horizontal=True, key=f"x_action_{version}")
    assignee = st.text_input("Assign to", key=f"x_assignee_{version}")
    note = st.text_input("Note or comment", max_chars=alert_exceptions.MAX_COMMENT, key=f"x_note_{version}",
                         help="a comment is kept as plain text with your name and the time")  # fmt: skip
    postpone = st.text_input(
        "Postpone for or until", key=f"x_until_{version}", placeholder="4h, 2d or 2026-12-07T09:00"
    )
    until, refusal = None, ""
    if action == "assign" and not assignee.strip():
        refusal = "assign needs a name in 'Assign to'"
    elif action == "comment" and not note.strip():
        refusal = "comment needs some text in 'Note or comment'"
    elif action == "postpone":
        try:
            until = queries.postpone_until(postpone or "")
        except ValueError as exc:
            refusal = str(exc).splitlines()[0]
    if chosen:
        targets = ", ".join(ui.literal(labels[label][1]) + f" ({labels[label][2]})" for label in chosen)
        when = f" until {until:%Y-%m-%d %H:%M} UTC" if until else ""
        st.markdown(f"Apply will **{action}** {len(chosen)} exception(s){when}: {targets}")
    else:
        st.caption("Choose exceptions above, or select rows in the table, to act on them.")
    if may_replay and sender is None:
        st.caption("Replay is not offered: this dashboard was started without a replay sender "
                   "(`biztrace exceptions replay KEY` asks for one from the command line).")  # fmt: skip
    applied = st.button("Apply", type="primary", disabled=not chosen, key=f"x_apply_{version}")
    if applied and refusal:
        st.error(refusal)
    elif applied and action == "replay":
        answers, problems = [], []
        for label in chosen:
            process, key, kind = labels[label]
            try:
                replay = read_replays.request_replay(
                    data.store(), config, queries.now(), process=process, key=key, kind=kind, actor=user.name,
                    roles=user.roles, send=sender,
                )  # fmt: skip
            except NotFound:
                problems.append(f"{ui.literal(label)}: no longer open")
            except read_replays.ReplayError as exc:
                problems.append(f"{ui.literal(label)}: {ui.literal(str(exc).splitlines()[0])}")
            else:
                again = " (already requested: not sent again)" if replay.earlier else ""
                answers.append((replay.outcome == "accepted", f"{key} ({kind}): {replay_text(replay)}{again}"))
        st.session_state["exceptions_version"] = version + 1
        st.session_state["exceptions_flash"] = (0, action, problems, answers)
        st.rerun()
    elif applied:
        done, problems = 0, []
        for label in chosen:
            try:
                queries.act_on_exception(config, labels[label], action, user.name, assignee.strip(), note.strip(),
                                         until=until)  # fmt: skip
                done += 1
            except NotFound:
                gone = "not postponed" if action == "unpostpone" else "no longer detected"
                problems.append(f"{ui.literal(label)}: {gone}")
            except ValueError as exc:
                problems.append(f"{ui.literal(label)}: {ui.literal(str(exc).splitlines()[0])}")
        st.session_state["exceptions_version"] = version + 1
        st.session_state["exceptions_flash"] = (done, action, problems, [])
        st.rerun()
elif labels:
    _detail(picked)
    st.caption("Your role can view the queue but not act on it.")

flash = st.session_state.pop("exceptions_flash", None)
if flash:
    done, action, problems, answers = flash
    if done:
        st.success(f"{action}: {done} exception(s) updated")
    for accepted, text in answers:  # plain text: the middleware's answer is not markdown
        (st.success if accepted else st.warning)(ui.literal(text))
    for problem in problems:
        st.warning(problem)
ui.footer()
