"""Real local HTTP receivers for delivery tests: one that trickles its answer, one that records and answers.

:class:`TrickleServer` reads a request, then answers one byte every ``every_s`` (its headers
too, with ``trickle_headers``), as a receiver that is alive but hopeless does; it records
how long each connection was held. :class:`ScriptedServer` records every JSON body and
answers a fixed status and headers.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Held:
    """One connection to the trickling server."""

    started: float
    ended: float | None = None
    bytes_sent: int = 0

    @property
    def seconds(self) -> float | None:
        return None if self.ended is None else self.ended - self.started


class TrickleServer:
    """Answers ``200`` with ``body_bytes`` of body, one byte every ``every_s`` (until the client hangs up)."""

    def __init__(self, every_s: float, body_bytes: int = 1000, trickle_headers: bool = False) -> None:
        self.every_s = every_s
        self.body_bytes = body_bytes
        self.trickle_headers = trickle_headers
        self.held: list[Held] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/hook"
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def connections(self) -> list[Held]:
        with self._lock:
            return list(self.held)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        held = Held(time.monotonic())
        with self._lock:
            self.held.append(held)
        with conn:
            conn.settimeout(5)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)  # fmt: skip
                while len(body) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    body += chunk
                headers = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % self.body_bytes
                if not self.trickle_headers:
                    conn.sendall(headers)
                    headers = b""
                for byte in [headers[i : i + 1] for i in range(len(headers))] + [b"x"] * self.body_bytes:
                    if self._stop.wait(self.every_s):
                        break
                    conn.sendall(byte)
                    held.bytes_sent += 1
            except OSError:  # the client hung up: how long it was held is what the tests measure
                pass
            finally:
                held.ended = time.monotonic()

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
        for thread in self._threads:
            thread.join(5)


class ScriptedServer:
    """Records each POSTed JSON document (with when it arrived) and answers ``status`` with ``headers``."""

    def __init__(self, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.received: list[tuple[float, Any]] = []
        lock = threading.Lock()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                document = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                with lock:
                    received.append((time.monotonic(), document))
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def documents(self) -> list[Any]:
        return [document for _, document in list(self.received)]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
