"""Send OTLP/HTTP request bodies to a collector, several in flight, retrying as SDKs do."""

from __future__ import annotations

import http.client
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from urllib.parse import urlparse


class SendError(Exception):
    """The collector refused a request for good (not a retryable answer)."""


class OtlpHttpSender:
    """POSTs protobuf bodies to ``<endpoint>/v1/traces`` from ``concurrency`` threads.

    Retries 429, 502, 503, 504 and lost connections with backoff, honouring Retry-After,
    for up to ``retry_for_s``. Thread-safe; ``close`` waits for what is in flight.
    """

    def __init__(self, endpoint: str, *, token: str | None = None, concurrency: int = 4, retry_for_s: float = 120.0):
        url = urlparse(endpoint if "://" in endpoint else f"http://{endpoint}")
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"endpoint {endpoint!r} is not http(s)://host:port")
        self._secure = url.scheme == "https"
        self._host = url.hostname
        self._port = url.port or (443 if self._secure else 4318)
        path = url.path.rstrip("/")
        self._path = path if path.endswith("/v1/traces") else f"{path}/v1/traces"
        self._headers = {"Content-Type": "application/x-protobuf"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._retry_for_s = retry_for_s
        self._local = threading.local()
        self._connections: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="biztrace-sim-send")
        self._slots = threading.BoundedSemaphore(concurrency * 2)

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            kind = http.client.HTTPSConnection if self._secure else http.client.HTTPConnection
            connection = kind(self._host, self._port, timeout=60)
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def _post(self, body: bytes) -> None:
        deadline = time.monotonic() + self._retry_for_s
        delay = 0.5
        while True:
            try:
                connection = self._connection()
                connection.request("POST", self._path, body=body, headers=self._headers)
                response = connection.getresponse()
                text = response.read()
                if response.status == 200:
                    return
                if response.status not in (429, 502, 503, 504):
                    raise SendError(f"collector answered {response.status}: {text[:300]!r}")
                wait = float(response.getheader("Retry-After") or delay)
            except (OSError, http.client.HTTPException):
                connection = getattr(self._local, "connection", None)
                if connection is not None:
                    connection.close()
                self._local.connection = None
                wait = delay
            if time.monotonic() + wait > deadline:
                raise SendError(
                    f"collector at {self._host}:{self._port} did not accept a request for {self._retry_for_s:.0f}s"
                )
            time.sleep(wait)
            delay = min(delay * 2, 10.0)

    def submit(self, body: bytes) -> Future[None]:
        """Queue one body; blocks while too many are in flight (bounded memory)."""
        self._slots.acquire()
        future = self._pool.submit(self._post, body)
        future.add_done_callback(lambda _: self._slots.release())
        return future

    def close(self) -> None:
        """Wait for what is in flight, then close the connections."""
        self._pool.shutdown(wait=True)
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
