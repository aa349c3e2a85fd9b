"""The Overview's money stuck per stage: one fact, one number on the page, in the read model and in the
exceptions' own amounts summed here."""

from __future__ import annotations

from collections import defaultdict

import pytest
from streamlit.testing.v1 import AppTest

from biztrace import config as alerts_config
from biztrace.dashboard import ui
from biztrace.dashboard.queries import Filters
from biztrace.readmodel import exceptions, overview
from biztrace.readmodel.models import format_money


def _run(at: AppTest) -> AppTest:
    at.run()
    at.switch_page("views/overview.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_overview_shows_money_stuck_per_stage_as_the_read_model_and_the_exceptions_do(app, populated) -> None:
    _, store = populated
    at = _run(app("operations"))
    now = ui.tick()
    config = alerts_config.load()
    since = Filters().since(now)
    rows = overview.money_stuck(store, config, now, since=since)
    totals = overview.money_totals(rows)

    # the exceptions of the same transactions, their amounts summed here, one per (process, key)
    troubled = {(e.process, e.key): e for e in exceptions.detect(store, config, now, started_since=since)
                if e.kind in overview.TROUBLE}  # fmt: skip
    summed: dict[str, float] = defaultdict(float)
    for item in troubled.values():
        if item.amount is not None:
            summed[item.currency] += item.amount
    assert summed and totals == pytest.approx(dict(summed))
    per_stage: dict[tuple[str, str, str], int] = defaultdict(int)
    for item in troubled.values():
        per_stage[(item.process, item.stage, item.kind)] += 1
    assert {(r.process, r.stage, r.state): 0 for r in rows}.keys() == per_stage.keys()
    assert all(sum(r.transactions for r in rows if (r.process, r.stage, r.state) == k) == n
               for k, n in per_stage.items())  # fmt: skip

    shown = {m.label: m.value for m in at.metric}
    for currency, amount in totals.items():
        assert shown[f"Money stuck ({currency or 'no currency'})"] == format_money(amount, currency)
    assert len(at.get("plotly_chart")) >= 6, "the money stuck chart beside the page's five others"
