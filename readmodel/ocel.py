"""Export the business hops of a time window as an OCEL 2.0 object-centric event log.

Process-mining tools (pm4py, Celonis' object-centric model, OCEL viewers) read OCEL 2.0; biztrace's
key graph is its data. The log of ``[since, until)``:

- **events**: one per business hop that reached a stage (the event type), time-stamped, with the
  hop's own attributes (process, system, channel, amount, currency, quantity, status, error type);
- **objects**: one per business key carried by a hop of the window, typed order, shipment,
  invoice, return, customer or sku, with id ``<type>:<key>`` (keys of two kinds never collide);
  its attributes (status, amount, currency, quantity) are what its own hops reported, time-stamped,
  each kept when it changed;
- **event-to-object** relationships: every key the hop carries, qualified by its type;
- **object-to-object** relationships: the keys seen together on one hop, from an order to its
  customer, shipments, invoices, returns and SKUs, from a shipment to its invoices and SKUs, from a
  return to its customer and SKUs (``sql/ocel_hops.sql``), qualified by the target's type.

Two forms, chosen by the output's extension (:func:`ocel_format`): JSON (``.json``, ``.jsonocel``)
and SQLite (``.sqlite``). ClickHouse shapes every row (``sql/ocel_*.sql``, the JSON text itself for
the JSON form); this module streams them block by block into the file, so Python's memory stays
bounded by a block, not by the log. The objects are computed into a Memory table by a second client
while the events are written (ClickHouse works while Python writes). The SQLite form's keyed tables
are WITHOUT ROWID and filled in key order, in one transaction without a journal; on an embedded
store, ClickHouse itself writes the objects' relationships and attribute changes into a second SQLite
file meanwhile (its writing holds no Python lock), copied in at the end. The file appears complete or
not at all (written aside, then renamed).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from importlib import resources
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from string import Template
from typing import Literal, NamedTuple

from clickhouse_connect.driver.exceptions import ClickHouseError
from pydantic import BaseModel, Field

from biztrace.config import AlertsConfig
from biztrace.config import load as load_config
from biztrace.readmodel.errors import QueryError, ReadModelError
from biztrace.readmodel.transactions import placement_parameters, sql
from biztrace.store import Store

EVENT_ATTRIBUTES: dict[str, str] = {
    "process": "string",
    "system": "string",
    "channel": "string",
    "amount": "float",
    "currency": "string",
    "quantity": "float",
    "status": "string",
    "error_type": "string",
}
"""An event's attributes in declaration order, with their OCEL types (the columns of ocel_events.sql)."""

OBJECT_ATTRIBUTES: dict[str, str] = {"status": "string", "amount": "float", "currency": "string", "quantity": "float"}
"""An object's time-stamped attributes in declaration order, with their OCEL types."""

FORMATS: dict[str, Literal["json", "sqlite"]] = {".json": "json", ".jsonocel": "json", ".sqlite": "sqlite"}
"""Output extension -> OCEL 2.0 form."""

_SQLITE_TYPES = {"string": "TEXT", "float": "REAL", "integer": "INTEGER", "boolean": "BOOLEAN", "time": "TIMESTAMP"}
_INITIAL_TIME = "1970-01-01 00:00:00"
"""The relational form's time of an object's initial row (its values then arrive as changes)."""

_SQL = resources.files("biztrace.readmodel") / "sql"
_OBJECTS_TABLE = "SELECT * FROM {db:Identifier}.{objects:Identifier}"
"""The objects of the window, once :func:`_objects_aside` has computed them (a subquery of the queries reading them)."""

_CONTROL = "[\\x00-\\x1F\\x7F]"
"""An ASCII control character (a re2 class): ClickHouse's SQLite writer escapes some of them."""

_Statement = Callable[[], tuple[str, dict[str, object]]]
"""A statement and its parameters, asked for when it is due (its parameters may wait on a table being built)."""

Progress = Callable[[str, int], None]
"""Called with (phase, rows) after each block is written; phase is ``events`` or ``objects``."""


class UnsupportedFormat(ReadModelError):
    """The output's extension names no OCEL 2.0 form this exporter writes."""


class OcelSummary(BaseModel):
    """What one export wrote."""

    format: Literal["json", "sqlite"]
    output: str = Field(description="the file written")
    since: datetime
    until: datetime
    events: int
    objects: int
    objects_by_type: dict[str, int]
    event_object: int = Field(description="event-to-object relationships")
    object_object: int = Field(description="object-to-object relationships")
    event_types: list[str]
    seconds: float


def ocel_format(path: Path) -> Literal["json", "sqlite"]:
    """The OCEL 2.0 form that ``path``'s extension asks for.

    Raises:
        UnsupportedFormat: the extension is none of :data:`FORMATS`.
    """
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise UnsupportedFormat(
            f"{path.name}: write OCEL 2.0 to a .json or .jsonocel file (JSON form) or a .sqlite file (SQLite form)"
        ) from None


def count_events(store: Store, since: datetime, until: datetime, config: AlertsConfig | None = None) -> int:
    """How many events the log of ``[since, until)`` will hold (for a progress bar)."""
    text = _query("ocel_count.sql", hops=_hops())
    return int(store.client.command(text, parameters=_parameters(store, since, until, config)))


def export_ocel(
    store: Store, since: datetime, until: datetime, output: Path, progress: Progress | None = None,
    config: AlertsConfig | None = None,
) -> OcelSummary:  # fmt: skip
    """Write the OCEL 2.0 log of the hops in ``[since, until)`` (naive UTC) to ``output``; each event's
    ``process`` is the one its hop is placed in by ``config``'s processes (default: the default
    configuration's), as every figure counts it.

    Blocks while it reads the store and writes the file; the store's client is busy meanwhile (a
    streamed result holds it). ``progress`` is called from this thread.

    Raises:
        UnsupportedFormat: ``output``'s extension names no OCEL 2.0 form.
        QueryError: ClickHouse refused a query (nothing is left behind).
        OSError, sqlite3.Error: the file cannot be written (nothing is left behind).
    """
    form = ocel_format(output)
    started = time.perf_counter()
    parameters = _parameters(store, since, until, config)
    aside = output.with_name(f".{output.name}.{os.getpid()}.partial")
    try:
        event_types, object_types = _types(store, parameters)
        writer = _write_json if form == "json" else _write_sqlite
        counts = writer(store, parameters, event_types, object_types, aside, progress or (lambda phase, rows: None))
        os.replace(aside, output)
    except ClickHouseError as exc:
        raise QueryError(f"ClickHouse refused the export: {str(exc).strip().splitlines()[0][:300]}") from exc
    finally:
        aside.unlink(missing_ok=True)
    return OcelSummary(
        format=form, output=str(output), since=since, until=until, event_types=sorted(event_types),
        seconds=round(time.perf_counter() - started, 3), **counts,
    )  # fmt: skip


def _query(name: str, **fragments: str) -> str:
    text = (_SQL / name).read_text()
    return Template(text).substitute(fragments) if fragments else text


def _hops() -> str:
    """``sql/ocel_hops.sql`` over the stored hops (FINAL) placed in their processes (``sql/hop_process.sql``)."""
    return _query("ocel_hops.sql", placed="(" + sql("hop_process", final=True) + ")")


def _parameters(store: Store, since: datetime, until: datetime, config: AlertsConfig | None) -> dict[str, object]:
    """The window's, and what placing a hop in its process takes (the given configuration's, else the defaults)."""
    placing = placement_parameters(config if config is not None else load_config())
    return placing | {"db": store.database, "since": since, "until": until}


def _types(store: Store, parameters: dict[str, object]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(event type -> attribute names, object type -> attribute names), in declaration order."""
    rows = store.client.query(_query("ocel_types.sql", hops=_hops()), parameters=parameters).result_rows
    declared = {"event": EVENT_ATTRIBUTES, "object": OBJECT_ATTRIBUTES}
    types: dict[str, dict[str, list[str]]] = {"event": {}, "object": {}}
    for section, name, names in rows:
        types[section][name] = [a for a in declared[section] if a in names]
    return types["event"], types["object"]


def _columns(store: Store, sql: str, parameters: dict[str, object], **formats: str) -> Iterator[Sequence[Sequence]]:
    """The result of ``sql`` block by block, each block as its columns (``formats``: column -> read format,
    e.g. ``bytes`` for text written to the file as ClickHouse made it)."""
    with store.client.query_column_block_stream(sql, parameters=parameters, column_formats=formats) as stream:
        yield from stream


def _events_sql() -> str:
    return _query("ocel_events.sql", hops=_hops())


def _objects_sql() -> str:
    return _query("ocel_objects.sql", hops=_hops())


@contextmanager
def _objects_aside(store: Store, parameters: dict[str, object]) -> Iterator[Callable[[], str]]:
    """Compute the window's objects (sql/ocel_objects.sql) into a Memory table on a second client, in a
    thread, while this one writes the events (ClickHouse releases the GIL: the two overlap); yields a
    function that waits for the table and returns its name. The table is dropped after."""
    name = f"biztrace_ocel_{uuid.uuid4().hex[:12]}"
    client = store.new_client()
    failed: list[BaseException] = []

    def build() -> None:
        try:
            client.command(f"CREATE TABLE {store.table(name)} ENGINE = Memory AS {_objects_sql()}",
                           parameters=parameters)  # fmt: skip
        except BaseException as exc:  # raised in the caller's thread by ready()
            failed.append(exc)

    thread = threading.Thread(target=build, name="ocel-objects", daemon=True)
    thread.start()

    def ready() -> str:
        thread.join()
        if failed:
            raise failed[0]
        return name

    try:
        yield ready
    finally:
        thread.join()
        try:
            store.client.command(f"DROP TABLE IF EXISTS {store.table(name)}")
        finally:
            client.close()


def _write_json(store, parameters, event_types, object_types, path: Path, progress: Progress) -> dict:
    declared = {
        "objectTypes": [{"name": t, "attributes": [{"name": a, "type": OBJECT_ATTRIBUTES[a]} for a in names]}
                        for t, names in sorted(object_types.items())],
        "eventTypes": [{"name": t, "attributes": [{"name": a, "type": EVENT_ATTRIBUTES[a]} for a in names]}
                       for t, names in sorted(event_types.items())],
    }  # fmt: skip
    events = event_object = object_object = 0
    by_type: Counter[str] = Counter()
    with _objects_aside(store, parameters) as objects_table, path.open("wb") as out:
        out.write(b"{\n")
        for key, value in declared.items():
            out.write(f"{json.dumps(key)}: {json.dumps(value)},\n".encode())
        out.write(b'"events": [')
        separator = b"\n"
        events_sql = _query("ocel_events_json.sql", events=_events_sql())
        for documents, links in _columns(store, events_sql, parameters, document="bytes"):
            if not documents:
                continue
            out.write(separator)
            out.write(b",\n".join(documents))
            separator = b",\n"
            events += len(documents)
            event_object += sum(links)
            progress("events", len(documents))
        out.write(b'\n],\n"objects": [')
        separator = b"\n"
        scoped = {**parameters, "objects": objects_table()}
        objects_sql = _query("ocel_objects_json.sql", objects=_OBJECTS_TABLE)
        for types, documents, links in _columns(store, objects_sql, scoped, document="bytes"):
            if not documents:
                continue
            out.write(separator)
            out.write(b",\n".join(documents))
            separator = b",\n"
            by_type.update(types)
            object_object += sum(links)
            progress("objects", len(documents))
        out.write(b"\n]\n}\n")
    return {"events": events, "objects": sum(by_type.values()), "objects_by_type": dict(by_type),
            "event_object": event_object, "object_object": object_object}  # fmt: skip


def _table_names(types: list[str]) -> dict[str, str]:
    """Each type's table suffix: its name with other characters than letters and digits as ``_``,
    unique (SQLite compares names without case) and never one of the standard's own tables."""
    taken = {"map_type", "object"}  # event_object, event_map_type, object_object, object_map_type
    names = {}
    for kind in types:
        base = re.sub(r"[^0-9A-Za-z]+", "_", kind).strip("_") or "type"
        name, n = base, 1
        while name.lower() in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name.lower())
        names[kind] = name
    return names


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _write_sqlite(store, parameters, event_types, object_types, path: Path, progress: Progress) -> dict:
    """Create the tables, then fill each from the rows ClickHouse shapes and sorts (sql/ocel_sqlite_rows.sql),
    block by block, in one transaction with no journal (the file is renamed into place only when complete);
    the objects are computed meanwhile (:func:`_objects_aside`), then their relationships and attribute
    changes written by ClickHouse while Python writes the events and their relationships (:func:`_tables_aside`)."""
    path.unlink(missing_ok=True)
    statements = _sqlite_rows()
    event_tables = _table_names(sorted(event_types))
    object_names = _table_names(sorted(object_types))
    object_tables = {kind: f"object_{name}" for kind, name in object_names.items()}

    def create(db: sqlite3.Connection) -> dict[str, tuple[str, Callable]]:
        db.executescript(_query("ocel_sqlite.sql"))
        for kind, names in object_types.items():
            _typed_table(db, object_tables[kind], names, OBJECT_ATTRIBUTES)
        return {kind: _typed_table(db, f"event_{event_tables[kind]}", names, EVENT_ATTRIBUTES, event=True)
                for kind, names in event_types.items()}  # fmt: skip

    def objects() -> dict[str, object]:
        return {**parameters, "objects": objects_table()}

    aside = {"object_object": _Aside(lambda: (statements["object_object"], objects()), 3, "concat(id, target)")}
    for kind, names in object_types.items():
        if names:  # a type whose hops reported no attribute has no changes
            changes = _changes_sql(statements["object_changes"], names)
            aside[object_tables[kind]] = _Aside(
                lambda changes=changes, kind=kind: (changes, {**objects(), "type": kind}),
                3 + len(names), _produced(names),
            )  # fmt: skip
    with _objects_aside(store, parameters) as objects_table, _sqlite(path) as db:
        by_event_type = create(db)
        with _tables_aside(store, db, path, aside, create) as written:
            db.executemany("INSERT INTO event_map_type VALUES (?, ?)", event_tables.items())
            db.executemany("INSERT INTO object_map_type VALUES (?, ?)", object_names.items())
            events = 0
            for columns in _columns(store, statements["events"], parameters):
                _by_type(db, columns, by_event_type)
                events += len(columns[0])
                progress("events", len(columns[0]))
            for kind in event_types:
                db.execute(f"INSERT INTO event SELECT ocel_id, ? FROM {_quote(f'event_{event_tables[kind]}')}", (kind,))
            event_object = _fill(db, store, statements["event_object"], parameters, "event_object", 3)
            _fill(db, store, statements["object"], objects(), "object", 2, lambda rows: progress("objects", rows))
            for kind in object_types:  # each object's initial row: no changed field, no values (then its changes)
                db.execute(f"INSERT INTO {_quote(object_tables[kind])} (ocel_id, ocel_time) "
                           "SELECT ocel_id, ? FROM object WHERE ocel_type = ?", (_INITIAL_TIME, kind))  # fmt: skip
            expected = {"object_object": 0}
            for kind, changes, pairs in store.client.query(
                _query("ocel_sqlite_counts.sql"), parameters=objects()
            ).result_rows:
                expected[object_tables[kind]] = changes
                expected["object_object"] += pairs
            counted = written(expected)
        by_type = dict(db.execute("SELECT ocel_type, count() FROM object GROUP BY ocel_type").fetchall())
        db.commit()
    return {"events": events, "objects": sum(by_type.values()), "objects_by_type": by_type,
            "event_object": event_object, "object_object": counted["object_object"]}  # fmt: skip


def _changes_sql(changes: str, names: list[str]) -> str:
    """The attribute changes of one object type (parameter ``type``) as the rows of its table: id, time,
    changed field, then one column per attribute in ``names``, holding the value when it is the field."""
    values = "".join(
        f", if(field = '{a}', {'number' if OBJECT_ATTRIBUTES[a] == 'float' else 'text'}, NULL) AS {a}" for a in names
    )
    return f"SELECT id, time, field{values} FROM ({changes})"


def _produced(names: list[str]) -> str:
    """The text producers wrote in a change row of an object type with ``names``: its id and text values."""
    return "concat(id" + "".join(f", ifNull({a}, '')" for a in names if OBJECT_ATTRIBUTES[a] == "string") + ")"


class _Aside(NamedTuple):
    """A table :func:`_tables_aside` writes: its rows' statement and parameters (asked for when due: they may
    wait on a table being built), how many columns its rows have, and the text of a row that producers
    wrote (a ClickHouse expression: an event id is the span's ids in hex, a qualifier or a changed field
    one of biztrace's own words)."""

    statement: _Statement
    width: int
    produced: str


@contextmanager
def _tables_aside(
    store: Store, db: sqlite3.Connection, path: Path, tables: dict[str, _Aside],
    create: Callable[[sqlite3.Connection], object],
) -> Iterator[Callable[[dict[str, int]], dict[str, int]]]:  # fmt: skip
    """The tables that wait on the window's objects (their relationships and attribute changes: 2.5M of the
    6.6M rows of a day of 100k orders) written while Python writes the others (the events and theirs).

    On an embedded store ClickHouse writes them, one after the other in a thread, into a SQLite file of
    their own beside the log (made by ``create``, as the log; ClickHouse's ``sqlite`` table function: its
    writing holds no Python lock, where binding rows in Python does); yields a function that waits for
    it, copies each table's rows into the log inside SQLite (a fraction of binding them) and returns how
    many each holds. ClickHouse writes SQL text in which a tab, a newline and four other control
    characters would arrive as backslash escapes: it leaves out every row whose produced text has a
    control character, and when a table holds fewer rows than the function is told to expect, those rows
    are read again and written from Python (with keys and values as producers send them, there are
    none). A server cannot write to this machine's disk: there the function writes every row from
    Python, as the other tables."""
    if not store.address.embedded:
        yield lambda expected: {
            name: _fill(db, store, *t.statement(), _quote(name), t.width) for name, t in tables.items()
        }
        return
    aside = path.with_name(f"{path.name}.aside")
    with _sqlite(aside) as created:
        create(created)
    db.execute("ATTACH DATABASE ? AS aside", (str(aside),))  # before the log's transaction begins
    client = store.new_client()
    failed: list[BaseException] = []

    def write() -> None:
        try:
            for table, t in tables.items():
                sql, parameters = t.statement()
                client.command(f"INSERT INTO FUNCTION sqlite({{aside:String}}, {{table:String}}) "
                               f"SELECT * FROM ({sql}) WHERE NOT match({t.produced}, {{control:String}})",
                               parameters={**parameters, "aside": str(aside), "table": table,
                                           "control": _CONTROL})  # fmt: skip
        except BaseException as exc:  # raised in the caller's thread by copy()
            failed.append(exc)

    thread = threading.Thread(target=write, name="ocel-aside", daemon=True)
    thread.start()

    def copy(expected: dict[str, int]) -> dict[str, int]:
        thread.join()
        if failed:
            raise failed[0]
        counts = {}
        for table, t in tables.items():
            counts[table] = db.execute(f"INSERT INTO {_quote(table)} SELECT * FROM aside.{_quote(table)}").rowcount
            if counts[table] < expected.get(table, 0):  # rows with a control character were left to Python
                sql, parameters = t.statement()
                held = f"SELECT * FROM ({sql}) WHERE match({t.produced}, {{control:String}})"
                counts[table] += _fill(db, store, held, {**parameters, "control": _CONTROL}, _quote(table), t.width)
        return counts

    try:
        yield copy
    finally:
        thread.join()
        client.close()
        for leftover in (aside, aside.with_name(f"{aside.name}-journal")):
            leftover.unlink(missing_ok=True)


@contextmanager
def _sqlite(path: Path) -> Iterator[sqlite3.Connection]:
    """A new SQLite file set for one bulk load: large pages, no journal, no sync, a large cache."""
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA page_size = 65536")  # fewer, fuller pages: less b-tree work per row
        db.execute("PRAGMA journal_mode = OFF")
        db.execute("PRAGMA synchronous = OFF")
        db.execute("PRAGMA cache_size = -262144")  # KiB
        yield db
    finally:
        db.close()


_TYPE = itemgetter(1)


def _sqlite_rows() -> dict[str, str]:
    """The statements of sql/ocel_sqlite_rows.sql by the table they fill."""
    text = _query("ocel_sqlite_rows.sql", hops=_hops(), events=_events_sql())
    parts = re.split(r"^-- table: (\w+)$", text, flags=re.MULTILINE)
    return {name: sql.strip() for name, sql in zip(parts[1::2], parts[2::2], strict=True)}


def _fill(db, store, sql, parameters, table, width, progress: Callable[[int], None] | None = None) -> int:
    """Insert ``sql``'s rows into ``table`` block by block; returns how many."""
    insert = f"INSERT INTO {table} VALUES ({', '.join('?' * width)})"
    rows = 0
    for columns in _columns(store, sql, parameters):
        db.executemany(insert, zip(*columns, strict=True))
        rows += len(columns[0])
        if progress is not None:
            progress(len(columns[0]))
    return rows


def _by_type(db, columns: Sequence[Sequence[object]], tables: dict[str, tuple[str, Callable]]) -> None:
    """Insert each run of rows of one type (column 1) into that type's table, with the columns it has."""
    for kind, run in groupby(zip(*columns, strict=True), _TYPE):
        insert, values = tables[kind]
        db.executemany(insert, map(values, run))


def _typed_table(db, table, names, declared, event: bool = False) -> tuple[str, Callable] | None:
    """Create the per-type table with ``names`` as attribute columns. An event table's rows are inserted
    whole: returns its insert statement and the getter of its values from a row (id, type, time, the
    declared attributes); an object table is filled from :func:`_changes_sql`'s rows."""
    columns = "".join(f", {_quote(a)} {_SQLITE_TYPES[declared[a]]}" for a in names)
    if not event:
        db.execute(f"CREATE TABLE {_quote(table)} (ocel_id TEXT REFERENCES object (ocel_id), ocel_time TIMESTAMP, "
                   f"ocel_changed_field TEXT{columns})")  # fmt: skip
        return None
    positions = [3 + list(declared).index(a) for a in names]
    db.execute(f"CREATE TABLE {_quote(table)} (ocel_id TEXT PRIMARY KEY REFERENCES event (ocel_id), "
               f"ocel_time TIMESTAMP{columns}) WITHOUT ROWID")  # fmt: skip
    return f"INSERT INTO {_quote(table)} VALUES ({', '.join('?' * (2 + len(names)))})", itemgetter(0, 2, *positions)
