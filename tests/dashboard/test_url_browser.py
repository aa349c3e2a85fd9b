"""A shared URL with filters, opened in a real browser (Chromium) by someone not yet signed in: after
signing in, the sidebar shows the link's filters and the URL still carries them (issue 16, item 2)."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

CHROMIUM = os.environ.get("BIZTRACE_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking"]


def test_a_shared_url_opens_with_its_filters(demo) -> None:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()
            page.goto(f"{demo.dashboard_url}/search?window=7d&process=order_to_cash&channel=web")
            page.get_by_label("User").fill("demo")
            page.get_by_label("Password", exact=True).fill(demo.password)
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("heading", name="Order search")).to_be_visible(timeout=60_000)
            for name, shown in (("Time range", "last 7d"), ("Process", "order_to_cash"), ("Channel", "web")):
                box = page.get_by_test_id("stSidebar").get_by_role("combobox", name=name)
                expect(box).to_match_aria_snapshot(f'- combobox "{name}": {shown}', timeout=30_000)
            assert "window=7d" in page.url and "channel=web" in page.url, page.url
        finally:
            browser.close()
