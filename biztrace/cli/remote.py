"""The CLI as a client: when a running biztrace holds the embedded store, commands ask its API.

The holder publishes its API's address (``biztrace.api``) and a credential only the store's owner
can read (``biztrace.api-token``, mode 0600) in the data directory, so the user who owns the store
needs no setup. Each failure becomes one line and an exit code: 1 nothing found, 2 refused as
invalid or in conflict (400, 409, 422), 3 the holder cannot be reached or cannot serve the request
(5xx: e.g. it sends no replays), 4 refused for want of a role.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

import httpx

from biztrace.cli.util import EXIT_NOT_FOUND, EXIT_REFUSED, EXIT_STORE, EXIT_USAGE, CommandFailed
from biztrace.store import StoreBusy, parse_store

API_FILE = "biztrace.api"
"""The API address of the process that holds an embedded store."""
CREDENTIAL_FILE = "biztrace.api-token"
"""A token of that process for the store's owner (file mode 0600)."""
PUBLISH_WAIT_S = 10.0
"""How long a command waits for a holder that has the store open to publish its API (it is starting)."""


def publish(directory: Path, url: str, token: str) -> None:
    """Write the API address and the owner's credential (0600) into the data directory."""
    credential = directory / CREDENTIAL_FILE
    temporary = directory / f".{CREDENTIAL_FILE}.{secrets.token_hex(4)}"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(token + "\n")
    os.replace(temporary, credential)
    (directory / API_FILE).write_text(url + "\n")


def withdraw(directory: Path) -> None:
    """Remove what :func:`publish` wrote (at a clean stop)."""
    for name in (API_FILE, CREDENTIAL_FILE):
        (directory / name).unlink(missing_ok=True)


class Remote:
    """The holder's API, called with the owner's credential."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.token = token

    @classmethod
    def of(cls, dsn: str, busy: StoreBusy, wait_s: float = PUBLISH_WAIT_S) -> Remote:
        """The API of the process named by ``busy``; exit code 3 when it publishes none within ``wait_s``
        (a holder that is starting opens the store before its API is up)."""
        address = parse_store(dsn)
        directory = address.path
        deadline = time.monotonic() + wait_s
        while True:
            try:
                assert directory is not None
                url = (directory / API_FILE).read_text().strip()
                token = (directory / CREDENTIAL_FILE).read_text().strip()
                return cls(url, token)
            except (OSError, AssertionError) as exc:
                if directory is None or time.monotonic() >= deadline:
                    raise CommandFailed(f"{busy} (it publishes no API to ask: {exc.__class__.__name__})",
                                        EXIT_STORE) from exc  # fmt: skip
                time.sleep(0.2)

    def call(self, method: str, path: str, *, params: dict | None = None, body: Any = None) -> Any:
        """One API call; its JSON answer, or :class:`CommandFailed` with the documented exit code."""
        try:
            answer = httpx.request(
                method, f"{self.url}/api/v1{path}", params={k: v for k, v in (params or {}).items() if v is not None},
                json=body, headers={"Authorization": f"Bearer {self.token}"}, timeout=120,
            )  # fmt: skip
        except httpx.HTTPError as exc:
            raise CommandFailed(
                f"the process holding the store did not answer at {self.url}: {exc}", EXIT_STORE
            ) from exc
        if answer.status_code < 300:
            return answer.json()
        try:
            detail = answer.json().get("detail", answer.text)
        except (ValueError, AttributeError):
            detail = answer.text
        if isinstance(detail, list):  # FastAPI's validation errors
            detail = "; ".join(f"{'.'.join(map(str, d.get('loc', [])[1:]))}: {d.get('msg')}" for d in detail)
        code = {
            404: EXIT_NOT_FOUND,
            400: EXIT_USAGE,
            409: EXIT_USAGE,
            422: EXIT_USAGE,
            401: EXIT_REFUSED,
            403: EXIT_REFUSED,
        }.get(answer.status_code, EXIT_STORE)
        raise CommandFailed(str(detail), code)


def as_json(value: Any) -> str:
    return json.dumps(value, indent=2, default=str)


def remote_for(dsn: str, failure: CommandFailed) -> Remote:
    """The holder's API when ``failure`` says another process holds the store; otherwise ``failure`` itself."""
    busy = failure.__cause__
    if not isinstance(busy, StoreBusy):
        raise failure
    return Remote.of(dsn, busy)
