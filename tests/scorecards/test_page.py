"""The SLA scorecards page through Streamlit's AppTest: the figures it shows, in the order it shows them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from scorecard_data import CONFIG
from streamlit.testing.v1 import AppTest

from biztrace import config as alerts_config
from biztrace.alerts.loop import run_pass
from biztrace.dashboard import auth, data
from biztrace.readmodel import last_pass
from biztrace.readmodel.scorecards import scorecards
from biztrace.readmodel.snapshots import Snapshots

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


@pytest.fixture
def page(filled, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    return _page(filled, tmp_path, monkeypatch, CONFIG)


def _page(filled, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> AppTest:
    import streamlit as st

    config = tmp_path / "sc.yaml"
    config.write_text(text)
    users = tmp_path / "users.yaml"
    auth.save_user(users, "ops", "correct horse battery staple", ["operations"])
    monkeypatch.setenv("BIZTRACE_STORE", filled[0])
    monkeypatch.setenv("BIZTRACE_CONFIG", str(config))
    monkeypatch.setenv("BIZTRACE_USERS_FILE", str(users))
    monkeypatch.setenv("BIZTRACE_REFRESH_S", "3600")
    data.share_store(None)
    st.cache_data.clear()
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["auto_refresh"] = False
    at.session_state["user"] = auth.User(name="ops", roles=["operations"], via="local")
    at.run()
    at.switch_page("views/scorecards.py").run()
    at.segmented_control(key="sc_period").set_value("30d").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_page_lists_the_scorecards_worst_money_first_with_their_figures(page: AppTest) -> None:
    """Every order lies in the last 30 days: C-ACME has five (O-1 duplicated and O-7 stuck: €170 affected;
    2 of 5 acceptances and 3 of 4 shipments in time; 3 of 5 end to end), C-BETA one (stuck: $300), and
    O-4 none (failed: €50)."""
    frame = page.dataframe[0].value
    # two currencies: sorted by the one with the most affected (USD), then by transactions
    assert list(frame["customer"]) == ["C-BETA", "C-ACME", "(none)"]
    money = {"type": "number", "format": "dollar"}  # drawn as the trend beside it is: "$300.00"
    assert json.loads(page.dataframe[0].proto.columns)["money affected"] == {"label": "money affected (USD)",
                                                                             "type_config": money}  # fmt: skip
    page.selectbox(key="sc_currency").set_value("EUR").run()
    frame = page.dataframe[0].value
    assert list(frame["customer"]) == ["C-ACME", "(none)", "C-BETA"]
    assert json.loads(page.dataframe[0].proto.columns)["money affected"]["type_config"]["format"] == "euro"
    acme = frame.iloc[0]
    assert (acme["money affected"], acme["transactions"], acme["exceptions"]) == (170.0, 5, 2)
    assert (acme["stage SLAs"], acme["end-to-end SLA"], acme["by kind"]) == ("55.6%", "60.0%", "duplicate 1, stuck 1")
    assert acme["stage SLAs trend"] == "n/a" and acme["transactions trend"] == "+5"  # nothing the 30 days before
    assert acme["money trend"] == "+€170.00"
    assert frame.iloc[1]["money affected"] == 50.0 and frame.iloc[1]["by kind"] == "failed 1"

    [chart] = page.get("plotly_chart")
    bars = {trace["name"]: dict(zip(trace["x"], trace["y"], strict=True))
            for trace in json.loads(chart.proto.spec)["data"]}  # fmt: skip
    assert bars["this period"]["C-ACME"] == pytest.approx(5 / 9)
    assert bars["previous period"]["C-ACME"] is None


def test_beside_the_alert_loop_the_page_shows_the_scorecards_of_its_last_pass(filled, tmp_path, monkeypatch) -> None:
    """With the loop's pass published in this process (``biztrace up``), the page reads it: the period ends at
    the pass's time, and the figures are those computed then."""
    text = CONFIG + "evaluation_interval: 10m\n"  # the pass below stays usable while the page loads
    path = tmp_path / "loop.yaml"
    path.write_text(text)
    config = alerts_config.load(str(path))
    at = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(minutes=3)
    kept = Snapshots(publish=True)
    try:
        run_pass(filled[1], config, at, snapshots=kept)
        page = _page(filled, tmp_path, monkeypatch, text)
        caption = " ".join(c.value for c in page.caption)
        assert f"to {at:%Y-%m-%d %H:%M} UTC" in caption, caption
        frame = page.dataframe[0].value
        computed = scorecards(filled[1], config, at, period=timedelta(days=30))
        shown = {row.name: row.current.transactions for row in computed.rows}
        assert dict(zip(frame["customer"], frame["transactions"], strict=True)) == shown
    finally:
        kept.close(filled[1])
        last_pass.forget(filled[1])
