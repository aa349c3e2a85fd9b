"""The store: one DSN names where spans live, and every command connects through here.

``chdb:///path/to/dir`` (or ``chdb:relative/dir``) is the embedded ClickHouse engine in
this process; ``http(s)://user:pass@host:8123/db`` is a ClickHouse server. Both are reached
through clickhouse-connect's one client API.

chDB allows one engine per process and one process per data directory. A second process
that opens a directory in use gets :class:`StoreBusy`, naming the process that holds it,
instead of a traceback; the holder records its pid in ``<dir>/biztrace.pid``.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from clickhouse_connect.driver.binding import quote_identifier
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

DEFAULT_STORE = "chdb:data"
"""The embedded store in ``./data``, used when no ``--store`` is given."""

PID_FILE = "biztrace.pid"
ENDPOINT_FILE = "biztrace.endpoint"
"""Where the process holding an embedded store publishes the HTTP address that answers lookups."""


class StoreError(Exception):
    """The store cannot be reached or used; the message says why and what to do."""


class StoreBusy(StoreError):
    """Another process holds the embedded data directory.

    ``endpoint`` is the holder's lookup API (``http://host:port``) when it publishes one.
    """

    def __init__(self, message: str, endpoint: str | None = None) -> None:
        super().__init__(message)
        self.endpoint = endpoint


@dataclass(frozen=True)
class StoreAddress:
    """A parsed store DSN."""

    dsn: str
    embedded: bool
    path: Path | None
    database: str

    @property
    def display(self) -> str:
        """The DSN without its password, for logs and messages."""
        if self.embedded:
            return f"chdb://{self.path}"
        parsed = urlparse(self.dsn)
        netloc = parsed.hostname or ""
        if parsed.port:
            netloc += f":{parsed.port}"
        if parsed.username:
            netloc = f"{parsed.username}@{netloc}"
        return f"{parsed.scheme}://{netloc}/{self.database}"


def parse_store(dsn: str) -> StoreAddress:
    """Parse ``chdb:...`` or ``http(s)://...``; raises :class:`StoreError` on anything else."""
    parsed = urlparse(dsn)
    query = {key: values[-1] for key, values in parse_qs(parsed.query).items()}
    if parsed.scheme == "chdb":
        raw = dsn[len("chdb:") :].split("?", 1)[0]
        if raw.startswith("//"):
            raw = raw[2:]
        if not raw:
            raise StoreError(f"store {dsn!r} names no directory: use chdb:///absolute/dir or chdb:relative/dir")
        return StoreAddress(dsn, True, Path(raw).expanduser().resolve(), query.get("database", "default"))
    if parsed.scheme in ("http", "https"):
        if not parsed.hostname:
            raise StoreError(f"store {dsn!r} names no host: use http(s)://user:pass@host:8123/db")
        database = parsed.path.strip("/") or query.get("database", "default")
        return StoreAddress(dsn, False, None, database)
    raise StoreError(
        f"store {dsn!r} is neither chdb:///dir (embedded) nor http(s)://host:8123/db (a ClickHouse server)"
    )


class Store:
    """A connected store: the client, the database, and the identifiers of its tables.

    One instance per process and store is enough; the client serializes its calls, so
    threads may share it.
    """

    def __init__(self, address: StoreAddress, client: Client) -> None:
        self.address = address
        self.client = client
        self.database = address.database

    def new_client(self) -> Client:
        """Another client on the same store, for a thread that must not wait on this one."""
        import clickhouse_connect

        if self.address.embedded:
            return clickhouse_connect.get_client(interface="chdb", path=str(self.address.path))
        return clickhouse_connect.get_client(dsn=self.address.dsn, database="default")

    def table(self, name: str) -> str:
        """``db.table`` quoted for SQL text."""
        return f"{quote_identifier(self.database)}.{quote_identifier(name)}"

    @contextlib.contextmanager
    def memory_table(self, query: str, parameters: dict | None = None, prefix: str = "biztrace_tmp") -> Iterator[str]:
        """A Memory table holding ``query``'s rows while the block runs (dropped after); yields its name.

        For a result that several queries read in a row (one alert pass, one dashboard refresh):
        computed once in ClickHouse, never brought into Python. Quote it with :meth:`table`.
        """
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        self.client.command(f"CREATE TABLE {self.table(name)} ENGINE = Memory AS {query}", parameters=parameters or {})
        try:
            yield name
        finally:
            self.client.command(f"DROP TABLE IF EXISTS {self.table(name)}")

    def close(self) -> None:
        """Close the client and release the embedded directory."""
        with contextlib.suppress(Exception):
            self.client.close()
        if self.address.embedded and self.address.path is not None:
            pid_file = self.address.path / PID_FILE
            with contextlib.suppress(OSError):
                if pid_file.read_text().strip() == str(os.getpid()):
                    pid_file.unlink()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(dsn: str, *, create_database: bool = True) -> Store:
    """Open the store named by ``dsn``.

    Raises:
        StoreBusy: the embedded directory belongs to another process.
        StoreError: the DSN is malformed or the server cannot be reached.
    """
    address = parse_store(dsn)
    import clickhouse_connect

    if address.embedded:
        assert address.path is not None
        holder = _holder(address.path)
        if holder is not None:
            raise _busy(address.path, holder)
    try:
        if address.embedded:
            assert address.path is not None
            address.path.mkdir(parents=True, exist_ok=True)
            client = clickhouse_connect.get_client(interface="chdb", path=str(address.path))
        else:
            client = clickhouse_connect.get_client(dsn=address.dsn, database="default")
    except Exception as exc:  # chdb and the HTTP driver raise several unrelated types
        raise _translate(address, exc) from exc
    store = Store(address, client)
    try:
        if create_database:
            client.command(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(address.database)}")
    except ClickHouseError as exc:
        store.close()
        raise StoreError(f"cannot create database {address.database!r} in {address.display}: {exc}") from exc
    if address.embedded and address.path is not None:
        (address.path / PID_FILE).write_text(f"{os.getpid()}\n")
    return store


def _holder(path: Path) -> int | None:
    """The pid of another live process that holds this embedded directory, if any."""
    try:
        pid = int((path / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    if pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def _busy(path: Path | None, holder: int | None) -> StoreBusy:
    who = f"process {holder}" if holder else "another process"
    endpoint = None
    if path is not None:
        with contextlib.suppress(OSError):
            endpoint = (path / ENDPOINT_FILE).read_text().strip() or None
    return StoreBusy(
        f"the embedded store {path} is in use by {who}: chDB allows one process per data directory. "
        "Ask that process (a running collector answers lookups over HTTP), stop it first, or run a "
        "ClickHouse server and use an http:// store.",
        endpoint,
    )


def publish_endpoint(store: Store, url: str) -> Path:
    """Tell other processes where this one answers lookups on its embedded store."""
    assert store.address.path is not None
    path = store.address.path / ENDPOINT_FILE
    path.write_text(url + "\n")
    return path


def _translate(address: StoreAddress, exc: Exception) -> StoreError:
    text = str(exc)
    if address.embedded:
        if "lock" in text.lower() or "another server" in text.lower():
            return _busy(address.path, None)
        return StoreError(f"cannot open the embedded store {address.path}: {text.splitlines()[0] if text else exc!r}")
    return StoreError(f"cannot reach ClickHouse at {address.display}: {text.splitlines()[0] if text else exc!r}")
