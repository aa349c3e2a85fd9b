"""Serve the API from this process on a thread of its own (uvicorn), beside the collector and dashboard."""

from __future__ import annotations

import threading
import time

import uvicorn
from fastapi import FastAPI

KEEP_ALIVE_S = 75
"""How long an idle HTTP connection stays open (nginx's default): longer than clients keep theirs idle."""


class ApiServer:
    """Runs ``app`` on ``host:port`` until :meth:`stop`; ``port`` 0 takes a free one (see :attr:`port`)."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 8502) -> None:
        # an idle connection is kept longer than clients keep theirs (httpx 5 s, browsers 60 s or more): the
        # client then closes it first, instead of reusing one the server is closing (a connection reset)
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_keep_alive=KEEP_ALIVE_S,
                                timeout_graceful_shutdown=5, lifespan="off")  # fmt: skip
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="biztrace-api", daemon=True)
        self.host = host
        self.port = port

    def start(self, timeout_s: float = 10.0) -> ApiServer:
        """Start serving; returns once the socket listens. Raises OSError when it cannot bind."""
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise OSError(f"the API could not listen on {self.host}:{self.port} (is the port in use?)")
            time.sleep(0.02)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        """Stop accepting, finish what is running (5 s at most), and return."""
        self._server.should_exit = True
        self._thread.join(timeout=10)
