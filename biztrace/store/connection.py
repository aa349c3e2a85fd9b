"""The store: one DSN names where spans live, and every command connects through here.

``chdb:///path/to/dir`` (or ``chdb:relative/dir``) is the embedded ClickHouse engine in
this process; ``http(s)://user:pass@host:8123/db`` is a ClickHouse server. Both are reached
through clickhouse-connect's one client API.

chDB allows one engine per process and one process per data directory. The holder of an
embedded directory takes an exclusive ``flock`` on ``<dir>/biztrace.lock`` before it opens the
engine, and the kernel releases it when the holder exits, however it dies. A second process
that opens a directory in use gets :class:`StoreBusy` at once, naming the holder (its pid is
written in the lock file), instead of a traceback; two processes starting at the same instant
are told apart by the kernel, not by a pid check. ``<dir>/biztrace.pid`` names the last holder
until it closes the store cleanly: found at start-up, it means that holder died.
"""

from __future__ import annotations

import contextlib
import contextvars
import fcntl
import os
import queue
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qs, urlparse

from clickhouse_connect.driver.binding import quote_identifier
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

T = TypeVar("T")

SIDE_BY_SIDE = max(2, os.cpu_count() or 2)
"""The most lanes :meth:`Store.side_by_side` runs calls on at once (each lane one client)."""

LENT_AT_ONCE = 8
"""The most views :meth:`Store.borrowed` lends at once, each with a client of its own."""

DEFAULT_STORE = "chdb:data"
"""The embedded store in ``./data``, used when no ``--store`` is given."""

PID_FILE = "biztrace.pid"
"""Names the process holding the directory; left behind when that process dies without closing."""
UNREPAIRED_FILE = "biztrace.unrepaired"
"""Present from the start that found a dead holder's pid file until a repair clears it
(:meth:`Store.mark_repaired`), so that a reader opening the store in between hides nothing."""
LOCK_FILE = "biztrace.lock"
"""Locked (``flock``, exclusive) by the one process that holds the embedded directory."""
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

    def __init__(
        self, address: StoreAddress, client: Client, previous_holder_died: bool = False, *, holds: bool = False
    ) -> None:
        self.address = address
        self.client = client
        self.database = address.database
        self.previous_holder_died = previous_holder_died
        """True when the last process that held this embedded directory died without closing it."""
        self._holds = holds  # this store took the embedded directory (connect()); a view of it did not
        self._closed = False
        self._idle: queue.LifoQueue[Client] = queue.LifoQueue()  # clients lent by borrowed() and given back
        self._lending = threading.BoundedSemaphore(LENT_AT_ONCE)

    @contextmanager
    def borrowed(self, wait: bool = True) -> Iterator[Store]:
        """A view of this store with a client of its own while the block runs (one lent before and given
        back, else a new one, ~10 ms), for a caller whose statements must not wait behind another's on
        this store's one client: a dashboard session's script run, an API request. At most
        :data:`LENT_AT_ONCE` at once: another caller waits for one to be given back (``wait=False``: it
        gets this store itself, as it does when no other client can be opened)."""
        if not self._lending.acquire(blocking=wait):
            yield self
            return
        try:
            try:
                client = self._idle.get_nowait()
            except queue.Empty:
                try:
                    client = self.new_client()
                except Exception:  # noqa: BLE001 - no client of its own now: the caller shares this one
                    client = None
            if client is None:
                yield self
                return
            try:
                yield Store(self.address, client)
            finally:
                self._idle.put(client)
        finally:
            self._lending.release()

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
        name = self.create_memory_table(query, parameters, prefix)
        try:
            yield name
        finally:
            self.client.command(f"DROP TABLE IF EXISTS {self.table(name)}")

    @contextlib.contextmanager
    def memory_tables(self, statements: list[tuple[str, dict, str]]) -> Iterator[list[str]]:
        """:meth:`create_memory_tables`, dropped after the block; yields their names."""
        names = self.create_memory_tables(statements)
        try:
            yield names
        finally:
            for name in names:
                self.client.command(f"DROP TABLE IF EXISTS {self.table(name)}")

    @contextlib.contextmanager
    def columns_table(self, columns: dict[str, str], data: list[list], prefix: str = "biztrace_tmp") -> Iterator[str]:
        """A Memory table of ``columns`` (name -> ClickHouse type) holding ``data`` (one list per column)
        while the block runs (dropped after); yields its name. For many values a query reads as a set or a
        join: inserted in ClickHouse's native format, where array parameters would be bound into the
        query's text (25,000 keys: ~0.4 s of quoting and parsing)."""
        name = self.create_columns_table(columns, prefix)
        try:
            if data and data[0]:
                self.client.insert(name, data, column_names=list(columns), database=self.database,
                                   column_oriented=True)  # fmt: skip
            yield name
        finally:
            self.client.command(f"DROP TABLE IF EXISTS {self.table(name)}")

    def create_columns_table(self, columns: dict[str, str], prefix: str = "biztrace_tmp") -> str:
        """An empty Memory table of ``columns`` (name -> ClickHouse type), kept until the caller drops it;
        returns its name."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        definition = ", ".join(f"`{column}` {kind}" for column, kind in columns.items())
        self.client.command(f"CREATE TABLE {self.table(name)} ({definition}) ENGINE = Memory")
        return name

    def create_memory_table(self, query: str, parameters: dict | None = None, prefix: str = "biztrace_tmp") -> str:
        """A Memory table holding ``query``'s rows, kept until the caller drops it; returns its name."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        self.client.command(f"CREATE TABLE {self.table(name)} ENGINE = Memory AS {query}", parameters=parameters or {})
        return name

    def create_memory_tables(self, statements: list[tuple[str, dict, str]]) -> list[str]:
        """Memory tables of several independent statements (each ``(query, parameters, prefix)``), built
        side by side (:meth:`side_by_side`) and kept until the caller drops them; returns their names in the
        statements' order. When one fails, the others' tables are dropped."""
        names: list[str | None] = [None] * len(statements)

        def make(index: int) -> Callable[[Store], None]:
            def build(store: Store) -> None:
                query, parameters, prefix = statements[index]
                names[index] = store.create_memory_table(query, parameters, prefix)

            return build

        try:
            self.side_by_side([make(index) for index in range(len(statements))])
        except BaseException:
            for name in names:
                if name is not None:
                    self.client.command(f"DROP TABLE IF EXISTS {self.table(name)}")
            raise
        return [name for name in names if name is not None]

    def side_by_side(self, calls: Sequence[Callable[[Store], T]]) -> list[T]:
        """Each call's result, the calls run side by side: one client serializes its calls, and a statement
        is planned on one core (~0.1 s for one that reads every hop placed in its process). At most
        :data:`SIDE_BY_SIDE` lanes, each taking the next call when it is free: the first lane on this store,
        each other on a view of it with a client of its own (opened once per lane, ~10 ms). Each lane runs in a
        copy of the caller's context (its context variables). Every call ends before this returns; then the
        first failure, in the calls' order, is raised."""
        if len(calls) < 2:
            return [call(self) for call in calls]
        results: list = [None] * len(calls)
        failures: list[BaseException | None] = [None] * len(calls)
        waiting = iter(range(len(calls)))
        lock = threading.Lock()

        def lane(store: Store) -> None:
            while True:
                with lock:
                    index = next(waiting, None)
                if index is None:
                    return
                try:
                    results[index] = calls[index](store)
                except BaseException as exc:  # noqa: BLE001 - raised below, once every call has ended
                    failures[index] = exc

        views: list[Store] = []
        try:
            for _ in range(min(len(calls), SIDE_BY_SIDE) - 1):  # opened here: closed below if a later one fails
                views.append(self.view())
            with ThreadPoolExecutor(len(views) + 1, thread_name_prefix="biztrace-side") as pool:
                lanes = [pool.submit(contextvars.copy_context().run, lane, store) for store in (self, *views)]
            for done in lanes:
                done.result()
        finally:
            for view in views:
                view.close()
        for failure in failures:
            if failure is not None:
                raise failure
        return results

    @property
    def crash_detected_at(self) -> float | None:
        """When a dead holder was first noticed (Unix time), while its leftovers are unrepaired."""
        if not (self.address.embedded and self.address.path is not None):
            return None
        try:
            return (self.address.path / UNREPAIRED_FILE).stat().st_mtime
        except OSError:
            return None

    def mark_repaired(self) -> None:
        """Record that what a dead holder left half-derived has been repaired."""
        self.previous_holder_died = False
        if self.address.embedded and self.address.path is not None:
            (self.address.path / UNREPAIRED_FILE).unlink(missing_ok=True)

    def view(self) -> Store:
        """A view of this store with a client of its own (~10 ms), for a part of the process that runs its
        statements on a thread of its own (the alert loop, the dashboard, the API, a collector writer).
        Closing it closes its clients; the directory stays with the store that took it."""
        return Store(self.address, self.new_client())

    def close(self) -> None:
        """Close the client (and the clients :meth:`borrowed` lent); the store :func:`connect` opened also
        releases the embedded directory (once the process's last such store on it closes). Idempotent."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self.client.close()
        while not self._idle.empty():
            with contextlib.suppress(Exception):
                self._idle.get_nowait().close()
        if self._holds and self.address.embedded and self.address.path is not None:
            _release(self.address.path)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_ROUTE: contextvars.ContextVar[Store | None] = contextvars.ContextVar("biztrace_store_route", default=None)


class RoutedStore(Store):
    """A store whose statements go through the client of the view the current context borrowed
    (:meth:`route`), else through its base's: code written against one store (the API's handlers) gets
    a client of its own per request without passing it around. Closing it closes nothing (the base's
    owner closes the base)."""

    def __init__(self, base: Store) -> None:
        super().__init__(base.address, base.client, base.previous_holder_died)
        self.base = base

    @property  # type: ignore[override]
    def client(self) -> Client:
        view = _ROUTE.get()
        return view.client if view is not None else self.base.client

    @client.setter
    def client(self, value: Client) -> None:  # Store.__init__ sets the base's: read through the base instead
        pass

    @contextmanager
    def route(self) -> Iterator[None]:
        """While the block runs, this context's statements use a view borrowed from the base
        (:meth:`Store.borrowed`, without waiting: when every client is lent, the base's own)."""
        with self.base.borrowed(wait=False) as view:
            token = _ROUTE.set(view)
            try:
                yield
            finally:
                _ROUTE.reset(token)

    def side_by_side(self, calls: Sequence[Callable[[Store], T]]) -> list[T]:
        """As :meth:`Store.side_by_side`, its first lane on this context's client (lanes run in threads of
        their own, outside this context)."""
        return Store(self.address, self.client).side_by_side(calls)

    def close(self) -> None:
        pass


def connect(dsn: str, *, create_database: bool = True) -> Store:
    """Open the store named by ``dsn``.

    Raises:
        StoreBusy: the embedded directory belongs to another process.
        StoreError: the DSN is malformed or the server cannot be reached.
    """
    address = parse_store(dsn)
    import clickhouse_connect

    died = first = False
    if address.embedded:
        assert address.path is not None
        died, first = _acquire(address.path)
    try:
        if address.embedded:
            assert address.path is not None
            client = clickhouse_connect.get_client(interface="chdb", path=str(address.path))
        else:
            client = clickhouse_connect.get_client(dsn=address.dsn, database="default")
    except Exception as exc:  # chdb and the HTTP driver raise several unrelated types
        if address.embedded and address.path is not None:
            _release(address.path)
        raise _translate(address, exc) from exc
    if address.embedded and address.path is not None:
        (address.path / PID_FILE).write_text(f"{os.getpid()}\n")  # until close(): proof of a death if left
    store = Store(address, client, died, holds=True)
    try:
        if first:
            _drop_scratch(client)
        if create_database:
            client.command(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(address.database)}")
    except ClickHouseError as exc:
        store.close()
        raise StoreError(f"cannot create database {address.database!r} in {address.display}: {exc}") from exc
    return store


_held: dict[Path, list[int]] = {}
"""Embedded directories this process holds: path -> [lock file descriptor, stores open on it]."""
_held_lock = threading.Lock()


def _drop_scratch(client) -> None:
    """Drop the Memory tables (``biztrace_*``: a pass's snapshot and pairs, a reader's scratch) that the
    directory's previous holder left: a process that ended without dropping them (killed, or a script that
    never closed its loop) leaves their definitions behind, empty. Called by the first store a process opens
    on the directory: no other process can hold it, so none of them is in use."""
    rows = client.query(
        "SELECT database, name FROM system.tables WHERE engine = 'Memory' AND startsWith(name, 'biztrace_') "
        "AND database NOT IN ('system', 'information_schema', 'INFORMATION_SCHEMA')"
    ).result_rows
    for database, name in rows:
        client.command(f"DROP TABLE IF EXISTS {quote_identifier(database)}.{quote_identifier(name)}")


def _acquire(path: Path) -> tuple[bool, bool]:
    """Hold ``path`` for this process (re-entrant); returns whether its last holder died holding it, and
    whether this process did not hold it already.

    Raises:
        StoreBusy: another process holds it.
        StoreError: the directory cannot be created or locked.
    """
    with _held_lock:
        if path in _held:
            _held[path][1] += 1
            return False, False
        try:
            path.mkdir(parents=True, exist_ok=True)
            fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot open the embedded store {path}: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _lock_holder(fd) or _read_pid(fd)
            os.close(fd)
            raise _busy(path, holder) from exc
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        died = False
        with contextlib.suppress(OSError, ValueError):
            died = int((path / PID_FILE).read_text().strip()) != os.getpid()
        if died:
            (path / UNREPAIRED_FILE).touch()
        _held[path] = [fd, 1]
        return died or (path / UNREPAIRED_FILE).exists(), True


def _release(path: Path) -> None:
    """Drop one of this process's stores on ``path``; the last one removes the pid file and unlocks."""
    with _held_lock:
        entry = _held.get(path)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] > 0:
            return
        del _held[path]
        pid_file = path / PID_FILE
        with contextlib.suppress(OSError):
            if pid_file.read_text().strip() == str(os.getpid()):
                pid_file.unlink()
        os.close(entry[0])  # closing the descriptor releases the flock


def _lock_holder(fd: int) -> int | None:
    """The pid holding a flock on this file, as the kernel lists it (Linux ``/proc/locks``).

    Authoritative even in the instant after the holder locked and before it wrote its pid.
    """
    try:
        inode = os.fstat(fd).st_ino
        table = Path("/proc/locks").read_text()
    except OSError:
        return None
    for line in table.splitlines():
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF" (a blocked waiter's line has "->")
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5].rsplit(":", 1)[-1] == str(inode):
            with contextlib.suppress(ValueError):
                return int(fields[4]) or None
    return None


def _read_pid(fd: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(os.pread(fd, 32, 0).decode().strip())
    return None


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
    return StoreError(f"cannot reach ClickHouse at {address.display}: {_reason(exc)}")


def _reason(exc: BaseException) -> str:
    """Why a server could not be reached, in a few words: the operating system's reason at the root of the
    driver's chain of errors ("Connection refused", "Name or service not known"), else its first line."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror
        seen = seen.__cause__ or seen.__context__
    text = str(exc).strip()
    line = text.splitlines()[0] if text else repr(exc)
    return line if len(line) <= 300 else line[:297] + "..."
