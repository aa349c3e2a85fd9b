"""What every page shares: sign-in, the filters in the sidebar, refresh, small formatters.

Streamlit re-runs a page's script on every interaction; state that must survive (the signed-in
user, the filters, recent searches) lives in ``st.session_state``. Figures are cached for one
refresh interval, keyed by the filters and the refresh tick, so reading a page and clicking
around it does not re-query ClickHouse.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta
from pathlib import Path

import streamlit as st

from biztrace.config import AlertsConfig
from biztrace.config.errors import ConfigError
from biztrace.dashboard import auth, data, queries, signin
from biztrace.dashboard.queries import WINDOWS, Filters
from biztrace.store import StoreError

ORDER_PAGE = "search"


def refresh_s() -> int:
    return int(os.environ.get("BIZTRACE_REFRESH_S", "30"))


def tick(at: datetime | None = None) -> datetime:
    """Now, rounded down to the refresh interval: the cache key of live figures."""
    at = at or queries.now()
    step = refresh_s()
    return datetime.fromtimestamp(int(at.timestamp()) // step * step, at.tzinfo)


@st.cache_resource(show_spinner=False)
def _users(path: str, mtime: float) -> auth.UsersFile:
    return auth.load_users(Path(path))


def _oidc_configured() -> bool:
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, KeyError, OSError):
        return False
    except Exception:  # a secrets.toml that does not parse: Streamlit's own error type
        return False


def _session_cookie() -> str | None:
    return st.context.cookies.get(signin.COOKIE)


def _browser() -> bool:
    """Whether this run serves a browser connection (AppTest runs have no headers at all)."""
    return bool(st.context.headers)


def current_user() -> auth.User | None:
    """Who this run serves, drawing nothing: the session cookie's user, else (OIDC, or AppTest with no
    browser) the session state's; a Streamlit session resumed without its cookie serves nobody."""
    cookie = _session_cookie()
    user = signin.gate().sessions.resume(cookie) if cookie else None
    if user is not None:
        st.session_state["user"] = user
        return user
    user = st.session_state.get("user")
    if isinstance(user, auth.User) and (not _browser() or user.via == "oidc"):
        return user
    st.session_state.pop("user", None)
    return None


def signed_in_user() -> auth.User:
    """The signed-in user; otherwise draws the sign-in form and stops the script.

    A browser is signed in by its session cookie alone (a signed, expiring token, see
    :mod:`dashboard.signin`): a reload or a new tab resumes, and a client that reconnects to a
    Streamlit session by its id without the cookie is not signed in.
    """
    user = current_user()
    if user is not None:
        return user
    cookie = _session_cookie()
    if cookie:
        st.html(signin.cookie_script(None), unsafe_allow_javascript=True)  # ended or expired: forget it
    path = os.environ.get("BIZTRACE_USERS_FILE")
    users = auth.UsersFile()
    if path:
        try:
            users = _users(path, Path(path).stat().st_mtime)
        except (auth.AuthError, OSError) as exc:
            st.error(f"Sign-in is not available: {exc}")
            st.stop()
    if _oidc_configured():
        if getattr(st.user, "is_logged_in", False):
            email = str(st.user.get("email") or st.user.get("name") or "")
            user = auth.oidc_user(users, email)
            st.session_state["user"] = user
            return user
        st.title("biztrace")
        st.button("Sign in with your identity provider", on_click=st.login, type="primary")
        _load_plotly_early()
        st.stop()
    if not users.users:
        st.title("biztrace")
        st.error(
            "No users are configured. Create one with `biztrace user add NAME --role admin --users-file users.yaml` "
            "and start the dashboard with `--users-file users.yaml`, or configure an OIDC provider."
        )
        st.stop()
    st.title("biztrace")
    st.caption("Business transaction tracing: sign in to see where every order stands.")
    with st.form("sign-in"):
        name = st.text_input("User", key="signin_user")
        password = st.text_input("Password", type="password", key="signin_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        gate = signin.gate()
        address = st.context.ip_address
        attempt = gate.attempt(users, name.strip(), password, address=address, users_file=Path(path) if path else None)
        if attempt.user is not None:
            st.session_state["user"] = attempt.user
            if not _browser():
                st.rerun()
            token = gate.sessions.open(attempt.user, address=address)
            # The cookie reaches the server with the next connection: reload into it.
            st.html(
                signin.cookie_script(token, gate.settings.session_absolute_s)
                + "<script>window.location.reload();</script>",
                unsafe_allow_javascript=True,
            )
            st.stop()
        st.error(attempt.message)
    _load_plotly_early()
    st.stop()


def _load_plotly_early() -> None:
    """Draw a blank chart under the sign-in form, so the browser loads and compiles plotly's 4.7 MB
    script while the person signs in rather than when their first page is due (measured: the first
    page with a chart took ~1.3 s longer in a browser that had not loaded it yet)."""
    from biztrace.dashboard import charts

    st.plotly_chart(charts.blank(), config={"staticPlot": True, "displayModeBar": False}, key="plotly_preload")


def page_user(page: str) -> auth.User:
    """The signed-in user of a page script; a page reached any other way shows nothing."""
    user = st.session_state.get("user")
    if not isinstance(user, auth.User) or not user.may_see(page):
        st.error("Sign in first: this page is not open to you.")
        st.stop()
    return user


def sign_out() -> None:
    """End the session everywhere (every tab holding its cookie); the next run forgets the cookie."""
    user = st.session_state.pop("user", None)
    signin.gate().sessions.close(_session_cookie(), address=st.context.ip_address)
    if isinstance(user, auth.User) and user.via == "oidc":
        st.logout()


def load_config() -> AlertsConfig:
    """The configuration, or a clear error on the page (never a traceback)."""
    try:
        return _config(os.environ.get("BIZTRACE_CONFIG", ""))
    except ConfigError as exc:
        st.error(f"The configuration has a mistake: {exc}")
        st.stop()


@st.cache_resource(show_spinner=False)
def _config(path: str) -> AlertsConfig:
    return data.config()


def check_store() -> None:
    """Stop the page with a clear message when the store cannot be opened."""
    try:
        data.store()
    except StoreError as exc:
        st.error(f"The store cannot be opened: {exc}")
        st.info(
            "With the embedded store, run the dashboard in the process that holds it: `biztrace up` "
            "(collector, alert loop and dashboard together), or use a ClickHouse server (`--store http://...`)."
        )
        st.stop()


def sidebar_filters(config: AlertsConfig) -> Filters:
    """The filters shared by every page (kept in session state across pages)."""
    side = st.sidebar
    side.selectbox(
        "Time range", [*WINDOWS, "custom"], index=2, key="f_window", help="transactions started in this window",
        format_func=lambda v: "custom range…" if v == "custom" else f"last {v}",
    )  # fmt: skip
    if st.session_state.get("f_window") == "custom":
        today = queries.now().date()
        st.session_state.setdefault("f_range", (today - timedelta(days=7), today))
        side.date_input("From – to (UTC days)", key="f_range", max_value=today, help="both days included")
    side.selectbox("Process", ["", *config.processes], key="f_process", format_func=lambda v: v or "all processes")
    seen = _dimensions(tick().timestamp() // 600)
    side.selectbox("Channel", ["", *seen["channels"]], key="f_channel", format_func=lambda v: v or "all channels")
    systems = sorted({stage.system for p in config.processes.values() for stage in p.stages if stage.system})
    systems = sorted(set(systems) | set(seen["systems"]))
    side.selectbox("System", ["", *systems], key="f_system", format_func=lambda v: v or "all systems")
    priorities = list(dict.fromkeys(["high", "normal", "low", *seen["priorities"]]))
    side.selectbox("Priority", ["", *priorities], key="f_priority", format_func=lambda v: v or "any priority")
    st.session_state.setdefault("auto_refresh", True)
    side.toggle("Auto-refresh", key="auto_refresh", help=f"live figures refresh every {refresh_s()} s")
    return current_filters()


def current_filters() -> Filters:
    """The filters as the sidebar last set them (pages read them; only the app draws them)."""
    state = st.session_state
    window = state.get("f_window", "24h")
    days = tuple(state.get("f_range") or ()) if window == "custom" else ()
    return Filters(
        window=window,
        start=days[0] if days else None,
        end=days[-1] if days else None,
        process=state.get("f_process", ""),
        channel=state.get("f_channel", ""),
        system=state.get("f_system", ""),
        priority=state.get("f_priority", ""),
    )


@st.cache_data(ttl=600, show_spinner=False)
def _dimensions(_period: float) -> dict[str, list[str]]:
    return queries.dimensions()


def run_every() -> int | None:
    """The fragment refresh interval, or None when the reader turned auto-refresh off."""
    return refresh_s() if st.session_state.get("auto_refresh", True) else None


def footer() -> None:
    """The time this run spent in queries: the app's own cost is the rest."""
    st.caption(f"queries {data.query_time() * 1000:.0f} ms · data as of {tick():%H:%M:%S} UTC")


def order_link(key: str) -> str:
    """The shareable URL of one key's page, relative to the app."""
    from urllib.parse import quote

    return f"/{ORDER_PAGE}?key={quote(key)}"


def shown(count: int, total: int) -> str:
    """How much of a list a table shows: "first 500 of 1,234" when it is cut, "all 12" when not."""
    return f"first {count:,} of {total:,}" if count < total else f"all {total:,}"


def literal(value: object) -> str:
    """``value`` as a markdown code span, for any string a person or a span supplied (a key, a system,
    a user name): Streamlit then shows it exactly as it is, never as a link, an image, HTML, a colour
    or a heading. Use it wherever such a string goes into ``st.markdown``, ``st.subheader``,
    ``st.caption``, ``st.warning``, ``st.success``, a button's or a metric's label."""
    text = " ".join(str(value).splitlines())
    if not text:
        return ""
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text[0] == "`" or text[-1] == "`" or text[0] == " " or text[-1] == " " else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def age(seconds: float | int | None) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if abs(seconds) >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds}s"
