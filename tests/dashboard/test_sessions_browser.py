"""Sessions in a real browser (issue 16, items 2 and 6): a reload and a new tab stay signed in, sign-out
ends the session in every tab, and a client holding only a Streamlit session id gets the sign-in form."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

CHROMIUM = os.environ.get("BIZTRACE_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking"]


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


def _sign_in(page, password: str) -> None:
    page.get_by_label("User").fill("demo")
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def _session_ids(page) -> list[str]:
    """The Streamlit session ids the server hands this page, as they come."""
    ids: list[str] = []

    def frame(payload: object) -> None:
        if isinstance(payload, bytes | bytearray):
            message = ForwardMsg()
            message.ParseFromString(bytes(payload))
            if message.HasField("new_session") and message.new_session.initialize.session_id:
                ids.append(message.new_session.initialize.session_id)

    page.on("websocket", lambda ws: ws.on("framereceived", frame))
    return ids


def _reconnect_with_id_only(base: str, session_id: str, listen_s: float = 15) -> str:
    """Everything a cookie-less client is sent after reconnecting to ``session_id`` and asking for a run."""
    shown: list[str] = []
    url = base.replace("http://", "ws://") + "/_stcore/stream"
    with connect(url, subprotocols=["streamlit", "x", session_id], origin=base) as ws:
        rerun = BackMsg()
        rerun.rerun_script.query_string = ""
        ws.send(rerun.SerializeToString())
        end = time.monotonic() + listen_s
        while (left := end - time.monotonic()) > 0:
            try:
                data = ws.recv(timeout=left)
            except (TimeoutError, ConnectionClosed):
                break
            message = ForwardMsg()
            message.ParseFromString(data)
            shown.append(str(message))
    return "\n".join(shown)


def test_a_session_lasts_across_reloads_and_tabs_and_sign_out_ends_it_everywhere(browser, demo) -> None:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.goto(demo.dashboard_url)
    _sign_in(page, demo.password)
    expect(page.get_by_text("Signed in as")).to_be_visible(timeout=60_000)
    cookie = next(c for c in context.cookies() if c["name"] == "biztrace_session")
    assert cookie["sameSite"] == "Strict" and cookie["expires"] - time.time() <= 12 * 3600

    page.reload()
    expect(page.get_by_text("Signed in as")).to_be_visible(timeout=60_000)
    tab = context.new_page()
    tab.goto(f"{demo.dashboard_url}/search")
    expect(tab.get_by_text("Signed in as")).to_be_visible(timeout=60_000)
    stranger = browser.new_context().new_page()
    stranger.goto(demo.dashboard_url)
    expect(stranger.get_by_role("button", name="Sign in")).to_be_visible(timeout=60_000)

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=60_000)
    tab.reload()
    expect(tab.get_by_role("button", name="Sign in")).to_be_visible(timeout=60_000)
    context.close()


def test_a_session_id_alone_does_not_resume_a_signed_in_session(browser, demo) -> None:
    context = browser.new_context()
    page = context.new_page()
    ids = _session_ids(page)
    page.goto(demo.dashboard_url)
    _sign_in(page, demo.password)
    expect(page.get_by_text("Signed in as")).to_be_visible(timeout=60_000)
    victim = ids[-1]
    context.close()  # the tab goes; Streamlit keeps its session for a reconnect

    shown = _reconnect_with_id_only(demo.dashboard_url, victim)
    assert "Signed in as" not in shown and "Sign in" in shown
