"""What every page shares: sign-in, the filters in the sidebar, refresh, small formatters.

Streamlit re-runs a page's script on every interaction; state that must survive (the signed-in
user, the filters, recent searches) lives in ``st.session_state``. Figures are cached for one
refresh interval, keyed by the filters and the refresh tick, so reading a page and clicking
around it does not re-query ClickHouse.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

import streamlit as st

from biztrace.config import AlertsConfig
from biztrace.config.errors import ConfigError
from biztrace.dashboard import auth, data, queries, signin
from biztrace.dashboard.queries import WINDOWS, Filters
from biztrace.readmodel.replays import Sender
from biztrace.store import StoreError

ORDER_PAGE = "search"


def refresh_s() -> int:
    return int(os.environ.get("BIZTRACE_REFRESH_S", "30"))


def tick(at: datetime | None = None) -> datetime:
    """Now, rounded down to the refresh interval: the time of the live figures (their cache key). Beside the
    alert loop (``biztrace up``), when the figures refresh at least as often as the loop passes, the time of
    its last pass, while it can answer (at most two evaluation intervals before now, as the pass's readers
    take it): every page then reads that pass instead of computing again, and shows what its alerts and
    exceptions were judged on. The loop passes on its own schedule, the tick on the refresh's: taking the
    pass only when it is later than the tick left the pages computing from each tick to the next pass (half
    of every minute with a pass at its thirtieth second). A longer refresh keeps its tick (the figures stay
    put for it: a chart's selection too)."""
    at = at or queries.now()
    step = refresh_s()
    ticked = datetime.fromtimestamp(int(at.timestamp()) // step * step, at.tzinfo)
    config = load_config()
    if step > config.evaluation_interval.total_seconds():
        return ticked
    try:
        passed = queries.last_pass_time(config)
    except StoreError:  # the page says so where it reads
        passed = None
    if passed is not None and passed <= at and at - passed <= 2 * config.evaluation_interval:
        return passed
    return ticked


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


URL_FILTERS = ("window", "from", "to", "process", "channel", "system", "priority")
"""The query parameters that carry the sidebar's filters (``?window=7d&process=returns``); a default is left out."""
_FILTER_KEYS = {"process": "f_process", "channel": "f_channel", "system": "f_system", "priority": "f_priority"}


def sidebar_filters(config: AlertsConfig) -> Filters:
    """The filters shared by every page (kept in session state across pages, and in the URL so a view
    can be shared: a link that names filters sets them, a change writes them back)."""
    side = st.sidebar
    seen = _dimensions(tick().timestamp() // 600)
    systems = sorted({stage.system for p in config.processes.values() for stage in p.stages if stage.system})
    systems = sorted(set(systems) | set(seen["systems"]))
    priorities = list(dict.fromkeys(["high", "normal", "low", *seen["priorities"]]))
    options = {"process": list(config.processes), "channel": seen["channels"], "system": systems,
               "priority": priorities}  # fmt: skip
    _filters_from_url(options)
    st.session_state.setdefault("f_window", "24h")  # a default, not index=: the URL may set it first
    side.selectbox(
        "Time range", [*WINDOWS, "custom"], key="f_window", help="transactions started in this window",
        format_func=lambda v: "custom range…" if v == "custom" else f"last {v}",
    )  # fmt: skip
    if st.session_state.get("f_window") == "custom":
        today = queries.now().date()
        st.session_state.setdefault("f_range", (today - timedelta(days=7), today))
        side.date_input("From – to (UTC days)", key="f_range", max_value=today, help="both days included")
    side.selectbox("Process", ["", *options["process"]], key="f_process", format_func=lambda v: v or "all processes")
    side.selectbox("Channel", ["", *options["channel"]], key="f_channel", format_func=lambda v: v or "all channels")
    side.selectbox("System", ["", *options["system"]], key="f_system", format_func=lambda v: v or "all systems")
    side.selectbox("Priority", ["", *options["priority"]], key="f_priority", format_func=lambda v: v or "any priority")
    st.session_state.setdefault("auto_refresh", True)
    side.toggle("Auto-refresh", key="auto_refresh", help=f"live figures refresh every {refresh_s()} s")
    filters = current_filters()
    _filters_to_url(filters)
    return filters


def filter_params(filters: Filters) -> dict[str, str]:
    """The URL's query parameters for ``filters``: only what differs from the defaults."""
    params = {"window": filters.window} if filters.window != "24h" else {}
    if filters.window == "custom" and filters.start and filters.end:
        params.update({"from": filters.start.isoformat(), "to": filters.end.isoformat()})
    for name in _FILTER_KEYS:
        if value := getattr(filters, name):
            params[name] = value
    return params


def _filters_from_url(options: dict[str, list[str]]) -> None:
    """Set the sidebar from the URL when it names filters this session did not write itself (a shared
    link opened, a link carrying filters): what it leaves out is the default; an unknown value is
    ignored with a notice in the sidebar, never an error."""
    params = {name: st.query_params[name] for name in URL_FILTERS if name in st.query_params}
    if not params or params == st.session_state.get("_f_url"):
        return
    state, ignored = st.session_state, []
    window = params.get("window", "24h")
    if window not in (*WINDOWS, "custom"):
        ignored.append(f"window={window}")
        window = "24h"
    state["f_window"] = window
    if window == "custom":
        today = queries.now().date()
        try:
            first = date.fromisoformat(params.get("from", "")) if "from" in params else today - timedelta(days=7)
            last = date.fromisoformat(params.get("to", "")) if "to" in params else today
            if not first <= last <= today:
                raise ValueError
            state["f_range"] = (first, last)
        except ValueError:
            ignored.append(f"from={params.get('from', '')} to={params.get('to', '')}")
            state["f_range"] = (today - timedelta(days=7), today)
    for name, key in _FILTER_KEYS.items():
        value = params.get(name, "")
        if value and value not in options[name]:
            ignored.append(f"{name}={value}")
            value = ""
        state[key] = value
    if ignored:
        st.sidebar.warning("Ignored from the link (unknown): " + ", ".join(literal(i) for i in ignored))


def _filters_to_url(filters: Filters) -> None:
    """Write the filters into the URL (only what changed), leaving the page's own parameters alone."""
    wanted = filter_params(filters)
    for name in URL_FILTERS:
        if name in wanted:
            if st.query_params.get(name) != wanted[name]:
                st.query_params[name] = wanted[name]
        elif name in st.query_params:
            del st.query_params[name]
    st.session_state["_f_url"] = wanted


def url_choice(name: str, key: str, allowed: list[str], default: str | list[str], many: bool = False) -> None:
    """Seed a page's own widget (session state ``key``) from the URL's ``name`` when the page first draws
    it, so a shared link opens the same view: one value (``?map=returns``) or, ``many``, several
    (``?kind=stuck&kind=failed``). A value not in ``allowed`` is ignored with a notice. Draw the widget
    after this without ``default=``/``index=``, then call :func:`keep_in_url` with its value."""
    if key in st.session_state:
        return
    given = st.query_params.get_all(name) if many else [st.query_params[name]] if name in st.query_params else []
    unknown = [v for v in given if v not in allowed]
    if unknown:
        st.caption(f":orange[Ignored from the link (unknown {name}): {', '.join(literal(v) for v in unknown)}]")
    known = [v for v in given if v in allowed]
    if many:
        st.session_state[key] = known if name in st.query_params and known else list(default)
    else:
        st.session_state[key] = known[0] if known else default


def keep_in_url(name: str, value: str | list[str] | None, default: str | list[str] | None = None) -> None:
    """Write a page's own choice into the URL (left out when it is ``default`` or empty)."""
    if value in (None, "", []) or value == default:
        st.query_params.pop(name, None)
    elif (st.query_params.get_all(name) if isinstance(value, list) else st.query_params.get(name)) != value:
        st.query_params[name] = value


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


def refreshed(body: Callable[[], None]) -> Callable[[], None]:
    """``body`` as a Streamlit fragment rerun every refresh interval (:func:`run_every`), each rerun in a
    lane of its own (:func:`in_lane`: a fragment's rerun does not pass through app.py's)."""
    return st.fragment(run_every=run_every())(in_lane(body))


def in_lane(body: Callable[[], None]) -> Callable[[], None]:
    """``body`` run on a client of its own (:func:`data.script_lane`; inside a run's lane, the run's)."""

    @functools.wraps(body)
    def run() -> None:
        with data.script_lane():
            body()

    return run


def footer() -> None:
    """The time this run spent in queries: the app's own cost is the rest."""
    st.caption(f"queries {data.query_time() * 1000:.0f} ms · data as of {tick():%H:%M:%S} UTC")


def open_order(key: str) -> None:
    """Go to one key's page in this tab; its URL (``/search?key=...`` and the filters) can be shared."""
    st.switch_page(f"views/{ORDER_PAGE}.py", query_params={"key": key, **filter_params(current_filters())})


def order_table(frame, key_column: str, *, key: str, **options) -> None:
    """A table whose rows open their order in this tab: selecting a row goes to ``key_column``'s page
    (a link column would open a new tab). The selection is forgotten on the way, so coming back to
    the page does not open the same order again."""
    turn = int(st.session_state.get(f"{key}__turn", 0))
    event = st.dataframe(frame, on_select="rerun", selection_mode="single-row", key=f"{key}_{turn}", **options)
    rows = event.selection.rows if event is not None else []
    if rows:
        st.session_state[f"{key}__turn"] = turn + 1
        open_order(str(frame.iloc[rows[0]][key_column]))


_replay_sender: Sender | None = None


def share_replay_sender(sender: Sender | None) -> None:
    """Let the exception queue request replays through ``sender`` (:func:`biztrace.alerts.replay.send`,
    which the dashboard may not import itself): ``biztrace up`` and ``biztrace dashboard`` hand it in
    as they hand in the store; ``None`` takes it back."""
    global _replay_sender
    _replay_sender = sender


def replay_sender() -> Sender | None:
    """The replay sender this process was given, or ``None`` (the queue then offers no replay)."""
    return _replay_sender


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


def short_time(at: datetime, now: datetime | None = None) -> str:
    """``Dec 6 14:03``: a moment in few characters (for a metric), with its year when that is not now's."""
    now = now or queries.now()
    year = f" {at:%Y}" if at.year != now.year else ""
    return f"{at:%b} {at.day}{year} {at:%H:%M}"


def age(seconds: float | int | None) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if abs(seconds) >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds}s"
