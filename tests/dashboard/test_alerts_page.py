"""The Alerts page for on-call: filters, alert states, every affected transaction paged, values as
people read them, the runbook, acknowledging, and a silence that matches nothing.

Alerts are the real rules' findings on the simulated store (``readmodel.rules.evaluate_rule``),
recorded firing through ``readmodel.alert_store`` as the alert loop records them.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from biztrace import config as alerts_config
from biztrace.alerts.state import labels_for
from biztrace.dashboard import queries, ui
from biztrace.readmodel import alert_store, rules
from biztrace.readmodel.models import AlertInstance, TransactionRef, format_money
from biztrace.readmodel.transactions import transactions


def _run(at: AppTest, page: str = "alerts") -> AppTest:
    at.run()
    at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [s.value for s in at.success]
    parts += [w.value for w in at.warning] + [str(m.value) for m in at.metric]
    return "\n".join(parts)


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: str(m.value) for m in at.metric}


def _links(at: AppTest) -> list:
    return [element for element in at.main if element.type == "page_link"]


def _later() -> datetime:
    """A recording time after every earlier one (At is milliseconds: the latest state wins)."""
    time.sleep(0.01)
    return datetime.now(UTC).replace(tzinfo=None)


@pytest.fixture
def firing(populated):
    """OrdersStuck, FailedTransactions, EndToEndSlaLow and DeadLetters as the rules find them now, recorded firing;
    removed afterwards (recorded inactive), with the silences made meanwhile expired."""
    _, store = populated
    config = alerts_config.load()
    now = queries.now().replace(tzinfo=None)
    recorded: list[AlertInstance] = []
    with rules.snapshot(store, config, now) as snapshot:
        for name in ("OrdersStuck", "FailedTransactions", "EndToEndSlaLow", "DeadLetters"):
            rule = next(r for r in config.rules if r.name == name)
            for result in rules.evaluate_rule(store, config, rule, now, snapshot):
                if result.value <= 0:
                    continue
                recorded.append(AlertInstance(
                    rule=rule.name, labels=labels_for(rule, result), state="firing", value=result.value,
                    sample=result.sample, annotations={"summary": f"{name} {result.value}"},
                    active_since=now - timedelta(minutes=20),
                    transactions=[TransactionRef(process=result.labels.get("process", ""), key=k, kind="stuck")
                                  for k in result.keys],
                ))  # fmt: skip
    alert_store.record_alerts(store, [(a, "firing") for a in recorded], _later())
    before = {s.id for s in alert_store.silences(store)}
    yield store, config, recorded
    alert_store.record_alerts(store, [(a, "inactive") for a in recorded], _later())
    for silence in alert_store.silences(store):
        if silence.id not in before:
            queries.data.share_store(store)
            queries.expire_silence(silence.id)
            queries.data.share_store(None)


def test_an_alert_lists_every_affected_transaction_paged_and_counted(app, firing) -> None:
    store, config, recorded = firing
    stuck = [t for t in transactions(store, config, ui.tick(), states=["stuck"]) if t.process == "order_to_cash"]
    at = _run(app("on-call"))
    fp = next(a.fingerprint for a in recorded if a.rule == "OrdersStuck")
    at.selectbox(key="a_alert").set_value(fp).run()
    at.selectbox(key="a_page_size").set_value(10).run()
    text = _text(at)
    assert f"10 of {len(stuck):,}" in text, text
    links = _links(at)
    assert len(links) == 10
    assert all(link.proto.page.endswith("search.py") or "search" in link.proto.page for link in links)
    at.number_input(key="a_page").set_value(-(-len(stuck) // 10)).run()  # the last page
    last = len(stuck) - (len(stuck) - 1) // 10 * 10
    assert f"{last} of {len(stuck):,}" in _text(at)
    keys = {link.proto.query_string.removeprefix("key=") for link in _links(at)}
    assert keys <= {t.key for t in stuck} and len(keys) == last
    assert f"{len(stuck):,}" in _text(at) and "critical" in at.dataframe[0].value["severity"].tolist()
    amounts = [t for t in stuck if t.amount is not None]
    assert amounts, "stuck orders carry the amount they were captured with"
    currency = amounts[0].currency  # the value at risk of every affected order, not only this page's
    total = sum(t.amount for t in amounts if t.currency == currency)
    assert format_money(total, currency) in _metrics(at)["Value at risk"]
    assert f"{format_money(total, currency)} at risk ({len(stuck):,} orders" in _text(at)


def test_rates_are_percent_and_the_filters_hide_other_processes(app, firing) -> None:
    _, _, recorded = firing
    failed = [a for a in recorded if a.rule in ("FailedTransactions", "EndToEndSlaLow")]
    assert failed, "the simulated store has an SLA adherence below 100%"
    at = _run(app("on-call"))
    table = at.dataframe[0].value
    for alert in failed:
        assert f"{alert.value:.1%}" in table["value"].tolist(), table
    assert not any(v.startswith("0.") for v in table["value"]), "no raw fractions"
    for alert in failed:  # under each share, what it counted
        assert alert.sample, alert
        at.selectbox(key="a_alert").set_value(alert.fingerprint).run()
        [value] = [m for m in at.metric if m.label == "Value"]
        what = "transactions measured" if alert.rule == "EndToEndSlaLow" else "transactions"
        assert (value.value, value.delta) == (f"{alert.value:.1%}", f"of {alert.sample:,} {what}")
    history = next(d.value for d in at.dataframe if "Rule" in d.value.columns)
    assert not any(str(v).startswith("0.") for v in history["Value"]), "the history's values too"
    at.sidebar.selectbox(key="f_process").set_value("returns").run()
    shown = [a for d in at.dataframe if "alert" in d.value for a in d.value["alert"]]
    assert "OrdersStuck" not in shown, "an order_to_cash alert is hidden by process=returns"
    assert shown == [a.rule for a in failed if a.labels.get("process") == "returns"]
    assert any("hidden by the sidebar filters" in c.value for c in at.caption)


def test_on_call_acknowledges_an_alert_in_three_interactions(app, firing) -> None:
    """Alert -> its transactions and runbook (shown with it) -> Acknowledge: 1 choice + 1 click
    (3 browser clicks: open the alert list, pick, Acknowledge); then it shows acknowledged, not firing."""
    store, _, recorded = firing
    alert = next(a for a in recorded if a.rule == "OrdersStuck")
    at = _run(app("on-call"))
    interactions = 0
    at.selectbox(key="a_alert").set_value(alert.fingerprint).run()
    interactions += 1
    assert _links(at), "the affected transactions show with the alert"
    runbook = "https://runbooks.example.com/biztrace/stuck"  # config/defaults.yaml, kind stuck
    assert any(f"Runbook: [`{runbook}`]({runbook})" == m for m in [m.value for m in at.markdown]), _text(at)
    next(b for b in at.button if b.label == "Acknowledge").click().run()
    interactions += 1
    assert interactions <= 5
    assert not at.exception, [e.value for e in at.exception]
    assert any("acknowledged by" in s.value for s in at.success)
    row = at.dataframe[0].value.set_index("alert").loc["OrdersStuck"]
    assert "acknowledged by oncall" in row["status"] and "firing" not in row["status"]
    made = [s for s in alert_store.silences(store) if s.comment.startswith("acknowledged by oncall")]
    assert made and made[-1].matchers == alert.labels


def test_a_silenced_alert_says_silenced_with_who_and_until(app, firing, no_glyph) -> None:
    _, _, recorded = firing
    at = _run(app("on-call"))
    at.text_input(key="s_matchers").input("alertname=OrdersStuck")
    at.text_input(key="s_comment").input("known incident")
    next(b for b in at.button if b.label == "Silence").click().run()
    at = _run(app("on-call"))
    statuses = at.dataframe[0].value.set_index("alert")["status"]
    assert statuses.loc["OrdersStuck"].startswith("⊘ silenced by oncall until "), statuses
    others = statuses.drop("OrdersStuck").tolist()
    assert others and all(s == "● firing" for s in others), others
    # markers any browser draws (no emoji), in the table and in the chosen alert's caption
    shown = _text(at) + "".join(at.dataframe[0].value.astype(str).to_numpy().ravel())
    assert not no_glyph(shown), no_glyph(shown)
    assert any(c.value.startswith(":red[●] firing") or c.value.startswith(":gray[⊘] silenced by `oncall`")
               for c in at.caption), [c.value for c in at.caption]  # fmt: skip
    assert _metrics(at)["Firing"] == str(len(others)) and _metrics(at)["Silenced or acknowledged"] == "1"


def test_a_silence_that_matches_no_alert_is_accepted_with_a_warning(app, firing) -> None:
    at = _run(app("on-call"))
    at.text_input(key="s_matchers").input("alertname=NoSuchAlert")
    next(b for b in at.button if b.label == "Silence").click().run()
    assert any("created" in s.value for s in at.success)
    assert any("matches no current alert" in w.value for w in at.warning)
    at.text_input(key="s_matchers").input("alertname=OrdersStuck")
    next(b for b in at.button if b.label == "Silence").click().run()
    assert not any("matches no current alert" in w.value for w in at.warning)


def test_an_alert_of_a_hop_rule_lists_what_it_recorded_and_says_how_many_that_is(app, firing) -> None:
    _, _, recorded = firing
    dead = next((a for a in recorded if a.rule == "DeadLetters"), None)
    assert dead is not None, "the simulator dead-letters some messages"
    at = _run(app("on-call"))
    at.selectbox(key="a_alert").set_value(dead.fingerprint).run()
    assert any(
        c.value.startswith(f"{len(dead.transactions)} recorded with the alert") and f"its value is {dead.value:,.0f}"
        in c.value for c in at.caption
    ), [c.value for c in at.caption]  # fmt: skip
    assert len(_links(at)) == len(dead.transactions)


def test_an_alert_whose_transactions_carry_no_amount_says_so_as_its_notification_does(app, firing) -> None:
    """The "At risk" figure begins the sentence notifications and the API state ("no amount known at risk
    (3 orders, …)"); it read "n/a", as for an alert with no value at risk at all."""
    from biztrace.readmodel.models import AtRisk

    store, _, _ = firing
    at_risk = AtRisk(amounts={}, transactions=3, without_amount=3)
    alert = AlertInstance(rule="NoAmounts", labels={"alertname": "NoAmounts", "process": "order_to_cash"},
                          state="firing", value=3.0, active_since=datetime.now(UTC).replace(tzinfo=None),
                          at_risk=at_risk)  # fmt: skip
    alert_store.record_alerts(store, [(alert, "firing")], _later())
    try:
        at = _run(app("on-call"))
        at.selectbox(key="a_alert").set_value(alert.fingerprint).run()
        shown = _metrics(at)["At risk"]
        assert shown == "no amount known" and at_risk.text("orders").startswith(f"{shown} at risk"), shown
    finally:
        alert_store.record_alerts(store, [(alert, "inactive")], _later())
