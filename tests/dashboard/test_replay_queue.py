"""Replay from the exception queue (AppTest on the simulated store) against a real local middleware
(http.server) that accepts failed orders and refuses dead-lettered ones: offered to the roles a target
allows, its outcome said after Apply, then followed on the exception."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from biztrace import config as alerts_config
from biztrace.alerts.replay import send
from biztrace.dashboard import ui
from biztrace.readmodel.replays import replays
from tests.replay.conftest import Middleware


@pytest.fixture
def replaying(app, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The dashboard with replay targets on a real middleware, and the sender ``biztrace up`` hands in."""
    middleware = Middleware()
    config = tmp_path / "replay.yaml"
    config.write_text(
        "replay:\n"
        f"  - {{name: mw_failed, process: order_to_cash, kind: failed, url: '{middleware.url}/accept/{{key}}'}}\n"
        f"  - {{name: mw_dead, process: order_to_cash, kind: dead_letter, url: '{middleware.url}/refuse/{{key}}'}}\n"
    )
    monkeypatch.setenv("BIZTRACE_CONFIG", str(config))
    ui.share_replay_sender(send)
    try:
        yield app, middleware, alerts_config.load(config)
    finally:
        ui.share_replay_sender(None)
        middleware.close()


def _queue(at: AppTest) -> AppTest:
    at.run()
    at.switch_page("views/exceptions.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _replay(at: AppTest, label: str, version: int) -> None:
    at.multiselect[-1].set_value([label]).run()
    at.radio(key=f"x_action_{version}").set_value("replay").run()
    assert any(m.value.startswith("Apply will **replay** 1 exception(s)") for m in at.markdown)
    next(b for b in at.button if b.label == "Apply").click().run()
    assert not at.exception, [e.value for e in at.exception]


def test_on_call_replays_from_the_queue_and_sees_the_outcome(replaying, populated) -> None:
    app, middleware, config = replaying
    _, store = populated
    at = _queue(app("on-call", kind=["failed", "dead_letter"]))
    options = at.multiselect[-1].options
    failed = next(o for o in options if o.endswith(" · failed · order_to_cash"))
    dead = next(o for o in options if o.endswith(" · dead_letter · order_to_cash"))

    _replay(at, failed, 0)
    key = failed.split(" · ")[0]
    assert [r.path for r in middleware.received] == [f"/accept/{key}"]
    said = [s.value for s in at.success]
    assert any(key in s and "accepted (HTTP 202): accepted: resubmission 42" in s for s in said), said
    [recorded] = replays(store, config, ui.tick(), key=key)
    assert (recorded.outcome, recorded.actor, recorded.target) == ("accepted", "oncall", "mw_failed")

    _replay(at, dead, 1)
    dead_key = dead.split(" · ")[0]
    warned = [w.value for w in at.warning]
    assert any(dead_key in w and "refused (HTTP 409): conflict: message MSG-7" in w for w in warned), warned

    at.multiselect[-1].set_value([failed]).run()  # followed on the exception: its replay and where it stands
    shown = [t.value for t in at.text]
    assert any(t.startswith("replay ") and "by oncall via mw_failed: accepted (HTTP 202)" in t for t in shown), shown

    _replay(at, failed, 2)  # asked again: the accepted replay is shown, nothing is sent twice
    assert len(middleware.received) == 2
    assert any("already requested: not sent again" in s.value for s in at.success)


def test_replay_is_offered_only_to_allowed_roles_with_a_sender(replaying) -> None:
    app, middleware, _ = replaying
    at = _queue(app("support"))
    assert "replay" not in at.radio(key="x_action_0").options, "support is not among the targets' roles"
    ui.share_replay_sender(None)
    at = _queue(app("on-call"))
    assert "replay" not in at.radio(key="x_action_0").options
    assert any("Replay is not offered: this dashboard was started without a replay sender" in c.value
               for c in at.caption)  # fmt: skip
    assert not middleware.received
