"""Full exports of the exception queue over real HTTP: the list's rows, every one, streamed."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from biztrace.api import tokens
from biztrace.api.app import build_app
from biztrace.api.server import ApiServer
from biztrace.config import load
from biztrace.readmodel import exports
from biztrace.readmodel.exceptions import ExceptionItem, Filters, act, list_exceptions
from biztrace.simulator.scenario import FaultRates, Scenario
from biztrace.store import connect, schema
from support import simulate_into, store_dsn

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CONFIG = load(None)


@pytest.fixture(scope="module")
def api(store_root: Path, tmp_path_factory: pytest.TempPathFactory):
    database = f"t_{uuid.uuid4().hex[:12]}"
    scenario = Scenario(seed=7, days=1, orders_per_day=200, now=NOW,
                        faults=FaultRates(stuck=0.06, failed=0.04, dead_letter=0.02, duplicate=0.05))  # fmt: skip
    simulate_into(store_dsn(store_root, database), scenario, tmp_path_factory.mktemp("truth") / "truth.json")
    store = connect(store_dsn(store_root, database))
    schema.apply(store, schema.SchemaOptions())
    now = NOW.replace(tzinfo=None)
    server = ApiServer(build_app(store, CONFIG, lambda: now), port=0).start()
    _, secret = tokens.create(store, "export-bot", ["support"], "test", NOW)
    try:
        yield server, store, {"Authorization": f"Bearer {secret}"}
    finally:
        server.stop()
        store.client.command(f"DROP DATABASE IF EXISTS {database}")
        store.close()


def _export(api, **params) -> httpx.Response:
    server, _, headers = api
    answer = httpx.get(server.url + "/api/v1/exports/exceptions", headers=headers, params=params, timeout=60)
    assert answer.status_code == 200, answer.text
    return answer


def _leftovers(store) -> list[str]:
    return [name for (name,) in store.client.query(
        "SELECT name FROM system.tables WHERE database = {db:String} AND name LIKE 'biztrace\\_%\\_%'",
        parameters={"db": store.database}).result_rows if name.startswith(("biztrace_detected", "biztrace_queue",
                                                                          "biztrace_export"))]  # fmt: skip


@pytest.mark.parametrize("filters", [{}, {"process": "order_to_cash", "state": "acknowledged"}])
def test_the_csv_and_json_exports_hold_the_lists_rows(api, filters):
    _, store, _ = api
    now = NOW.replace(tzinfo=None)
    if filters.get("state") == "acknowledged":  # one at least, acknowledged by a person
        stuck = list_exceptions(store, CONFIG, now, Filters(kind="stuck", process="order_to_cash"))
        act(store, CONFIG, now, key=stuck[0].key, kind="stuck", action="acknowledge", actor="ops")
    listed = list_exceptions(store, CONFIG, now, Filters(**filters))
    assert listed, filters
    expected = [(e.process, e.key, e.kind, e.state, e.amount, e.currency, e.since, e.runbook) for e in listed]

    table = list(csv.DictReader(io.StringIO(_export(api, format="csv", **filters).text)))
    assert list(table[0]) == exports.EXCEPTION_CSV_COLUMNS
    assert [(r["process"], r["key"], r["kind"], r["state"], float(r["amount"]) if r["amount"] else None,
             r["currency"], datetime.fromisoformat(r["since"]), r["runbook"]) for r in table] == expected  # fmt: skip
    assert [r["evidence"].split() for r in table] == [e.evidence for e in listed]
    assert [json.loads(r["detail"]) for r in table] == [e.detail for e in listed]
    assert [int(r["age_s"]) for r in table] == [e.age_s for e in listed]

    lines = [json.loads(line) for line in _export(api, format="json", **filters).text.splitlines()]
    assert [(r["process"], r["key"], r["kind"], r["state"], r["amount"], r["currency"],
             datetime.fromisoformat(r["since"]), r["runbook"]) for r in lines] == expected  # fmt: skip
    assert list(lines[0]) == list(ExceptionItem.model_fields)
    assert [r["evidence"] for r in lines] == [e.evidence for e in listed]
    assert [r["detail"] for r in lines] == [{k: v for k, v in e.detail.items() if v is not None} for e in listed]
    assert all(datetime.fromisoformat(line["opened_at"]) for line in lines)
    if not filters:  # a duplicate of a healthy order: its value comes from the transaction, as in the list
        assert any(e.kind == "duplicate" and e.amount is not None for e in listed)
    assert not _leftovers(store)


def test_a_client_that_leaves_midway_leaves_no_queue_table_behind(api, monkeypatch):
    server, store, headers = api
    whole = _export(api, format="csv").text
    real = exports._stream

    def slow(*args, **kwargs):  # the real stream, 64 bytes every 50 ms: seconds to send it all
        for chunk in real(*args, **kwargs):
            time.sleep(0.05)
            yield chunk

    monkeypatch.setattr(exports, "CHUNK", 64)
    monkeypatch.setattr(exports, "_stream", slow)
    assert len(whole) > 64 * 60
    with httpx.Client(timeout=60) as client:
        with client.stream("GET", server.url + "/api/v1/exports/exceptions", headers=headers,
                           params={"format": "csv"}) as answer:  # fmt: skip
            assert next(answer.iter_raw()).startswith(b"process,key,kind")
            assert _leftovers(store)  # midway: the queue's tables are alive
    left = time.monotonic()
    while _leftovers(store) and time.monotonic() < left + 2:  # well before the stream could have ended
        time.sleep(0.05)
    assert not _leftovers(store)
    monkeypatch.undo()
    assert _export(api, format="csv").text == whole  # and the store still answers


def test_the_cli_writes_the_same_export_from_the_store_or_through_the_api_of_its_holder(api, tmp_path):
    from pydantic_settings import CliApp

    from biztrace.cli import remote
    from biztrace.cli.export_exceptions import ExportExceptions

    server, store, headers = api
    dsn = store.address.dsn
    written = tmp_path / "stuck.csv"
    CliApp.run(ExportExceptions, cli_args=["--store", dsn, "--kind", "stuck", "--output", str(written),
                                           "--now", NOW.isoformat()])  # fmt: skip
    assert written.read_bytes() == _export(api, format="csv", kind="stuck").content
    assert len(written.read_text().splitlines()) > 2

    if store.address.path is None:  # a ClickHouse server: nobody holds it, the CLI reads it itself
        return
    secret = headers["Authorization"].removeprefix("Bearer ")
    remote.publish(store.address.path, server.url, secret)
    try:  # this process holds the embedded store: the command asks its API
        answer = subprocess.run([sys.executable, "-m", "biztrace.cli", "export", "exceptions", "--store", dsn,
                                 "--format", "json"], capture_output=True, timeout=120)  # fmt: skip
    finally:
        remote.withdraw(store.address.path)
    assert answer.returncode == 0, answer.stderr.decode()[-2000:]
    assert answer.stdout == _export(api, format="json").content
