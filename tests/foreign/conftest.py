"""Foreign producers (plain OpenTelemetry SDKs, Python and Node.js) sending to a real collector.

Each producer runs as its own process, as a customer's system would, sends its scripted world
over OTLP/HTTP to an in-process collector on a fresh database, and writes its ground truth
(planted faults, clean transactions, each transaction's span ids). The stores are filled once
per session: the main corpus (Python + Node) and the legacy one (usable only through mapping).
"""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from biztrace.collector.service import Collector
from biztrace.collector.settings import CollectorSettings
from biztrace.readmodel.lookup import key_history
from biztrace.store import Store, connect
from support import store_dsn

HERE = Path(__file__).resolve().parent
NODE_DIR = HERE / "node"
MAPPINGS = HERE / "mappings.yaml"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
"""The corpus's present: every hop is placed relative to it, and every question is asked at it."""


@dataclass
class Corpus:
    """A store filled by foreign producers, and what they say they planted."""

    dsn: str
    store: Store
    truths: list[dict]

    @property
    def faults(self) -> list[dict]:
        return [fault | {"producer": t["producer"]} for t in self.truths for fault in t["faults"]]

    @property
    def clean(self) -> list[dict]:
        return [item | {"producer": t["producer"]} for t in self.truths for item in t["clean"]]

    @property
    def trees(self) -> dict[str, dict]:
        return {root: tree for t in self.truths for root, tree in t["trees"].items()}


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """The Node producer's dependencies, installed from the committed lock file when missing."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is needed for the Node.js foreign producer (tests/foreign/node)")
    target = NODE_DIR / "node_modules"
    with (NODE_DIR / ".npm-ci.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # pytest-xdist workers or a parallel run install once
        try:
            if not (target / "@opentelemetry" / "sdk-trace-base").exists():
                done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, capture_output=True,
                                      text=True, timeout=600)  # fmt: skip
                assert done.returncode == 0, f"npm ci failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return target


def _fill(store_root: Path, truth_dir: Path, producers: dict[str, list[str]]) -> tuple[str, list[dict]]:
    """Start a collector on a fresh database, run the producers against it at once, stop it."""
    dsn = store_dsn(store_root, f"t_{uuid.uuid4().hex[:12]}")
    collector = Collector(CollectorSettings(store=dsn, host="127.0.0.1", http_port=0, grpc_port=0), lookup=key_history)
    collector.start()
    endpoint = f"http://127.0.0.1:{collector.ports.http}"
    try:
        running = {}
        for name, command in producers.items():
            arguments = [*command, "--endpoint", endpoint, "--now", NOW.isoformat(), "--truth",
                         str(truth_dir / f"{name}.json")]  # fmt: skip
            running[name] = subprocess.Popen(arguments, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                             cwd=HERE)  # fmt: skip
        for name, process in running.items():
            out, err = process.communicate(timeout=180)
            assert process.returncode == 0, f"producer {name} failed ({process.returncode}):\n{out}\n{err}"
    finally:
        collector.stop()
    return dsn, [json.loads((truth_dir / f"{name}.json").read_text()) for name in producers]


def _all_arrived(store: Store, truths: list[dict]) -> None:
    sent = {
        span_id
        for t in truths
        for tree in t["trees"].values()
        for span_id in tree["span_ids"] + tree.get("unmapped_span_ids", [])
    }
    stored = {row[0].lower() for row in store.client.query(
        f"SELECT DISTINCT SpanId FROM {store.table('otel_traces')}").result_rows}  # fmt: skip
    assert sent <= stored, f"{len(sent - stored)} of {len(sent)} spans the producers sent are not stored"


def _open(dsn: str, truths: list[dict]) -> Iterator[Corpus]:
    store = connect(dsn)
    try:
        _all_arrived(store, truths)
        yield Corpus(dsn, store, truths)
    finally:
        store.client.command(f"DROP DATABASE IF EXISTS {store.database}")
        store.close()


@pytest.fixture(scope="session")
def corpus(store_root: Path, node_modules: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    """The Python and the Node.js producers' world in one store."""
    node = shutil.which("node")
    assert node, "node is needed for the Node.js foreign producer"
    dsn, truths = _fill(store_root, tmp_path_factory.mktemp("truth"), {
        "python": [sys.executable, str(HERE / "producer_py.py")],
        "node": [node, str(NODE_DIR / "producer.js")],
    })  # fmt: skip
    yield from _open(dsn, truths)


@pytest.fixture(scope="session")
def legacy(store_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    """The legacy OMS (route-named spans, its own field names) next to conventional ERP and billing hops."""
    dsn, truths = _fill(store_root, tmp_path_factory.mktemp("truth"),
                        {"legacy": [sys.executable, str(HERE / "producer_legacy.py")]})  # fmt: skip
    yield from _open(dsn, truths)


BATCHES = 3
"""The corpus copied into a replica in this many batches (by a hash of the span id)."""


@pytest.fixture
def replica(corpus: Corpus, store_root: Path) -> Iterator[Store]:
    """An empty database with biztrace's schema beside the corpus's (its spans copied in by the test)."""
    from biztrace.store import schema

    store = connect(store_dsn(store_root, f"t_{uuid.uuid4().hex[:12]}"))
    schema.apply(store, schema.SchemaOptions())
    try:
        yield store
    finally:
        store.client.command(f"DROP DATABASE IF EXISTS {store.database}")
        store.close()


def copy_batch(corpus: Corpus, replica: Store, batch: int) -> int:
    """Insert one third of the corpus's spans (by a hash of the span id) through the real views."""
    replica.client.command(
        f"INSERT INTO {replica.table('otel_traces')} SELECT * FROM {corpus.store.table('otel_traces')} "
        f"WHERE cityHash64(SpanId) % {BATCHES} = {batch}"
    )
    return int(replica.client.command(f"SELECT count() FROM {replica.table('biz_hops')}"))
