"""The biztrace dashboard: ``streamlit run dashboard/app.py`` (or ``biztrace dashboard`` / ``biztrace up``).

This script signs the person in, draws the shared filters, and routes to the pages their
roles allow (``dashboard/auth.py``). Each page is a script in ``dashboard/views``; not in
``pages/``, which Streamlit would also serve by itself, around the sign-in.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from biztrace.dashboard import auth, data, ui

PAGES = {
    "overview": ("Overview", ":material/monitoring:"),
    "search": ("Order search", ":material/search:"),
    "reconciliation": ("Reconciliation", ":material/balance:"),
    "exceptions": ("Exception queues", ":material/report:"),
    "alerts": ("Alerts", ":material/notifications_active:"),
    "process_map": ("Process map", ":material/account_tree:"),
    "scorecards": ("SLA scorecards", ":material/scoreboard:"),
}

here = Path(__file__).parent
FAVICON = here / "static" / "favicon.png"  # served by this server: a material icon or emoji is fetched from a CDN
st.set_page_config(page_title="biztrace", page_icon=str(FAVICON), layout="wide")
data.reset_query_time()
signed_in = ui.current_user()
# Navigation is declared before the sign-in form, hidden, so a shared link (/search?key=O-1182)
# still names its page after the person signs in.
visible = [
    st.Page(here / "views" / f"{name}.py", title=title, icon=icon, url_path=name.replace("_", "-"))
    for name, (title, icon) in PAGES.items()
    if not isinstance(signed_in, auth.User) or signed_in.may_see(name)
]
page = st.navigation(visible, position="sidebar" if isinstance(signed_in, auth.User) else "hidden")
user = ui.signed_in_user()
config = ui.load_config()
ui.check_store()
with data.script_lane():  # this run's own client: another session's statements do not hold it up
    ui.sidebar_filters(config)
    st.sidebar.caption(f"Signed in as **{ui.literal(user.name)}** ({', '.join(user.roles)})")
    st.sidebar.button("Sign out", on_click=ui.sign_out)
    page.run()
