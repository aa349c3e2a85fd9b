"""Alerts, for on-call: what is firing and why, its transactions, its runbook, and acknowledging it.

From this page to an acknowledged alert: pick the alert (its affected transactions, each a link
to its order page in this tab, and its runbook show at once), then "Acknowledge".
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import streamlit as st

from biztrace.config import parse_duration
from biztrace.dashboard import markers, queries, ui
from biztrace.readmodel.models import AlertInstance, AtRisk

user = ui.page_user("alerts")
config = ui.load_config()
filters = ui.current_filters()
st.title("Alerts")

PAGE_SIZE = 50


def _noun(process: str) -> str:
    """What a process's transactions are called: orders, returns, customers (by its key); else transactions."""
    found = config.processes.get(process)
    return f"{found.key.split('.')[0]}s" if found is not None else "transactions"


def _at_risk(at_risk: AtRisk | None, process: str = "") -> str:
    """``€12,400.00 at risk (31 orders)``, or empty for an alert with no value at risk."""
    return at_risk.text(_noun(process)) if at_risk is not None else ""


def _status_text(row: queries.AlertRow, coloured: bool = False) -> str:
    """The status with its marker (coloured markdown for a caption, plain for a table cell), and who
    silenced it until when, or what inhibits it."""
    status = row.status
    text = (markers.alert_status_markdown if coloured else markers.alert_status)(status.status)
    name = ui.literal if coloured else str
    if status.silence is not None:
        return f"{text} by {name(status.silence.created_by)} until {status.silence.ends_at:%Y-%m-%d %H:%M} UTC"
    if status.inhibited_by:
        return f"{text} by {name(status.inhibited_by)}"
    return text


@ui.refreshed
def current() -> None:
    rows, _, hidden = queries.alert_rows(config, filters)
    if done := st.session_state.pop("a_done", None):
        st.success(done)
    statuses = [r.status.status for r in rows]
    cols = st.columns(4)
    cols[0].metric("Firing", statuses.count("firing"), help="firing and neither silenced, acknowledged nor inhibited")
    cols[1].metric("Pending", statuses.count("pending"))
    cols[2].metric("Silenced or acknowledged", statuses.count("silenced") + statuses.count("acknowledged"))
    cols[3].metric("Inhibited", statuses.count("inhibited"))
    if hidden:
        st.caption(
            f"{hidden} alert(s) of other processes, systems, channels or priorities hidden by the sidebar filters"
        )
    st.subheader("Now")
    if not rows and hidden:
        st.info("No alert for these filters: clear the sidebar filters to see the others.")
        return
    if not rows:
        st.success("Nothing is firing. (The alert loop writes here: `biztrace alerts run`, or `biztrace up`.)")
        return
    table = pd.DataFrame(
        [
            {
                "alert": r.alert.rule,
                "status": _status_text(r),
                "severity": r.alert.labels.get("severity", ""),
                "value": r.value_text(),
                "at risk": _at_risk(r.alert.at_risk, r.alert.labels.get("process", "")),
                "since": f"{r.since:%Y-%m-%d %H:%M} UTC",
                "summary": r.alert.annotations.get("summary", ""),
                "labels": ", ".join(f"{k}={v}" for k, v in sorted(r.alert.labels.items()) if k != "alertname"),
            }
            for r in rows
        ]
    )
    st.dataframe(table, hide_index=True, width="stretch")
    _details(rows)


def _details(rows: list[queries.AlertRow]) -> None:
    """The chosen alert: its status, runbook and every affected transaction, and Acknowledge."""
    by_fp = {r.fingerprint: r for r in rows}
    wanted = st.query_params.get("alert", "")
    if st.session_state.get("a_alert") not in by_fp:
        st.session_state["a_alert"] = wanted if wanted in by_fp else rows[0].fingerprint
    fingerprint = st.selectbox(
        "Alert",
        list(by_fp),
        key="a_alert",
        format_func=lambda fp: f"{by_fp[fp].alert.rule} · {by_fp[fp].value_text()} · {by_fp[fp].status.status}",
    )
    st.query_params["alert"] = fingerprint
    row = by_fp[fingerprint]
    alert = row.alert
    st.markdown(f"**{ui.literal(alert.rule)}**: {ui.literal(alert.annotations.get('summary', '')) or 'no summary'}")
    # each figure as wide as its text, wrapping to a second row rather than cutting one ("acknowledged")
    info = st.container(horizontal=True, gap="large")
    # what a share counted, in grey under it: 0.0% of 3 measured is not 0.0% of 3,000
    info.metric("Value", row.value_text(), delta=row.sample_text() or None, delta_color="off", delta_arrow="off",
                width="content")  # fmt: skip
    info.metric("Status", row.status.status, width="content")
    info.metric("Since", ui.short_time(row.since), help=f"{row.since:%Y-%m-%d %H:%M:%S} UTC", width="content")
    info.metric("At risk", alert.at_risk.headline() if alert.at_risk is not None else "n/a", width="content",
                help="the value of the transactions behind the alert at its last recorded change")  # fmt: skip
    st.caption(_status_text(row, coloured=True))
    if row.runbook:
        st.markdown(f"Runbook: [{ui.literal(row.runbook)}]({row.runbook})")
    else:
        st.caption("no runbook configured for this alert (config `runbooks:` or the rule's runbook_url)")
    _affected(row)
    if user.may("silence") and row.status.status in ("firing", "inhibited", "resolved"):
        left, right = st.columns([1, 3])
        duration = left.selectbox("For", ["1h", "4h", "12h", "24h"], index=1, key="a_ack_for")
        note = right.text_input("Note (optional)", key="a_ack_note")
        if st.button("Acknowledge", type="primary", key="a_ack"):
            silence_id = queries.acknowledge_alert(alert, parse_duration(duration), user.name, note)
            st.session_state["a_done"] = (
                f"{ui.literal(alert.rule)} acknowledged by {ui.literal(user.name)} for {duration} "
                f"(silence {ui.literal(silence_id)}): no notification is sent for it meanwhile"
            )
            st.rerun()


@st.cache_data(ttl=600, show_spinner=False, max_entries=64)
def _affected_page(fingerprint: str, alert_json: str, at, page: int, size: int):
    """One page of an alert's transactions, cached for a refresh interval (paging re-reads nothing)."""
    return queries.alert_transactions(config, AlertInstance.model_validate_json(alert_json), at, page, size)


def _affected(row: queries.AlertRow) -> None:
    st.subheader("Affected transactions")
    size = int(st.session_state.get("a_page_size", PAGE_SIZE))
    if st.session_state.get("a_paged_alert") != row.fingerprint:  # another alert starts at its first page
        st.session_state["a_paged_alert"] = row.fingerprint
        st.session_state["a_page"] = 1
    page_no = max(int(st.session_state.get("a_page", 1)) - 1, 0)
    found = _affected_page(row.fingerprint, row.alert.model_dump_json(), ui.tick(), page_no, size)
    if found is None:
        refs = row.alert.transactions
        listed = [
            {"process": t.process, "key": t.key, "kind": t.kind, "stage": t.stage, "system": t.system, "since": t.since}
            for t in refs
        ]
        st.caption(
            f"{len(listed)} recorded with the alert (a {row.kind or 'removed'} rule records at most 50; "
            f"its value is {row.value_text()})"
        )
        if row.alert.at_risk is not None:
            st.markdown(ui.literal(_at_risk(row.alert.at_risk, row.alert.labels.get("process", ""))))
        _links(listed)
        return
    pages = max(1, -(-found.total // size))
    if int(st.session_state.get("a_page", 1)) > pages:  # fewer rows now than when the page was chosen
        st.session_state["a_page"] = pages
    left, right = st.columns(2)
    right.selectbox("Rows per page", [10, PAGE_SIZE, 200], index=1, key="a_page_size")
    left.number_input(f"Page (of {pages})", min_value=1, max_value=pages, step=1, key="a_page")
    first = page_no * size
    st.caption(
        f"{len(found.rows)} of {found.total:,}" + (f" (from {first + 1:,})" if first else "")
        if found.total
        else "no transaction is affected now"
    )
    if found.total:  # every affected transaction's value, summed in ClickHouse with the list's own filters
        stated = _at_risk(found.at_risk, row.alert.labels.get("process", ""))
        st.metric("Value at risk", found.at_risk.headline(), help=f"{stated}: for an order, the amount its "
                  "system of record accepted; else the first amount seen")  # fmt: skip
        st.markdown(ui.literal(stated))
    _links([r.model_dump() for r in found.rows])


def _links(rows: list[dict]) -> None:
    """One line per transaction, the key a link to its order page in this tab."""
    for item in rows:
        since = f" · since {item['since']:%Y-%m-%d %H:%M}" if item.get("since") else ""
        detail = " · ".join(str(item[k]) for k in ("process", "stage", "system") if item.get(k))
        if item.get("amount") is not None:
            detail += f" · {item['amount']:,.2f} {item.get('currency', '')}".rstrip()
        st.page_link("views/search.py", label=f"{item['key']} · {detail}{since}", query_params={"key": item["key"]})


current()

st.subheader("History")
_, history, _ = queries.alerts_now()
if history:
    frame = pd.DataFrame(history)
    frame["Labels"] = frame["Labels"].map(lambda labels: ", ".join(f"{k}={v}" for k, v in sorted(labels.items())))
    frame["AtRisk"] = [
        _at_risk(AtRisk.model_validate(h["AtRisk"]), dict(h["Labels"]).get("process", ""))
        if isinstance(h.get("AtRisk"), dict)
        else ""
        for h in history
    ]
    kinds = {rule.name: rule.kind for rule in config.rules}
    frame["Value"] = [
        queries.format_value(kinds.get(r, ""), v) for r, v in zip(frame["Rule"], frame["Value"], strict=True)
    ]
    frame["At"] = frame["At"].map(lambda t: f"{t:%Y-%m-%d %H:%M:%S}")
    st.dataframe(frame, hide_index=True, width="stretch")
else:
    st.caption("no alert has changed state yet")

st.subheader("Silences")
silences = queries.alerts_now()[2]
at = queries.now()
if silences:
    rows = [
        {
            "id": s.id,
            "state": s.state(at),
            "matchers": ", ".join(f"{k}={v}" for k, v in s.matchers.items()),
            "until": f"{s.ends_at:%Y-%m-%d %H:%M} UTC",
            "by": s.created_by,
            "comment": s.comment,
        }
        for s in silences
    ]
    st.dataframe(rows, hide_index=True, width="stretch")
else:
    st.caption("no silences")

if user.may("silence"):
    with st.form("silence"):
        st.markdown(f"**New silence** (recorded as {ui.literal(user.name)})")
        matchers_text = st.text_input(
            "Matchers", placeholder="alertname=OrdersStuck, process=order_to_cash", key="s_matchers"
        )
        duration_text = st.text_input("Duration", value="2h", key="s_duration")
        comment = st.text_input("Comment", key="s_comment")
        if st.form_submit_button("Silence", type="primary"):
            matchers, problem = {}, None
            for part in filter(None, (p.strip() for p in matchers_text.split(","))):
                name, sep, value = part.partition("=")
                if not sep or not name.strip():
                    problem = f"{ui.literal(part)} is not label=value"
                    break
                matchers[name.strip()] = value.strip()
            try:
                duration = parse_duration(duration_text)
            except ValueError as exc:
                problem = problem or f"duration: {ui.literal(str(exc))}"
                duration = timedelta(0)
            if not matchers:
                problem = problem or "give at least one matcher, e.g. alertname=OrdersStuck"
            if problem:
                st.error(problem)
            else:
                try:
                    silence_id = queries.save_silence(matchers, duration, user.name, comment)
                except ValueError as exc:
                    st.error(ui.literal(str(exc)))
                else:
                    st.success(f"silence {ui.literal(silence_id)} created")
                    if not queries.alerts_matching(matchers):
                        st.warning(
                            f"silence {ui.literal(silence_id)} matches no current alert: it will mute only an "
                            "alert that starts matching before it ends (check the label names and values)"
                        )
    active = [s.id for s in silences if s.state(at) != "expired"]
    if active:
        with st.form("expire"):
            chosen = st.selectbox("Expire a silence", active, key="s_expire")
            if st.form_submit_button("Expire now"):
                if queries.expire_silence(chosen):
                    st.success(f"silence {ui.literal(chosen)} expired")
                else:
                    st.error("not found")
else:
    st.caption("Your role can view silences but not change them.")
ui.footer()
