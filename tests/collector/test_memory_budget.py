"""The receivers' memory is bounded by one budget: concurrent gRPC calls beyond it are refused
(and retried by their clients) instead of held; unauthenticated bodies are never read nor
inflated; slow HTTP connections are closed. Peak RSS of a collector process is measured."""

from __future__ import annotations

import asyncio
import gzip
import socket
import threading
import time
from collections import Counter
from pathlib import Path

import grpc
import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from biztrace.collector.batcher import Batcher
from biztrace.collector.http_receiver import build_app, make_runner
from biztrace.collector.intake import Limits
from biztrace.collector.receiver import Receiver
from biztrace.collector.writer import InMemoryWriter

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
MIB = 1 << 20


def _memory_mib(pid: int) -> dict[str, float]:
    """VmRSS (now) and VmHWM (peak since start) of a process, in MiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0]) / 1024
    return found


def _request(seed: int, spans: int = 10_000) -> bytes:
    """About 2.9 MB: ``spans`` spans of one order each, a 200-byte key."""
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for i in range(spans):
        span = scope.spans.add(name="erp.accept", start_time_unix_nano=1_790_000_000 * 10**9 + i)
        span.end_time_unix_nano = span.start_time_unix_nano + 1_000
        span.trace_id, span.span_id = (seed << 32 | i + 1).to_bytes(16, "big"), (seed << 32 | i + 1).to_bytes(8, "big")
        span.attributes.add(key="order.id").value.string_value = f"O-{seed}-{i}-" + "x" * 200
    return request.SerializeToString()


def _flood(port: int, bodies: list[bytes], calls: int, metadata=(), compression=None) -> Counter[str]:
    """``calls`` concurrent exports of the bodies in turn; the status code of each."""
    codes: Counter[str] = Counter()
    lock = threading.Lock()
    with grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.max_send_message_length", 128 * MIB)]) as channel:
        export = channel.unary_unary(EXPORT)

        def call(k: int) -> None:
            try:
                export(bodies[k % len(bodies)], timeout=180, metadata=metadata, compression=compression)
                code = "OK"
            except grpc.RpcError as exc:
                code = exc.code().name
            with lock:
                codes[code] += 1

        threads = [threading.Thread(target=call, args=(k,)) for k in range(calls)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
    return codes


def test_concurrent_grpc_calls_stay_within_the_memory_budget(collector_process):
    # Requests wait 15 s for their batch, so the peak sampled before it is what the receivers held.
    waits = ("--flush-interval-ms", "15000", "--min-batch-spans", "10000000", "--max-batch-spans", "10000000")
    collector = collector_process(*waits, "--max-inflight-bytes", str(64 * MIB)).start()
    pid = collector.proc.pid
    bodies = [_request(seed) for seed in range(1, 5)]
    assert 2.5 * MIB < len(bodies[0]) < 3.5 * MIB
    idle = _memory_mib(pid)["VmRSS"]
    codes: Counter[str] = Counter()
    flood = threading.Thread(target=lambda: codes.update(_flood(collector.grpc_port, bodies, calls=300)))
    flood.start()
    time.sleep(12)  # every call received or refused by now; the batch is not written yet
    received = _memory_mib(pid)["VmHWM"]
    flood.join(300)
    assert sum(codes.values()) == 300 and codes["OK"] >= 4, codes
    assert set(codes) <= {"OK", "UNAVAILABLE", "RESOURCE_EXHAUSTED"}, codes
    # 300 calls of 2.9 MB are 870 MB: without the budget the peak grew ~864 MiB. With it, 64 MiB of bodies
    # plus checking them (a few times their size) and the engine's own allocations grew 210-350 MiB across
    # runs on this shared machine; 500 keeps the test clear of that noise and still fails without the budget.
    assert received - idle < 500, f"peak RSS grew {received - idle:.0f} MiB over {idle:.0f} MiB idle ({codes})"


def test_unauthenticated_grpc_bodies_are_neither_read_nor_inflated(collector_process):
    collector = collector_process("--token", "s3cret", "--max-body-bytes", str(100 * MIB)).start()
    pid = collector.proc.pid
    zeros = ExportTraceServiceRequest()
    zeros.resource_spans.add().schema_url = "0" * (60 * MIB)  # 60 MiB that gzip makes 60 KiB
    idle = _memory_mib(pid)["VmRSS"]
    codes = _flood(collector.grpc_port, [zeros.SerializeToString()], calls=30, compression=grpc.Compression.Gzip)
    assert codes == {"UNAUTHENTICATED": 30}
    peak = _memory_mib(pid)["VmHWM"]
    assert peak - idle < 100, f"peak RSS grew {peak - idle:.0f} MiB for refused calls"


@pytest.fixture
def slow_server():
    """An OTLP/HTTP app on a free port with a 1 s idle timeout and a 1 s body read timeout."""
    loop = asyncio.new_event_loop()
    batcher = Batcher([InMemoryWriter()], flush_interval_ms=1)
    batcher.start()
    runner = make_runner(build_app(Receiver(batcher, Limits(), 1 << 20), read_timeout_s=1.0), idle_timeout_s=1.0)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield site._server.sockets[0].getsockname()[1]
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()
    batcher.shutdown(5)


def _trickle(port: int, head: bytes, then: bytes, every_s: float = 0.3, for_s: float = 6.0) -> tuple[float, bytes]:
    """Send ``head``, then ``then`` one byte at a time; when the server answers or closes, and what it said."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=for_s) as sock:
        sock.sendall(head)
        received = b""
        for byte in then:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
            sock.settimeout(every_s)
            try:
                chunk = sock.recv(65536)
                received += chunk
                if not chunk or received:
                    break
            except TimeoutError:
                pass
            if time.monotonic() - started > for_s:
                break
        return time.monotonic() - started, received


def test_slow_headers_and_idle_connections_are_closed(slow_server):
    elapsed, answer = _trickle(slow_server, b"POST /v1/traces HTTP/1.1\r\n", b"X-Slow: " + b"a" * 100)
    assert elapsed < 4 and answer == b"", "a trickled request head must be cut off"
    with socket.create_connection(("127.0.0.1", slow_server), timeout=10) as sock:
        started = time.monotonic()
        assert sock.recv(1) == b""  # an idle connection is closed by the server
        assert time.monotonic() - started < 4


def test_a_trickled_body_is_answered_408(slow_server):
    body = gzip.compress(b"x")
    head = (f"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
            f"Content-Length: {len(body) + 100}\r\n\r\n").encode()  # fmt: skip
    elapsed, answer = _trickle(slow_server, head, b"\x00" * 100)
    assert elapsed < 4 and answer.startswith(b"HTTP/1.1 408")


def test_http_bodies_count_against_the_same_budget():
    import http.client

    from support import BlockingWriter

    writer = BlockingWriter()
    batcher = Batcher([writer], flush_interval_ms=1)
    batcher.start()
    receiver = Receiver(batcher, Limits(), 8 * MIB, max_inflight_bytes=4 * MIB)
    loop = asyncio.new_event_loop()
    runner = make_runner(build_app(receiver))
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]
    server = threading.Thread(target=loop.run_forever, daemon=True)
    server.start()

    def post(body: bytes) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
        status = connection.getresponse().status
        connection.close()
        return status

    held: list[int] = []
    first = threading.Thread(target=lambda: held.append(post(_request(1, 10_000))))  # 2.9 MB, waits for its commit
    try:
        first.start()
        deadline = time.monotonic() + 10
        while receiver.budget.held_bytes < 2 * MIB and time.monotonic() < deadline:
            time.sleep(0.01)
        assert post(_request(2, 10_000)) == 429  # 2.9 + 2.9 MB > 4 MiB: refused, not held
        assert receiver.budget.held_bytes < 4 * MIB
    finally:
        writer.release.set()
        first.join(30)
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        server.join(10)
        loop.close()
        batcher.shutdown(5)
    assert held == [200] and receiver.budget.held_bytes == 0
