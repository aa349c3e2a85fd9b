"""Ingest figures of issue 2: spans/s through the collector over HTTP and gRPC, and the ceiling.

The collector runs as its own process on a fresh embedded store; a light load generator in
another process replays pre-serialized 512-span requests with several in flight and counts
spans from the first send to the last acknowledgement (acks come after commit). The
ceiling, in the same run: the same rows, already in columns (read back as Arrow), inserted
with one clickhouse-connect insert per 50,000 rows into a fresh database with the same schema.
Storage (issue 18): compressed bytes per stored span in each table the spans fill, once parts
are merged (``OPTIMIZE ... FINAL``, the state background merges reach), and on disk with marks,
primary and skip indexes.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

LOADGEN = textwrap.dedent(
    """
    import json, sys, time, threading, http.client
    from concurrent.futures import ThreadPoolExecutor
    sys.path.insert(0, sys.argv[5])
    from bench.otlp_payloads import build_request
    protocol, port, requests, concurrency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    bodies = [build_request(512, seed, orders=200_000).SerializeToString() for seed in range(requests)]
    local = threading.local()
    def http_send(body):
        conn = getattr(local, "conn", None) or http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        local.conn = conn
        conn.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
        response = conn.getresponse(); response.read()
        assert response.status == 200, response.status
    if protocol == "grpc":
        import grpc
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        send = lambda body: export(body, timeout=120)
    else:
        send = http_send
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(send, bodies))
    print(json.dumps({"spans": 512 * requests, "seconds": time.perf_counter() - started}))
    """
)

CEILING = textwrap.dedent(
    """
    import json, sys, time
    sys.path.insert(0, sys.argv[2])
    from biztrace.store import connect
    from biztrace.store import schema
    store = connect(f"chdb://{sys.argv[1]}")
    columns = ", ".join("`" + c + "`" for c in schema.EXPORTER_INSERT_COLUMNS)
    table = store.client.query_arrow(f"SELECT {columns} FROM default.otel_traces")
    ceiling = connect(f"chdb://{sys.argv[1]}?database=ceiling")
    schema.apply(ceiling, schema.SchemaOptions())
    started = time.perf_counter()
    for offset in range(0, table.num_rows, 50_000):
        ceiling.client.insert_arrow("otel_traces", table.slice(offset, 50_000), database="ceiling")
    seconds = time.perf_counter() - started
    stored = int(ceiling.client.command("SELECT count() FROM ceiling.otel_traces"))
    print(json.dumps({"spans": table.num_rows, "seconds": seconds, "stored": stored}))
    """
)

STORAGE = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, sys.argv[2])
    from biztrace.store import connect
    from biztrace.store import schema
    store = connect(f"chdb://{sys.argv[1]}")
    for table in schema.SHARDED:
        store.client.command(f"OPTIMIZE TABLE default.{table} FINAL")
    spans = int(store.client.command("SELECT count() FROM default.otel_traces")) or 1
    rows = store.client.query(
        "SELECT table, sum(data_compressed_bytes), sum(bytes_on_disk) FROM system.parts "
        "WHERE active AND database = 'default' AND table IN {tables:Array(String)} GROUP BY table",
        parameters={"tables": list(schema.SHARDED)}).result_rows
    print(json.dumps({
        "spans": spans,
        "bytes_per_span": {t: round(c / spans, 1) for t, c, _ in sorted(rows, key=lambda r: -r[1])},
        "total_bytes_per_span": round(sum(c for _, c, _ in rows) / spans, 1),
        "disk_bytes_per_span": round(sum(d for _, _, d in rows) / spans, 1),
    }))
    """
)

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _python(script: str, *args: str, timeout: float = 1800) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=timeout)
    if out.returncode:
        raise RuntimeError(f"benchmark step failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _count(store_dir: Path) -> int:
    script = ("import sys; sys.path.insert(0, sys.argv[2]); from biztrace.store import connect; "
              "s = connect(f'chdb://{sys.argv[1]}'); print('{\"n\": %d}' % int(s.client.command("
              "'SELECT count() FROM default.otel_traces')))")  # fmt: skip
    return int(_python(script, str(store_dir), str(ROOT))["n"])


def run_protocol(protocol: str, requests: int, concurrency: int = 16) -> dict[str, Any]:
    """Spans/s through a fresh collector process over one protocol; checks nothing lost or doubled."""
    workdir = Path(tempfile.mkdtemp(prefix=f"biztrace-bench-{protocol}-"))
    http_port, grpc_port = _free_port(), _free_port()
    log = (workdir / "collector.log").open("wb")
    collector = subprocess.Popen(
        [sys.executable, "-m", "biztrace.cli", "collect", "--store", f"chdb://{workdir / 'store'}",
         "--host", "127.0.0.1", "--http-port", str(http_port), "--grpc-port", str(grpc_port)],
        stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{http_port}/healthz", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or collector.poll() is not None:
                    raise RuntimeError(f"collector did not start: {(workdir / 'collector.log').read_text()}") from None
                time.sleep(0.2)
        port = grpc_port if protocol == "grpc" else http_port
        result = _python(LOADGEN, protocol, str(port), str(requests), str(concurrency), str(ROOT))
    finally:
        collector.terminate()
        collector.wait(60)
        log.close()
    stored = _count(workdir / "store")
    return {
        "protocol": protocol,
        "spans": result["spans"],
        "seconds": round(result["seconds"], 3),
        "spans_per_s": round(result["spans"] / result["seconds"]),
        "stored": stored,
        "exact": stored == result["spans"],
        "store": str(workdir / "store"),
    }


def removed(measured: dict[str, Any]) -> None:
    """Remove the directory of a :func:`run_protocol` run (its store and the collector's log) once its store is
    read, and its path from the result."""
    shutil.rmtree(Path(measured.pop("store")).parent, ignore_errors=True)


def storage(store_dir: Path | str) -> dict[str, Any]:
    """Compressed bytes per span per table (and in total, and on disk) of a store no process holds."""
    return _python(STORAGE, str(store_dir), str(ROOT))


def run(requests: int = 400, concurrency: int = 64) -> dict[str, Any]:
    """HTTP, gRPC and the ceiling, in one run; ratios against the ceiling; the storage the spans take."""
    http = run_protocol("http", requests, concurrency)
    grpc = run_protocol("grpc", requests, concurrency)
    ceiling = _python(CEILING, http["store"], str(ROOT))
    ceiling_rate = ceiling["spans"] / ceiling["seconds"]
    result = {
        "http": http,
        "grpc": grpc,
        "ceiling": {
            "spans": ceiling["spans"],
            "seconds": round(ceiling["seconds"], 3),
            "spans_per_s": round(ceiling_rate),
            "stored": ceiling["stored"],
        },  # fmt: skip
        "http_over_ceiling": round(http["spans_per_s"] / ceiling_rate, 2),
        "grpc_over_ceiling": round(grpc["spans_per_s"] / ceiling_rate, 2),
        "storage": storage(grpc["store"]),
    }
    for measured in (http, grpc):
        removed(measured)
    return result
