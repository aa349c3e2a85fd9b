"""Every page through Streamlit's AppTest on a store the simulator filled.

Figures are checked against the alerts' own functions on the same store and moment, so a
page that drops, double-counts or mislabels transactions fails.
"""

from __future__ import annotations

from collections import Counter

import pytest
from streamlit.testing.v1 import AppTest

from biztrace import config as alerts_config
from biztrace.dashboard import ui
from biztrace.dashboard.queries import Filters
from biztrace.readmodel import alert_store
from biztrace.readmodel import exceptions as alert_exceptions
from biztrace.readmodel.models import format_money
from biztrace.readmodel.transactions import transactions
from tests.dashboard.conftest import PASSWORD

PAGES = ["overview", "search", "reconciliation", "exceptions", "alerts", "process_map"]


def _run(at: AppTest, page: str | None = None) -> AppTest:
    at.run()
    if page:
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_sign_in_refuses_a_wrong_password_then_admits_the_right_one(app) -> None:
    at = app(role=None)
    at.run()
    assert [t.value for t in at.title] == ["biztrace"]
    at.text_input(key="signin_user").input("support")
    at.text_input(key="signin_password").input("not the password")
    at.button[0].click().run()
    assert any("wrong password" in e.value for e in at.error)
    assert "user" not in at.session_state
    at.text_input(key="signin_password").input(PASSWORD)
    at.button[0].click().run()
    assert not at.exception
    assert at.session_state["user"].roles == ["support"]
    assert "Order search" in [t.value for t in at.title], "support lands on the first page its role sees"


def test_without_users_or_identity_provider_nobody_gets_in(app, monkeypatch) -> None:
    monkeypatch.delenv("BIZTRACE_USERS_FILE")
    at = app(role=None)
    at.run()
    assert any("No users are configured" in e.value for e in at.error)
    assert not at.metric


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_for_admin(app, page: str) -> None:
    at = _run(app("admin"), page)
    assert at.title, "the page drew its title"
    assert any("queries" in c.value and "ms" in c.value for c in at.caption), "the footer reports query time"


def test_overview_counts_match_the_transactions_the_alerts_see(app, populated) -> None:
    _, store = populated
    at = _run(app("operations"), "overview")
    at_tick = ui.tick()
    config = alerts_config.load()
    found = transactions(store, config, at_tick, since=Filters().since(at_tick))
    by_state = Counter(tx.state for tx in found)
    shown = _metrics(at)
    assert shown["Transactions"] == f"{len(found):,}" and len(found) > 300
    assert shown["In flight"] == f"{by_state['in_flight']:,}"
    assert shown["Stuck"] == f"{by_state['stuck']:,}"
    assert shown["Failed"] == f"{by_state['failed'] + by_state['dead_letter']:,}"
    assert shown["Complete"] == f"{by_state['complete']:,}"
    assert shown["End-to-end SLA adherence"].endswith("%")
    assert len(at.get("plotly_chart")) >= 4


def test_the_filters_narrow_every_figure(app) -> None:
    def transactions_shown(**filters: str) -> int:
        at = app("admin")
        for key, value in filters.items():  # what the sidebar's widgets hold once a person picked
            at.session_state[key] = value
        return int(_metrics(_run(at, "overview"))["Transactions"].replace(",", ""))

    everything = transactions_shown()
    orders = transactions_shown(f_process="order_to_cash")
    last_hour = transactions_shown(f_window="1h")
    edi = transactions_shown(f_channel="edi")
    assert 0 < orders < everything and 0 < last_hour < everything and 0 < edi < everything


def test_the_sidebar_holds_the_shared_filters(app) -> None:
    at = _run(app("admin"))
    keys = [widget.key for widget in at.sidebar.selectbox]
    assert keys == ["f_window", "f_process", "f_channel", "f_system", "f_priority"]
    assert at.sidebar.toggle(key="auto_refresh").value is False


def test_support_does_not_see_alerts_or_the_overview(app) -> None:
    at = _run(app("support"))
    assert [t.value for t in at.title] == ["Order search"]
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("views/alerts.py")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("views/overview.py")


def test_order_search_shows_the_whole_life_of_an_order(app, populated) -> None:
    _, store = populated
    order = store.client.query(
        f"SELECT OrderId FROM {store.table('biz_hops')} WHERE Stage = 'invoice.posted' ORDER BY OrderId LIMIT 1"
    ).result_rows[0][0]
    at = _run(app("support", key=order))
    titles = [h.value for h in at.subheader]
    assert ui.literal(order) in titles
    assert at.query_params["key"] == [order] or at.query_params["key"] == order
    assert any("stages" in (p.text or "") for p in at.get("progress")) or at.get("progress")
    assert at.get("plotly_chart"), "the timeline"
    hops = at.dataframe[-1].value
    stored = store.client.command(
        f"SELECT count() FROM {store.table('biz_hops')} FINAL WHERE OrderId = {{o:String}}", parameters={"o": order}
    )
    assert len(hops) == int(stored)
    systems = at.dataframe[0].value
    assert {"erp", "wms"} <= set(systems["system"])


def test_a_partial_id_lists_matching_ids_and_picking_one_opens_it(app, populated) -> None:
    _, store = populated
    shipment = store.client.query(
        f"SELECT ShipmentId FROM {store.table('biz_hops')} WHERE ShipmentId != '' LIMIT 1"
    ).result_rows[0][0]
    at = _run(app("support"))
    at.text_input(key="search_key").input(shipment[:-1]).run()
    choices = [b for b in at.button if b.key and b.key.startswith("pick_")]
    assert choices and all(b.label.startswith(ui.literal(shipment)[:-2]) for b in choices)
    pick = next(b for b in choices if b.key == f"pick_{shipment}")
    pick.click().run()
    assert ui.literal(shipment) in [h.value for h in at.subheader]
    assert ui.literal(shipment) in [b.label for b in at.button], "it is now a recent search"


def test_an_unknown_id_says_so(app) -> None:
    at = _run(app("support"))
    at.text_input(key="search_key").input("NO-SUCH-ID-42").run()
    assert any("No order, customer, SKU" in w.value for w in at.warning)


def test_acknowledging_from_the_queue_acts_only_on_the_chosen_exception_then_clears_the_choice(app, populated) -> None:
    _, store = populated
    at = _run(app("support"), "exceptions")
    select = at.multiselect[-1]
    label, other = select.options[0], select.options[1]
    key = label.split(" · ")[0]
    select.set_value([label]).run()
    at.radio(key="x_action_0").set_value("acknowledge").run()
    at.text_input(key="x_note_0").input("on it").run()
    preview = [m.value for m in at.markdown if m.value.startswith("Apply will")]
    assert preview and ui.literal(key) in preview[0] and "**acknowledge** 1 exception(s)" in preview[0]
    next(b for b in at.button if b.label == "Apply").click().run()
    assert not at.exception
    assert any("1 exception(s) updated" in s.value for s in at.success), [w.value for w in at.warning]
    config = alerts_config.load()
    items = alert_exceptions.list_exceptions(store, config, ui.tick(), alert_exceptions.Filters(key=key))
    acknowledged = [i for i in items if i.state == "acknowledged"]
    assert acknowledged and acknowledged[0].acknowledged_by == "support"
    untouched = alert_exceptions.list_exceptions(store, config, ui.tick(), alert_exceptions.Filters(
        key=other.split(" · ")[0], kind=other.split(" · ")[1]))  # fmt: skip
    assert [i.state for i in untouched] == ["open"], "only the chosen exception was acted on"
    assert at.multiselect[-1].value == [], "the choice is cleared after Apply"
    assert at.text_input(key="x_note_1").value == "" and at.radio(key="x_action_1").value == "acknowledge"
    apply = next(b for b in at.button if b.label == "Apply")
    assert apply.disabled, "nothing chosen: nothing to apply"


@pytest.mark.parametrize("process", ["order_to_cash", "returns", "customer_master"])
def test_the_queue_with_a_process_filter_shows_that_process_only(app, populated, process: str) -> None:
    _, store = populated
    at = app("admin")
    at.session_state["f_process"] = process
    _run(at, "exceptions")
    assert at.title[0].value == "Exception queues"
    shown = at.dataframe[0].value if at.dataframe else None
    moment = ui.tick()
    expected = alert_exceptions.list_exceptions(
        store, alerts_config.load(), moment, alert_exceptions.Filters(process=process), since=Filters().since(moment)
    )
    if expected:
        assert set(shown["process"]) == {process} and len(shown) == min(len(expected), 50)
    else:
        assert any("No exceptions" in s.value for s in at.success)


def test_the_queue_is_paged_and_its_totals_counted_over_every_page(app, populated) -> None:
    _, store = populated
    at = app("support")
    at.session_state["f_window"] = "7d"
    _run(at, "exceptions")
    moment = ui.tick()
    expected = alert_exceptions.list_exceptions(
        store, alerts_config.load(), moment, since=Filters(window="7d").since(moment)
    )
    assert len(expected) > 50, "more than one page"
    first = at.dataframe[0].value
    assert list(first["key"]) == [i.key for i in expected[:50]], "oldest first, as the alerts list them"
    # each exception's value at risk, as the list carries it; blank cells, never "None"
    assert list(first["amount"]) == ["" if i.amount is None else format_money(i.amount, i.currency)
                                     for i in expected[:50]]  # fmt: skip
    assert any(first["amount"]) and set(first["postponed until"]) == {""}
    assert f"{len(expected):,} exceptions · 1–50 shown" in [c.value for c in at.caption]
    shown = _metrics(at)
    assert int(shown["Open"].replace(",", "")) + int(shown["Acknowledged"].replace(",", "")) == len(expected)
    at.number_input(key="x_page").set_value(2).run()
    assert not at.exception
    assert list(at.dataframe[0].value["key"]) == [i.key for i in expected[50:100]]
    at.selectbox(key="x_sort").set_value("priority, then age").run()
    ranks = at.dataframe[0].value["priority"].map({"high": 0, "normal": 1, "low": 2}).fillna(3)
    assert ranks.is_monotonic_increasing and at.number_input(key="x_page").value == 1, "a new order starts at page 1"


def test_on_call_creates_and_expires_a_silence(app, populated) -> None:
    _, store = populated
    at = _run(app("on-call"), "alerts")
    at.text_input(key="s_matchers").input("alertname=OrdersStuck, process=order_to_cash")
    at.text_input(key="s_duration").input("90m")
    at.text_input(key="s_comment").input("deploy window")
    next(b for b in at.button if b.label == "Silence").click().run()
    created = [s for s in alert_store.silences(store) if s.comment == "deploy window"]
    assert len(created) == 1 and created[0].created_by == "oncall"
    assert created[0].matchers == {"alertname": "OrdersStuck", "process": "order_to_cash"}
    at = _run(app("on-call"), "alerts")
    at.selectbox(key="s_expire").set_value(created[0].id)
    next(b for b in at.button if b.label == "Expire now").click().run()
    expired = {s.id: s for s in alert_store.silences(store)}[created[0].id]
    assert expired.state(ui.queries.now()) == "expired"


def test_a_bad_silence_is_refused_with_a_message(app, populated) -> None:
    _, store = populated
    before = len(alert_store.silences(store))
    at = _run(app("admin"), "alerts")
    at.text_input(key="s_matchers").input("no-equals-sign")
    next(b for b in at.button if b.label == "Silence").click().run()
    assert any("is not label=value" in e.value for e in at.error)
    assert len(alert_store.silences(store)) == before


def test_reconciliation_lists_the_mismatches_the_rules_find(app, populated) -> None:
    from biztrace.readmodel import reconcile

    _, store = populated
    at = _run(app("operations"), "reconciliation")
    moment = ui.tick()
    expected = reconcile.mismatches(store, alerts_config.load(), moment, since=Filters().since(moment))
    assert expected, "the simulator injected amount and quantity mismatches"
    assert f"Mismatched transactions ({len(expected):,})" in [s.value for s in at.subheader]


def test_process_map_shows_the_flow_and_the_paths(app) -> None:
    at = _run(app("operations"), "process_map")
    assert at.get("plotly_chart")
    variants = at.dataframe[0].value
    assert variants["path"].str.startswith("order.captured").any()
    assert abs(variants["share"].sum() - 1) < 1e-9 or len(variants) == 15


def test_a_broken_configuration_is_a_message_not_a_traceback(app, tmp_path, monkeypatch) -> None:
    bad = tmp_path / "biztrace.yaml"
    bad.write_text("processes:\n  p:\n    key: order.id\n    stages: 12\n")
    monkeypatch.setenv("BIZTRACE_CONFIG", str(bad))
    ui._config.clear()
    try:
        at = app("admin")
        at.run()
        assert not at.exception
        assert any("configuration has a mistake" in e.value and "biztrace.yaml" in e.value for e in at.error)
    finally:
        ui._config.clear()


@pytest.mark.parametrize("page", PAGES)
def test_a_fresh_store_gets_empty_states_not_errors(app, store, monkeypatch, page: str) -> None:
    monkeypatch.setenv("BIZTRACE_STORE", store.address.dsn)
    at = _run(app("admin"), page)
    assert not at.error
    shown = " ".join(e.value for e in [*at.info, *at.success, *at.caption])
    expected = {
        "overview": "No transactions started",
        "search": "Type an id above",
        "reconciliation": "Nothing to reconcile",
        "exceptions": "No exceptions",
        "alerts": "Nothing is firing",
        "process_map": "No order_to_cash transactions",
    }[page]
    assert expected in shown
