"""The cluster layout at work, on one embedded engine standing in for the cluster.

chDB cannot run ``ON CLUSTER`` or Replicated engines (no Keeper), but it runs Distributed
tables over a cluster whose shards are this process (``127.0.0.1`` at the configured
``tcp_port`` is executed locally, without a network). So a child process opens an engine with
such clusters and the settings profile ``compose/cluster/clickhouse/profile.xml`` gives every
node, creates the ``--distributed`` plan (without ``ON CLUSTER``, MergeTree for Replicated),
fills it (through the real collector: OTLP → ``otlp_ingest`` → Distributed ``otel_traces`` →
local views; or with the official exporter's INSERT into ``otel_traces``), and asks every
reader the same questions as of a single-node store filled with the same business:

- ``one``, a cluster of one shard fed by biztrace's collector: every answer must equal the
  single-node answer, and ``db rebuild`` must re-derive the business rows through the
  Distributed tables.
- ``two``, two shards that are both this engine, fed by the exporter's INSERT: reads see every
  row twice, so only the analysis is checked — every reader query must run, with the profile's
  ``prefer_global_in_and_join`` and, since no reader has a double-distributed IN subquery any more
  (ClickHouse refused the key lookups without it before 2026-12-06), without it too.

What it does not cover: rows really spread over shards and replicas, Keeper, ``ON CLUSTER``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "compose" / "cluster" / "clickhouse" / "profile.xml"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CLUSTERS = {"one": 1, "two": 2}


def profile_settings() -> dict[str, str]:
    """The settings every node of the cluster variant gets in its default profile."""
    default = ET.parse(PROFILE).getroot().find("profiles/default")
    assert default is not None, f"{PROFILE} has no default profile"
    return {setting.tag: (setting.text or "").strip() for setting in default}


def _engine_config(workdir: Path) -> Path:
    """An engine config: the clusters (every shard is this process) and the nodes' profile."""
    shard = "<shard><replica><host>127.0.0.1</host><port>9000</port></replica></shard>"
    clusters = "".join(f"<{name}>{shard * shards}</{name}>" for name, shards in CLUSTERS.items())
    settings = "".join(f"<{name}>{value}</{name}>" for name, value in profile_settings().items())
    users = workdir / "users.xml"
    users.write_text(
        f"<clickhouse><profiles><default>{settings}</default></profiles>"
        "<users><default><password></password><profile>default</profile><quota>default</quota>"
        "<networks><ip>::/0</ip></networks><access_management>1</access_management></default></users>"
        "<quotas><default></default></quotas></clickhouse>"
    )
    config = workdir / "config.xml"
    config.write_text(
        f"<clickhouse><tcp_port>9000</tcp_port><remote_servers>{clusters}</remote_servers>"
        f"<users_config>{users}</users_config></clickhouse>"
    )
    return config


def _lowered(cluster: str, database: str) -> list[str]:
    """The ``--distributed`` plan as one engine without Keeper can run it: the same tables,
    views and Distributed engines, without ``ON CLUSTER`` and with plain MergeTree engines."""
    from biztrace.store import schema

    options = schema.SchemaOptions.model_construct(
        cluster=cluster, replicated=False, distributed=True, ttl_days=0, dedup_window=1000
    )
    return [s.replace(f" ON CLUSTER `{cluster}`", "") for s in schema.plan(options, database)]


def _questions(store, config, order: str, customer: str, sku: str) -> dict[str, Any]:
    """What every reader answers about the store (JSON-ready, in a stable order)."""
    from biztrace.alerts.loop import run_pass
    from biztrace.dashboard import data, queries
    from biztrace.readmodel import exceptions, reconcile, transactions
    from biztrace.readmodel.lookup import key_history

    def plain(value: Any) -> Any:
        if hasattr(value, "model_dump"):
            return value.model_dump()
        if hasattr(value, "to_dict"):  # a DataFrame
            return value.to_dict(orient="records")
        return str(value)

    def dump(value: Any) -> Any:
        return json.loads(json.dumps(value, default=plain))

    data.share_store(store)
    try:
        filters = queries.Filters(window="7d")
        answers = {
            "order": dump(key_history(store, order)),
            "customer": dump(key_history(store, customer)),
            "sku": dump(key_history(store, sku)),
            "transactions": dump(transactions.transactions(store, config, NOW)),
            "by_key": dump(transactions.transactions(store, config, NOW, keys=[order])),
            "exceptions": dump(exceptions.detect(store, config, NOW)),
            "reconcile": dump(reconcile.report(store, config, NOW)),
            "pass": dump(run_pass(store, config, NOW, persist=False).model_dump(exclude={"evaluated_at"})),
            "order_page": dump(queries.order_view(config, order, NOW)),
            "overview": dump(queries.overview(config, filters, NOW)),
        }
    finally:
        data.share_store(None)
    return answers


def child(workdir: Path) -> dict[str, Any]:
    """Runs in its own process (one chDB engine per process); returns what the parent checks."""
    import clickhouse_connect
    from clickhouse_connect.driver.exceptions import DatabaseError

    from biztrace import config as alerts_config
    from biztrace.readmodel import exceptions, reconcile, transactions
    from biztrace.simulator.scenario import FaultRates, Scenario
    from biztrace.store import Store, parse_store, schema
    from support import simulate_into

    path = workdir / "store"
    path.mkdir()
    # The first client starts the engine with the config; every later one (the collector's, the
    # readers') shares that engine and its settings profile.
    engine = clickhouse_connect.get_client(
        interface="chdb", path=str(path), chdb_options={"config-file": str(_engine_config(workdir))}
    )
    report: dict[str, Any] = {
        "profile": dict(engine.query("SELECT name, value FROM system.settings WHERE changed").result_rows),
        "clusters": engine.query(
            "SELECT cluster, count(), countIf(is_local) FROM system.clusters GROUP BY cluster"
        ).result_rows,
    }
    faults = FaultRates(stuck=0.05, failed=0.03, dead_letter=0.02, duplicate=0.03, amount_mismatch=0.03,
                        quantity_mismatch=0.02, missing_hop=0.02)  # fmt: skip
    scenario = Scenario(seed=7, days=3, orders_per_day=120, now=NOW, faults=faults)
    config = alerts_config.load()
    stores = {}
    for name in ("single", *CLUSTERS):
        dsn = f"chdb://{path}?database={name}"
        if name != "single":
            engine.command(f"CREATE DATABASE {name}")
            for statement in _lowered(name, name):
                engine.command(statement)
            engine.insert(
                schema.MIGRATIONS,
                [[m.version, m.name, m.checksum, datetime.now()] for m in schema.migrations()],
                column_names=["version", "name", "checksum", "applied_at"],
                database=name,
            )
        if name == "two":  # as the official collector's exporter writes: its INSERT into otel_traces
            columns = ", ".join(f"`{c}`" for c in schema.EXPORTER_INSERT_COLUMNS)
            engine.command(f"INSERT INTO two.otel_traces ({columns}) SELECT {columns} FROM single.otel_traces")
        else:  # through biztrace's collector: OTLP into otlp_ingest
            simulate_into(dsn, scenario, workdir / f"{name}-truth.json")
        stores[name] = Store(parse_store(dsn), engine)
    report["tables"] = {
        name: dict(engine.query(
            "SELECT name, engine FROM system.tables WHERE database = {db:String}", parameters={"db": name}
        ).result_rows)
        for name in CLUSTERS
    }  # fmt: skip
    report["spans"] = {
        name: engine.command(f"SELECT count() FROM {name}.otel_traces") for name in ("single", *CLUSTERS)
    }
    [order, customer, sku] = engine.query(
        "SELECT OrderId, CustomerId, SkuIds[1] FROM single.biz_hops WHERE OrderId != '' AND CustomerId != '' "
        "AND notEmpty(SkuIds) ORDER BY Timestamp, SpanId LIMIT 1"
    ).result_rows[0]
    report["answers"] = {name: _questions(store, config, order, customer, sku) for name, store in stores.items()}

    # Re-derive the one-shard cluster's business rows from its spans, through the Distributed tables.
    for table in (schema.HOPS, schema.KEYS, schema.TRACE_ID_TS):
        engine.command(f"TRUNCATE TABLE one.{schema.local(table)}")
    report["emptied_hops"] = engine.command("SELECT count() FROM one.biz_hops")
    try:
        report["rebuilt"] = schema.rebuild(stores["one"], NOW - timedelta(days=30), NOW + timedelta(days=30))
    except Exception as exc:  # reported, so that only the rebuild test fails
        report["rebuilt"] = {"error": f"{type(exc).__name__}: {exc}"}
    report["after_rebuild"] = _questions(stores["one"], config, order, customer, sku)

    # The readers without the profile's setting, on two shards.
    plain = Store(parse_store(f"chdb://{path}?database=two"), clickhouse_connect.get_client(
        interface="chdb", path=str(path), settings={"prefer_global_in_and_join": 0}))  # fmt: skip
    report["without_profile"] = {}
    for name, ask in (
        ("transactions of a key", lambda: transactions.transactions(plain, config, NOW, keys=[order])),
        ("mismatches of a key", lambda: reconcile.mismatches(plain, config, NOW, keys=[order])),
        ("every transaction", lambda: transactions.transactions(plain, config, NOW)),
        ("exceptions", lambda: exceptions.list_exceptions(plain, config, NOW)),
    ):
        try:
            ask()
            report["without_profile"][name] = "ran"
        except DatabaseError as exc:
            report["without_profile"][name] = str(exc).splitlines()[0]
    return report


@pytest.fixture(scope="module")
def emulated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    workdir = tmp_path_factory.mktemp("cluster")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    done = subprocess.run([sys.executable, __file__, str(workdir)], capture_output=True, text=True, env=env,
                          timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    return json.loads((workdir / "report.json").read_text())


def _comparable(answers: dict[str, Any]) -> Any:
    """The answers with every list sorted: the readers' order among equal rows, and the order of
    evidence spans, follow storage order, which differs from one filling to the next (the
    collector commits batches concurrently). An alert names a sample of at most 50 of its
    transactions, so only their number is compared. A hop's ``stored_at`` is when its store stored it
    (each store was filled at its own time): left out."""
    answers = json.loads(json.dumps(answers))
    for alert in answers["pass"]["alerts"]:
        alert["transactions"] = len(alert["transactions"])

    def unordered(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: unordered(v) for k, v in value.items() if k != "stored_at"}
        if isinstance(value, list):
            return sorted((unordered(item) for item in value), key=lambda item: json.dumps(item, sort_keys=True))
        return value

    return unordered(answers)


def test_the_engine_stands_in_for_the_cluster_with_the_nodes_profile(emulated) -> None:
    assert sorted(map(tuple, emulated["clusters"])) == [("one", 1, 1), ("two", 2, 2)]
    for name, value in profile_settings().items():
        assert emulated["profile"].get(name) == value, name


def test_the_layout_is_local_tables_behind_distributed_ones(emulated) -> None:
    from biztrace.store import schema

    for tables in emulated["tables"].values():
        for table in schema.SHARDED:
            assert tables[table] == "Distributed" and tables[schema.local(table)].endswith("MergeTree")
        assert tables[schema.INGEST] == "Null"


def test_every_span_sent_is_stored_once(emulated) -> None:
    spans = emulated["spans"]
    assert spans["single"] > 1000
    assert spans["one"] == spans["single"]
    assert spans["two"] == 2 * spans["single"], "two shards on one engine: each row is read twice"


def test_every_reader_answers_on_the_cluster_as_on_one_node(emulated) -> None:
    raw = emulated["answers"]["single"]
    assert raw["order"]["found"] and raw["transactions"] and raw["exceptions"] and raw["pass"]["alerts"]
    assert raw["pass"]["rule_errors"] == []
    single, one = _comparable(raw), _comparable(emulated["answers"]["one"])
    for question, answer in single.items():
        assert one[question] == answer, question


def test_readers_run_on_two_shards_only_with_the_profile(emulated) -> None:
    two = emulated["answers"]["two"]
    assert two["order"]["found"] and two["pass"]["rule_errors"] == []
    # Since the key-graph walk left the readers' subqueries (2026-12-06), none is a double-distributed
    # IN any more: they run without the profile too (which still makes every IN/JOIN subquery GLOBAL).
    assert set(emulated["without_profile"].values()) == {"ran"}, emulated["without_profile"]


def test_rebuild_rederives_business_rows_through_the_distributed_tables(emulated) -> None:
    assert emulated["emptied_hops"] == 0
    assert "error" not in emulated["rebuilt"], emulated["rebuilt"]
    assert emulated["rebuilt"]["biz_hops"] == emulated["spans"]["single"]
    rebuilt, single = _comparable(emulated["after_rebuild"]), _comparable(emulated["answers"]["single"])
    for question, answer in single.items():
        assert rebuilt[question] == answer, question


if __name__ == "__main__":
    directory = Path(sys.argv[1])
    (directory / "report.json").write_text(json.dumps(child(directory), default=str))
