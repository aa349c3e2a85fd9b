"""Right answers on spans biztrace's own code did not shape: precision and recall 1.0 per kind.

The producers (``producer_py.py``, ``node/producer.js``, ``producer_legacy.py``) use the plain
OpenTelemetry SDKs and CONVENTIONS v2's minimum: no ``biz.process`` or ``biz.system``, other
systems reporting a stage than the defaults name, keys linked on separate hops, non-conventional
spans usable only through ``mappings.yaml``. Questions are asked as a user asks them: the
``biztrace exceptions --json`` and ``biztrace reconcile --json`` commands, in process, on the
store the collector filled; lookups through the read model ``biztrace order`` uses.
"""

from __future__ import annotations

import contextlib
import io
import json
from datetime import timedelta

import pytest

from biztrace.cli import main
from biztrace.readmodel.lookup import key_history

from .conftest import MAPPINGS, NOW, Corpus

KINDS = ("stuck", "failed", "duplicate", "dead_letter", "mismatch")


def _run(*argv: str) -> tuple[int, object, str]:
    """``biztrace ARGV`` in process: (exit code, the JSON it printed or None, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, json.loads(out.getvalue()) if out.getvalue().strip() else None, err.getvalue()


def _exceptions(corpus: Corpus, *extra: str) -> list[dict]:
    code, items, err = _run("exceptions", "--store", corpus.dsn, "--now", NOW.isoformat(), "--json", *extra)
    assert code == 0, f"biztrace exceptions exited {code}: {err.strip()[-800:]}"
    return items


@pytest.fixture(scope="module")
def listed(corpus: Corpus) -> list[dict]:
    return _exceptions(corpus)


def _score(expected: set, found: set) -> str:
    """A one-look account of what detection got wrong (empty when precision and recall are 1.0)."""
    missed, false = sorted(expected - found), sorted(found - expected)
    if not missed and not false:
        return ""
    hit = len(expected & found)
    return (f"recall {hit}/{len(expected)}, precision {hit}/{len(found) or 0}; "
            f"missed {missed}; falsely flagged {false}")  # fmt: skip


def test_the_corpus_plants_every_kind_and_clean_look_alikes(corpus: Corpus) -> None:
    kinds = {fault["kind"] for fault in corpus.faults}
    assert kinds == set(KINDS)
    assert {t["producer"] for t in corpus.truths} == {"python-sdk", "node-sdk"}
    assert len(corpus.clean) >= 8
    identities = [(f["process"], f["key"], f["kind"]) for f in corpus.faults]
    assert len(identities) == len(set(identities))


@pytest.mark.parametrize("kind", KINDS)
def test_every_planted_fault_is_found_and_nothing_else(corpus: Corpus, listed: list[dict], kind: str) -> None:
    expected = {(f["process"], f["key"]) for f in corpus.faults if f["kind"] == kind}
    found = {(item["process"], item["key"]) for item in listed if item["kind"] == kind}
    assert not _score(expected, found), f"{kind}: {_score(expected, found)}"


def test_clean_transactions_are_not_flagged(corpus: Corpus, listed: list[dict]) -> None:
    clean = {(c["process"], c["key"]): c["why"] for c in corpus.clean}
    flagged = sorted(
        f"{item['process']} {item['key']}: {item['kind']} at {item['stage']} ({clean[(item['process'], item['key'])]})"
        for item in listed
        if (item["process"], item["key"]) in clean
    )
    assert not flagged, flagged


def test_each_exception_names_the_stage_where_it_happened(corpus: Corpus, listed: list[dict]) -> None:
    stages = {(item["process"], item["key"], item["kind"]): item["stage"] for item in listed}
    found = [f for f in corpus.faults if (f["process"], f["key"], f["kind"]) in stages]
    assert found, "no planted fault was found at all"
    wrong = [f"{f['key']} {f['kind']}: {stages[(f['process'], f['key'], f['kind'])]!r}, expected {f['stage']!r}"
             for f in found if stages[(f["process"], f["key"], f["kind"])] != f["stage"]]  # fmt: skip
    assert not wrong, wrong


def test_exceptions_carry_the_value_at_risk(corpus: Corpus, listed: list[dict]) -> None:
    """CONVENTIONS v2: an exception about a transaction with a value carries ``amount``: for an
    order, the amount its system of record accepted (the first amount seen before acceptance)."""
    items = {(item["process"], item["key"], item["kind"]): item for item in listed}
    valued = [f for f in corpus.faults if f["value"] is not None and (f["process"], f["key"], f["kind"]) in items]
    assert valued, "no planted fault with a value was found at all"
    wrong = [f"{f['key']} {f['kind']}: amount {items[(f['process'], f['key'], f['kind'])].get('amount', 'absent')}, "
             f"expected {f['value']}" for f in valued
             if items[(f["process"], f["key"], f["kind"])].get("amount") != pytest.approx(f["value"])]  # fmt: skip
    assert not wrong, wrong


def test_reconcile_json_lists_the_mismatches_with_conventions_fields(corpus: Corpus) -> None:
    code, document, err = _run("reconcile", "--store", corpus.dsn, "--now", NOW.isoformat(), "--since",
                               (NOW - timedelta(days=30)).isoformat(), "--json")  # fmt: skip
    assert code == 0, err
    findings = document["mismatches"]
    expected = {(f["process"], f["key"]) for f in corpus.faults if f["kind"] == "mismatch"}
    found = {(m.get("process"), m.get("key")) for m in findings}
    problems = [f"reconcile: {_score(expected, found)}"] if _score(expected, found) else []
    problems += [f"{m.get('key')}: no {field!r}" for m in findings for field in ("process", "key", "kind", "stage")
                 if field not in m]  # fmt: skip
    problems += [f"{m.get('key')}: kind {m['kind']!r}" for m in findings if m.get("kind", "mismatch") != "mismatch"]
    stages = {(f["process"], f["key"]): f["stage"] for f in corpus.faults if f["kind"] == "mismatch"}
    problems += [f"{m.get('key')}: stage {m.get('stage')!r}, expected {stages[(m['process'], m['key'])]!r}"
                 for m in findings if (m.get("process"), m.get("key")) in stages
                 and m.get("stage") != stages[(m["process"], m["key"])]]  # fmt: skip
    assert not problems, problems


@pytest.mark.parametrize(
    ("key", "root"),
    [
        ("WEB-1001", "WEB-1001"),  # the order's own view includes its return's hops that carry only return.id
        ("INV-1001", "WEB-1001"),  # invoice hop: invoice.id + shipment.id only
        ("SHP-1001", "WEB-1001"),
        ("RMA-1001", "WEB-1001"),  # return: only its authorization carries the order id
        ("RA-2001", "EDI-2001"),
        ("AR-2001", "EDI-2001"),
        ("INV-1202", "WEB-1202"),
    ],
)
def test_a_lookup_by_any_key_shows_the_orders_whole_tree(corpus: Corpus, key: str, root: str) -> None:
    tree = corpus.trees[root]
    history = key_history(corpus.store, key)
    shown = {hop.span_id.lower() for hop in history.hops}
    expected = set(tree["span_ids"])
    missing = expected - shown
    assert not missing and shown == expected, (
        f"lookup {key}: {len(expected & shown)} of the {len(expected)} hops of {root}'s tree "
        f"({len(missing)} missing, {len(shown - expected)} not of the tree)"
    )


def test_legacy_spans_become_usable_through_the_mapping_configuration(legacy: Corpus) -> None:
    items = _exceptions(legacy, "--config", str(MAPPINGS))
    expected = {(f["process"], f["key"], f["kind"], f["stage"]) for f in legacy.faults}
    found = {(item["process"], item["key"], item["kind"], item["stage"]) for item in items}
    assert not _score(expected, found), f"with mappings.yaml: {_score(expected, found)}"


@pytest.mark.parametrize("mapped", [False, True], ids=["sdk-producers", "legacy-mapped"])
def test_one_keys_exceptions_are_the_whole_queues_rows_of_that_key(
    corpus: Corpus, legacy: Corpus, listed: list[dict], mapped: bool
) -> None:
    """What support's order page and ``biztrace exceptions --key`` ask (a detection of one key's tree, its
    hops placed once: ``transactions.hops_scope``) gives exactly the whole queue's rows of that key, on
    keys linked on separate hops and, with mappings, on spans made hops by configuration."""
    store, extra = (legacy, ("--config", str(MAPPINGS))) if mapped else (corpus, ())
    whole = _exceptions(store, *extra) if mapped else listed
    keys = sorted({item["key"] for item in whole if item["key"]})
    assert len(keys) >= (2 if mapped else 10)
    for key in keys:
        expected = sorted((i for i in whole if i["key"] == key), key=lambda i: (i["process"], i["kind"]))
        found = sorted(_exceptions(store, *extra, "--key", key), key=lambda i: (i["process"], i["kind"]))
        assert found == expected, (
            f"{key}: asked alone, {[(i['kind'], i['stage']) for i in found]}; in the queue, "
            f"{[(i['kind'], i['stage']) for i in expected]}"
        )
    # several keys in one detection (the order page asks for its tree's transactions at once): the union
    from biztrace.config import load
    from biztrace.readmodel.exceptions import Filters, list_exceptions

    config, now = load(MAPPINGS if mapped else None), NOW.replace(tzinfo=None)
    together = list_exceptions(store.store, config, now, keys=keys)
    apart = [item for key in keys for item in list_exceptions(store.store, config, now, Filters(key=key))]
    ordered = lambda items: sorted(items, key=lambda i: (i.process, i.key, i.kind))  # noqa: E731
    assert ordered(together) == ordered(apart) and len(together) >= len(keys)


def test_without_the_mapping_the_legacy_spans_are_no_milestones(legacy: Corpus) -> None:
    """The same store under the defaults: what the mapping changes (so the test above can fail)."""
    items = _exceptions(legacy)
    found = {(item["key"], item["kind"], item["stage"]) for item in items}
    assert any(key == "LEG-3001" for key, _, _ in found), "its shipment is invisible without the mapping"
    assert ("LEG-3002", "stuck", "shipment.confirmed") not in found
    assert not any(key == "LEG-3003" and kind == "failed" for key, kind, _ in found)


def test_money_stuck_sums_the_values_of_the_stuck_failed_and_dead_lettered_exceptions(
    corpus: Corpus, listed: list[dict]
) -> None:
    """The Overview's money stuck per stage holds on foreign producers' spans too: per process, state and
    currency, the sum of what the listed exceptions of those kinds carry."""
    from biztrace.config import load
    from biztrace.readmodel.overview import money_stuck

    expected: dict[tuple[str, str, str], float] = {}
    for item in listed:
        if item["kind"] in ("stuck", "failed", "dead_letter") and item["amount"] is not None:
            group = (item["process"], item["kind"], item["currency"])
            expected[group] = expected.get(group, 0.0) + item["amount"]
    assert expected, "the corpus planted valued stuck, failed or dead-lettered transactions"
    shown: dict[tuple[str, str, str], float] = {}
    for row in money_stuck(corpus.store, load(None), NOW.replace(tzinfo=None)):
        if row.transactions > row.without_amount:  # (these producers send amounts without a currency)
            group = (row.process, row.state, row.currency)
            shown[group] = shown.get(group, 0.0) + row.amount
    assert shown == pytest.approx(expected)


def test_the_overviews_hop_latency_by_process_counts_hops_that_leave_out_biz_process(corpus: Corpus) -> None:
    """The Overview's latency table filtered by a process has a row for every stage of it the producers
    reported, with every such hop counted, biz.process or not (it matched the raw attribute before)."""
    from biztrace import config as alerts_config
    from biztrace.dashboard import data, queries

    config = alerts_config.load()
    stages = config.processes["order_to_cash"].stage_names()
    since, until = NOW.replace(tzinfo=None) - timedelta(days=30), NOW.replace(tzinfo=None)
    reported = dict(corpus.store.client.query(
        f"SELECT Stage, count() FROM {corpus.store.table('biz_hops')} WHERE has({{stages:Array(String)}}, Stage) "
        "AND Timestamp >= {since:DateTime64(9)} AND Timestamp <= {until:DateTime64(9)} GROUP BY Stage",
        parameters={"stages": stages, "since": since, "until": until}).result_rows)  # fmt: skip
    unsaid = corpus.store.client.command(
        f"SELECT count() FROM {corpus.store.table('biz_hops')} "
        "WHERE Process = '' AND has({stages:Array(String)}, Stage)",
        parameters={"stages": stages})  # fmt: skip
    assert reported and int(unsaid) > 0, "the corpus should have order-to-cash stage hops without biz.process"
    data.share_store(corpus.store)
    try:
        frame = queries.hop_latency(config, queries.Filters(process="order_to_cash"), since, until)
    finally:
        data.share_store(None)
    shown = frame[frame["stage"] != ""].groupby("stage")["hops"].sum().to_dict()
    assert shown == reported


@pytest.mark.parametrize("key", ["WEB-1001", "RMA-1001", "EDI-2001"])
def test_a_lookups_hops_name_the_process_they_are_placed_in(corpus: Corpus, key: str) -> None:
    """The lookup's (``biztrace order --json``, the API, the order page) process of each hop is the one
    biztrace places it in, as every figure counts it: the stage's process for these producers, which
    leave out biz.process (it showed the attribute as sent: empty)."""
    from biztrace import config as alerts_config

    config = alerts_config.load()
    owner = {stage: name for name, process in config.processes.items() for stage in process.stage_names()}
    raw = key_history(corpus.store, key)
    assert raw.hops and any(hop.stage and not hop.process for hop in raw.hops), "hops without biz.process expected"
    placed = key_history(corpus.store, key, config=config)
    assert [hop.span_id for hop in placed.hops] == [hop.span_id for hop in raw.hops]
    staged = [(hop.stage, hop.process) for hop in placed.hops if hop.stage]
    assert staged and staged == [(stage, owner[stage]) for stage, _ in staged]
    assert {hop.process for hop in placed.hops if hop.stage.startswith("return.")} <= {"returns"}


def test_the_order_page_shows_the_hops_the_api_shows_mapped_spans_too(legacy: Corpus) -> None:
    """With mapping rules, an order's page lists the spans they make hops, as the API and ``biztrace order``
    do (the page asked the lookup without the configuration: its hops were the stored ones only)."""
    from biztrace import config as alerts_config
    from biztrace.dashboard import data, queries

    config = alerts_config.load(MAPPINGS)
    root = next(iter(legacy.trees))
    asked = key_history(legacy.store, root, config=config)  # what the API and `biztrace order` answer
    assert any(hop.mapped for hop in asked.hops) and all(hop.process for hop in asked.hops if hop.stage)
    data.share_store(legacy.store)
    try:
        view = queries.order_view(config, root, NOW.replace(tzinfo=None))
    finally:
        data.share_store(None)
    assert view.history.hops == asked.hops


def test_the_ocel_export_names_the_process_each_event_is_placed_in(corpus: Corpus, tmp_path) -> None:
    """OCEL 2.0 events of producers that leave out biz.process carry the process biztrace places their
    hop in (the stage's), as the lookup and every figure do; it wrote the attribute as sent (none)."""
    from biztrace import config as alerts_config
    from biztrace.readmodel.ocel import export_ocel

    config = alerts_config.load()
    owner = {stage: name for name, process in config.processes.items() for stage in process.stage_names()}
    since, until = NOW.replace(tzinfo=None) - timedelta(days=60), NOW.replace(tzinfo=None) + timedelta(days=1)
    output = tmp_path / "foreign.jsonocel"
    summary = export_ocel(corpus.store, since, until, output, config=config)
    events = json.loads(output.read_text())["events"]
    assert summary.events == len(events) > 0
    placed = {(event["type"], {a["name"]: a["value"] for a in event.get("attributes", [])}.get("process"))
              for event in events}  # fmt: skip
    assert placed == {(stage, owner[stage]) for stage, _ in placed}, sorted(placed)


def test_one_keys_transactions_are_the_whole_listings_rows_whether_or_not_a_hop_needs_the_key_graph(
    corpus: Corpus,
) -> None:
    """A keyed question plans no resolution when no hop of its tree lacks an order id (the only hops the key
    graph resolves); asked of keys whose trees have such hops (a return's, an invoice's carrying only its
    shipment id) and of one whose tree has none, the rows are the whole listing's rows of those keys."""
    from biztrace import config as alerts_config
    from biztrace.readmodel.keygraph import key_tree
    from biztrace.readmodel.transactions import resolution_needed, transactions

    config = alerts_config.load()
    everything = {(t.process, t.key): t for t in transactions(corpus.store, config, NOW)}
    needed = {}
    # and an order whose every hop carries its order id (found among the corpus's orders)
    plain = next(t.key for t in everything.values() if t.process == "order_to_cash"
                 and not resolution_needed(corpus.store, config, key_tree(corpus.store, [t.key], config)))  # fmt: skip
    for key in ("WEB-1001", "INV-1001", "RMA-1001", "AR-2001", "INV-1202", "WEB-1202", "EDI-2001", plain):
        # asked as the API's key tree asks: the key and the orders of its tree's hops
        keys = sorted({hop.order_id for hop in key_history(corpus.store, key).hops if hop.order_id} | {key})
        needed[key] = resolution_needed(corpus.store, config, key_tree(corpus.store, keys, config))
        asked = transactions(corpus.store, config, NOW, keys=keys)
        assert asked, key
        assert asked == [everything[(t.process, t.key)] for t in asked], key
    assert True in needed.values() and False in needed.values(), needed


def test_a_rules_sample_counts_the_foreign_producers_transactions_and_gates_firing(corpus: Corpus) -> None:
    """min_sample on spans from plain OTel SDKs that leave out biz.process and biz.system: the error rate's
    sample is the transactions active in its window (inferred processes included), and the rule fires at
    that sample but not one above it."""
    from biztrace import config as alerts_config
    from biztrace.readmodel import rules
    from biztrace.readmodel.transactions import transactions

    def evaluated(min_sample: int) -> rules.RuleResult:
        config = alerts_config.loads("rules:\n  - {name: Failed, kind: error_rate, process: order_to_cash, "
                                     f"threshold: 0, window: 30d, min_sample: {min_sample}}}\n")  # fmt: skip
        found, errors = rules.evaluate(corpus.store, config, NOW)
        assert errors == []
        [result] = [r for r in found if r.rule == "Failed"]
        return result

    window = (NOW - timedelta(days=30)).replace(tzinfo=None)
    active = [t for t in transactions(corpus.store, alerts_config.load(), NOW)
              if t.process == "order_to_cash" and t.last_at >= window]  # fmt: skip
    assert any(t.state == "failed" for t in active), "the corpus plants failed orders"
    at, above = evaluated(len(active)), evaluated(len(active) + 1)
    assert (at.sample, at.active) == (len(active), True)
    assert (above.sample, above.active, above.value) == (len(active), False, at.value)
