"""Comments and postponements from the exception queue (AppTest on the simulated store)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from biztrace import config as alerts_config
from biztrace.dashboard import ui
from biztrace.readmodel import exceptions as alert_exceptions


def _run(at: AppTest) -> AppTest:
    at.run()
    at.switch_page("views/exceptions.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _apply(at: AppTest, label: str, action: str, version: int, **inputs: str) -> list[str]:
    """Choose one exception, the action and its inputs; the preview shown before Apply; then Apply."""
    at.multiselect[-1].set_value([label]).run()
    at.radio(key=f"x_action_{version}").set_value(action).run()
    for name, value in inputs.items():
        at.text_input(key=f"x_{name}_{version}").input(value).run()
    preview = [m.value for m in at.markdown if m.value.startswith("Apply will")]
    next(b for b in at.button if b.label == "Apply").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return preview


def _items(store, key: str, kind: str) -> list[alert_exceptions.ExceptionItem]:
    return alert_exceptions.list_exceptions(store, alerts_config.load(), ui.tick(),
                                            alert_exceptions.Filters(key=key, kind=kind))  # fmt: skip


def test_comment_postpone_and_unpostpone_from_the_queue(app, populated) -> None:
    _, store = populated
    at = _run(app("support"))
    # an open failure (another test of the session may have acknowledged the first one)
    label = next(o for o in at.multiselect[-1].options
                 if " · failed · " in o and _items(store, *o.split(" · ")[:2])[0].state == "open")  # fmt: skip
    key, kind, _ = label.split(" · ")
    text = "<b>ERP</b> re-sent [link](http://x)"
    _apply(at, label, "comment", 0, note=text)
    [item] = _items(store, key, kind)
    assert [(c.by, c.text) for c in item.comments] == [("support", text)] and item.state == "open"
    assert at.multiselect[-1].value == [], "the choice is cleared after Apply"

    _apply(at, label, "postpone", 1, until="2020-01-01T00:00")
    assert any("not after now" in e.value for e in at.error), "a time in the past is refused in one line"
    assert _items(store, key, kind)[0].state == "open"
    preview = _apply(at, label, "postpone", 1, until="3h")
    assert preview and " until " in preview[0] and ui.literal(key) in preview[0]
    assert any("1 exception(s) updated" in s.value for s in at.success)
    [item] = _items(store, key, kind)
    assert item.state == "postponed" and item.postponed_by == "support"
    assert label not in at.multiselect[-1].options, "a postponed exception leaves the default queue"
    assert int(next(m.value for m in at.metric if m.label == "Postponed").replace(",", "")) >= 1

    at.multiselect(key="x_states").set_value(["postponed"]).run()
    at.multiselect[-1].set_value([label]).run()
    shown = [t.value for t in at.text]
    assert any(v.startswith("postponed until ") for v in shown) and any(v.endswith(text) for v in shown), shown
    _apply(at, label, "unpostpone", 2)
    assert _items(store, key, kind)[0].state == "open"
