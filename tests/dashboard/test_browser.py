"""A person at a real browser (Debian's headless Chromium driven by Playwright) on the running demo:
sign in, acknowledge an exception, search its order, see the timeline, share the URL.

Screenshots of each step are kept in ``test-artifacts/browser/`` (``BIZTRACE_TEST_ARTIFACTS``
moves it).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from support import query_store
from tests.dashboard.conftest import DemoProcess

CHROMIUM = os.environ.get("BIZTRACE_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("BIZTRACE_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]  # fmt: skip


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory):
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make test` installs Debian's chromium package"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        context = browser.new_context(viewport={"width": 1440, "height": 1000})
        context.set_default_timeout(60_000)  # the suite runs on two workers: a page may take a while
        expect.set_options(timeout=30_000)  # every check without its own timeout (Playwright's default is 5 s)
        yield context.new_page()
        context.close()
        browser.close()


def _shot(page: Page, name: str) -> None:
    folder = ARTIFACTS / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def _sign_in(page: Page, password: str) -> None:
    page.get_by_label("User").fill("demo")
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_sign_in_acknowledge_search_and_share(page: Page, demo_factory) -> None:
    demo: DemoProcess = demo_factory()
    page.goto(demo.dashboard_url)
    _sign_in(page, "not it")
    expect(page.get_by_text("Unknown user or wrong password.")).to_be_visible(timeout=30_000)
    _sign_in(page, demo.password)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("In flight")).to_be_visible(timeout=60_000)
    # the leader's questions: is it getting worse (beside the previous period), which channel is worst
    expect(page.get_by_text("Is it getting worse?")).to_be_visible(timeout=60_000)
    expect(page.get_by_text(re.compile(r"this period [\d.]+% .* previous period"))).to_be_visible(timeout=60_000)
    expect(page.get_by_text("By channel, worst first")).to_be_visible()
    _shot(page, "1-overview")
    icons = page.locator("link[rel*='icon']").evaluate_all("links => links.map(l => l.href)")
    assert icons and all(href.startswith(demo.dashboard_url) for href in icons), f"favicon served here: {icons}"

    page.get_by_test_id("stSidebarNavLink").filter(has_text="Exception queues").click()
    expect(page.get_by_role("heading", name="Exception queues")).to_be_visible(timeout=60_000)
    chooser = page.get_by_role("combobox", name="Exceptions (or select rows in the table)")
    chooser.click(timeout=60_000)
    chooser.press("ArrowDown")
    first = page.get_by_role("option").filter(has_text=" · ").first
    label = first.inner_text().strip()
    first.click()
    page.keyboard.press("Escape")
    key = label.split(" · ")[0]
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_text("acknowledge: 1 exception(s) updated")).to_be_visible(timeout=60_000)
    _shot(page, "2-acknowledged")

    page.get_by_test_id("stSidebarNavLink").filter(has_text="Order search").click()
    box = page.get_by_label("Order, customer, SKU, invoice, shipment or return id")
    box.fill(key)
    box.press("Enter")
    expect(page.get_by_role("heading", name=key)).to_be_visible(timeout=60_000)
    expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=30_000)
    assert re.search(r"/search\?key=", page.url), page.url
    _shot(page, "3-order")

    colleague = page.context.browser.new_context(viewport={"width": 1280, "height": 720})
    shared = colleague.new_page()  # a colleague (another browser: no session) signs in and lands on the order
    shared.goto(page.url)
    _sign_in(shared, demo.password)
    expect(shared.get_by_role("heading", name=key)).to_be_visible(timeout=60_000)
    _shot(shared, "4-shared-link")
    colleague.close()

    page.get_by_test_id("stSidebarNavLink").filter(has_text="Alerts").click()
    expect(page.get_by_role("heading", name="Alerts")).to_be_visible(timeout=60_000)
    expect(page.get_by_text(re.compile("Nothing is firing|Affected transactions"))).to_be_visible(timeout=60_000)
    _shot(page, "5-alerts")

    assert demo.terminate() == 0  # the store belongs to the running demo: read it once it stopped
    rows = query_store(
        demo.data_dir,
        "SELECT Actor, Key FROM default.biztrace_exception_events WHERE Action = 'acknowledge'",
    )
    assert [("demo", key)] == [tuple(row) for row in rows]
