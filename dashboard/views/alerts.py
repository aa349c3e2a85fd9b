"""Alerts, for on-call: what is firing and why, its history, and silences."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import streamlit as st

from biztrace.config import parse_duration
from biztrace.dashboard import queries, ui

user = ui.page_user("alerts")
st.title("Alerts")


@st.fragment(run_every=ui.run_every())
def current() -> None:
    alerts, history, _ = queries.alerts_now()
    firing = [a for a in alerts if a["state"] == "firing"]
    pending = [a for a in alerts if a["state"] == "pending"]
    cols = st.columns(3)
    cols[0].metric("Firing", len(firing))
    cols[1].metric("Pending", len(pending))
    cols[2].metric("Recently resolved", sum(1 for a in alerts if a["state"] == "resolved"))
    st.subheader("Now")
    if alerts:
        st.dataframe(pd.DataFrame(alerts).drop(columns=["fingerprint"]), hide_index=True, width="stretch")
    else:
        st.success("Nothing is firing. (The alert loop writes here: `biztrace alerts run`, or `biztrace up`.)")
    st.subheader("History")
    if history:
        frame = pd.DataFrame(history)
        frame["Labels"] = frame["Labels"].map(lambda labels: ", ".join(f"{k}={v}" for k, v in sorted(labels.items())))
        st.dataframe(frame, hide_index=True, width="stretch")
    else:
        st.caption("no alert has changed state yet")


current()

st.subheader("Silences")
_, _, silences = queries.alerts_now()
at = queries.now()
if silences:
    rows = [
        {
            "id": s.id,
            "state": s.state(at),
            "matchers": ", ".join(f"{k}={v}" for k, v in s.matchers.items()),
            "until": s.ends_at,
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
                silence_id = queries.save_silence(matchers, duration, user.name, comment)
                st.success(f"silence {ui.literal(silence_id)} created")
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
