"""Versioned, idempotent schema management for the store, and the names of its tables.

Migrations are the numbered files in ``biztrace/store/sql``; each is a template rendered with
the deployment's options (database, ``ON CLUSTER``, replicated engines, retention) and
applied once. Applied versions are recorded in ``biztrace_schema_migrations``; running
:func:`apply` again is a no-op, and a store at an older version is upgraded in place.
Every statement is ``CREATE ... IF NOT EXISTS`` (or an idempotent ``ALTER``), so a
migration interrupted half-way is safe to run again.

Column codecs are declared in the ``CREATE`` statements and reconciled on every :func:`apply`
(:func:`apply_codecs`), as the retention is: a store created with older codecs gets the ones
the files declare today (new parts are written with them, old parts take them when they merge),
and the migrations stay plain ``CREATE`` statements that the cluster DDL prints as is.

Readers (alerts, dashboard) import the table-name constants from here.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from string import Template

from clickhouse_connect.driver.binding import quote_identifier
from pydantic import BaseModel, Field, model_validator

from biztrace.store import Store

TRACES = "otel_traces"
TRACE_ID_TS = "otel_traces_trace_id_ts"
INGEST = "otlp_ingest"
HOPS = "biz_hops"
KEYS = "biz_keys"
LINKS = "biz_links"
LEDGER = "biztrace_ingest_ledger"
MIGRATIONS = "biztrace_schema_migrations"
EXCEPTION_EVENTS = "biztrace_exception_events"
ALERT_EVENTS = "biztrace_alert_events"
NOTIFICATIONS = "biztrace_notifications"
SILENCES = "biztrace_silences"
API_TOKENS = "biztrace_api_tokens"
REPLAYS = "biztrace_replays"
POSTPONEMENTS = "biztrace_exception_postponements"

EXPORTER_INSERT_COLUMNS = (
    "Timestamp", "TraceId", "SpanId", "ParentSpanId", "TraceState", "SpanName", "SpanKind", "ServiceName",
    "ResourceAttributes", "ScopeName", "ScopeVersion", "SpanAttributes", "Duration", "StatusCode", "StatusMessage",
    "Events.Timestamp", "Events.Name", "Events.Attributes", "Links.TraceId", "Links.SpanId", "Links.TraceState",
    "Links.Attributes",
)  # fmt: skip
"""The contrib exporter's INSERT column list, in its order: the compatibility contract."""

_SQL = resources.files("biztrace.store") / "sql"
_NAME = re.compile(r"^(\d{3})_(\w+)\.sql$")


class SchemaOptions(BaseModel):
    """How the schema is laid out on this deployment."""

    cluster: str | None = Field(None, description="cluster name: adds ON CLUSTER to every statement")
    replicated: bool = Field(False, description="use Replicated*MergeTree engines (needs Keeper)")
    ttl_days: int = Field(0, ge=0, description="retention of spans and hops in days; 0 keeps them forever")
    dedup_window: int = Field(1000, ge=1, description="recent insert blocks remembered for deduplication")
    distributed: bool = Field(
        False,
        description="shard spans over the cluster: replicated *_local tables on every shard, Distributed "
        "tables under the names readers use (needs cluster; implies replicated)",
    )

    @model_validator(mode="after")
    def _distributed_needs_a_cluster(self) -> SchemaOptions:
        if self.distributed and not self.cluster:
            raise ValueError("distributed tables need a cluster name (--cluster)")
        if self.distributed:
            self.replicated = True
        return self


@dataclass(frozen=True)
class Migration:
    """One numbered schema step."""

    version: int
    name: str
    template: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.template.encode()).hexdigest()[:16]


RECODED = {
    1: {"55e72477222c22d7"},
    2: {"dacc8321e8705f77"},
    4: {"e86a748a6d06d381"},
    5: {"009eebadd9b0a30c"},
    8: {"aaa68373d236e185"},
}
"""Earlier checksums of migrations whose files changed only in their codecs and comments (2026-12-06,
issue 18): a store that applied them gets the new codecs from :func:`apply_codecs`, so it is up to date."""


def migrations() -> list[Migration]:
    """Every migration shipped with this version, in order."""
    found = []
    for entry in _SQL.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text()))
    return sorted(found, key=lambda m: m.version)


def _fragment(name: str, **values: str) -> str:
    return Template((_SQL / "fragments" / f"{name}.sql").read_text().strip()).substitute(values)


def _attributes_expression(attrs: str) -> str:
    """SQL turning an OTLP ``KeyValue`` array into the exporter's string map.

    Lambda variables: ``a`` an attribute, ``x`` an array item, ``kv`` a map entry.
    """

    def json_string(s: str) -> str:
        return _fragment("json_string", s=s)

    def float_string(d: str) -> str:
        return _fragment("float_string", d=d)

    def scalar_json(v: str) -> str:
        return _fragment(
            "scalar_json",
            v=v,
            json_string_of_string=json_string(f"{v}.string_value"),
            float_of_double=float_string(f"{v}.double_value"),
        )

    any_value = _fragment(
        "any_value",
        v="a.value",
        float_of_double=float_string("a.value.double_value"),
        scalar_json_of_x=scalar_json("x"),
        json_string_of_key=json_string("kv.key"),
        scalar_json_of_kv_value=scalar_json("kv.value"),
    )
    return _fragment("attributes_map", attrs=attrs, any_value_of_a_value=any_value)


_SCALAR_FIELDS = (
    "value Enum8('none' = 0, 'string_value' = 1, 'bool_value' = 2, 'int_value' = 3, "
    "'double_value' = 4, 'array_value' = 5, 'kvlist_value' = 6, 'bytes_value' = 7), "
    "string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String"
)
_SCALAR = f"Tuple({_SCALAR_FIELDS})"
_ANY_VALUE = (
    f"Tuple({_SCALAR_FIELDS}, array_value Tuple(values Array({_SCALAR})), "
    f"kvlist_value Tuple(values Array(Tuple(key String, value {_SCALAR}))))"
)
KV_TYPE = f"Array(Tuple(key String, value {_ANY_VALUE}))"
"""ClickHouse type of an OTLP ``repeated KeyValue`` read two AnyValue levels deep."""


def render(migration: Migration, options: SchemaOptions, database: str = "default") -> list[str]:
    """The statements of one migration for these options, ready to run."""
    on_cluster = f"ON CLUSTER {quote_identifier(options.cluster)}" if options.cluster else ""

    def engine(kind: str, version: str = "") -> str:
        if options.replicated:
            path = "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'"
            return f"Replicated{kind}({path}{', ' + version if version else ''})"
        return f"{kind}({version})"

    ttl = options.ttl_days
    values = {
        "db": quote_identifier(database),
        "on_cluster": on_cluster,
        "merge_tree": engine("MergeTree"),
        "aggregating_merge_tree": engine("AggregatingMergeTree"),
        "replacing_merge_tree": engine("ReplacingMergeTree"),
        # of rows that collapse into one: the one with the latest Timestamp is kept
        "replacing_merge_tree_latest": engine("ReplacingMergeTree", "Timestamp"),
        "ttl_timestamp": f"TTL toDateTime(Timestamp) + toIntervalDay({ttl})" if ttl else "",
        "ttl_start": f"TTL toDateTime(Start) + toIntervalDay({ttl})" if ttl else "",
        "dedup_window": "" if options.replicated else f", non_replicated_deduplication_window = {options.dedup_window}",
        "kv_type": KV_TYPE,
        "span_attributes": _attributes_expression("sp.attributes"),
        "resource_attributes": _attributes_expression("rs.resource.attributes"),
        "event_attributes": _attributes_expression("e.attributes"),
        "link_attributes": _attributes_expression("l.attributes"),
    }
    text = Template(migration.template).substitute(values)
    statements = [statement for statement in _split(text) if statement]
    return _distribute(statements, options, database) if options.distributed else statements


SHARDED = (TRACES, TRACE_ID_TS, HOPS, KEYS, LINKS)
"""Tables whose rows are spread over the shards in a distributed deployment."""

SHARDING_KEYS = {
    TRACES: "if(SpanAttributes['order.id'] != '', cityHash64(SpanAttributes['order.id']), cityHash64(TraceId))",
    TRACE_ID_TS: "cityHash64(TraceId)",
    HOPS: "if(OrderId != '', cityHash64(OrderId), cityHash64(TraceId))",
    KEYS: "cityHash64(OrderId)",
    LINKS: "cityHash64(Key)",
}
"""How an insert into the Distributed table picks a shard. Spans go by order id, so one order's
spans (and the business rows the shard derives from them) sit together; spans with no order id
go by trace. The views fill the business tables on the shard that holds the span, so these keys
matter only for direct inserts: ``rebuild`` writes ``biz_hops`` through its Distributed table,
and its key must send a hop to its span's shard (same hash, same value) or the copy a rebuild
makes would not collapse with the original."""


def local(table: str) -> str:
    """The name of a sharded table's local part on every node."""
    return f"{table}_local"


def _distribute(statements: list[str], options: SchemaOptions, database: str) -> list[str]:
    """Turn single-table DDL into the cluster layout.

    Each sharded table becomes ``<name>_local`` (replicated within its shard) plus a
    Distributed table under ``<name>``, so readers and the official exporter use the names
    they always use. The views deriving business rows read and write the local tables: each
    shard derives from its own spans. The ingest view writes into the Distributed
    ``otel_traces``, which shards the spans. The small tables (ledger, alert state) are
    replicated to every node of the cluster, so any node sees all of them.
    """
    db = quote_identifier(database)
    cluster = quote_identifier(options.cluster or "")
    out = []
    for statement in statements:
        head = statement.split("(", 1)[0]
        created = re.match(rf"CREATE TABLE IF NOT EXISTS {re.escape(db)}\.(\w+) ", head)
        if created and created.group(1) in SHARDED:
            table = created.group(1)
            out.append(statement.replace(f"{db}.{table} ", f"{db}.{local(table)} ", 1))
            out.append(
                f"CREATE TABLE IF NOT EXISTS {db}.{table} ON CLUSTER {cluster} AS {db}.{local(table)}\n"
                f"ENGINE = Distributed({cluster}, {db}, {local(table)}, {SHARDING_KEYS[table]})"
            )
            continue
        dropped = re.match(rf"DROP TABLE IF EXISTS {re.escape(db)}\.(\w+) ", statement + " ")
        if dropped and dropped.group(1) in SHARDED:  # the Distributed table, then the shards' rows
            table = dropped.group(1)
            out.extend([statement, statement.replace(f"{db}.{table} ", f"{db}.{local(table)} ", 1)])
            continue
        altered = re.match(rf"ALTER TABLE {re.escape(db)}\.(\w+) ", head)
        if altered and altered.group(1) in SHARDED:
            # the local tables hold the rows; a column the readers see is added to the Distributed one too
            table = altered.group(1)
            out.append(statement.replace(f"{db}.{table} ", f"{db}.{local(table)} ", 1))
            if "ADD COLUMN" in statement:
                out.append(statement)
            continue
        if created:  # a small table: one replica on every node of the cluster, not per shard
            out.append(statement.replace("/clickhouse/tables/{shard}/", "/clickhouse/tables/all/"))
            continue
        view = re.match(rf"CREATE MATERIALIZED VIEW IF NOT EXISTS {re.escape(db)}\.(\w+) .*?TO {re.escape(db)}\.(\w+)",
                        statement, re.S)  # fmt: skip
        if view and view.group(2) in SHARDED and view.group(2) != TRACES:
            for table in SHARDED:
                statement = re.sub(rf"{re.escape(db)}\.{table}\b", f"{db}.{local(table)}", statement)
        out.append(statement)
    return out


def plan(options: SchemaOptions, database: str = "default") -> list[str]:
    """Every statement ``apply`` runs on an empty store with these options, in order: what
    ``biztrace db init --print`` shows and what the cluster DDL golden test pins."""
    statements = [_migrations_table_ddl(options, quote_identifier(database))]
    for migration in migrations():
        statements.extend(render(migration, options, database))
    return statements


def _split(text: str) -> list[str]:
    """Split on ``;`` at line ends, dropping comment-only pieces."""
    pieces = re.split(r";\s*\n", text.strip().rstrip(";") + "\n")
    out = []
    for piece in pieces:
        lines = [line for line in piece.splitlines() if not line.strip().startswith("--")]
        statement = "\n".join(lines).strip()
        if statement:
            out.append(statement)
    return out


class MigrationStatus(BaseModel):
    """One migration as ``db status`` reports it."""

    version: int
    name: str
    applied: bool
    applied_at: datetime | None = None
    checksum_matches: bool | None = None


def _migrations_table_ddl(options: SchemaOptions, db: str) -> str:
    on_cluster = f"ON CLUSTER {quote_identifier(options.cluster)}" if options.cluster else ""
    shard = "all" if options.distributed else "{shard}"
    engine = (
        f"ReplicatedMergeTree('/clickhouse/tables/{shard}/{{database}}/{{table}}', '{{replica}}')"
        if options.replicated
        else "MergeTree()"
    )
    return (
        f"CREATE TABLE IF NOT EXISTS {db}.{MIGRATIONS} {on_cluster} "
        "(version UInt32, name String, checksum String, applied_at DateTime64(3)) "
        f"ENGINE = {engine} ORDER BY version"
    )


def _ensure_migrations_table(store: Store, options: SchemaOptions) -> None:
    store.client.command(_migrations_table_ddl(options, quote_identifier(store.database)))


def _applied(store: Store) -> dict[int, tuple[str, datetime]]:
    rows = store.client.query(
        f"SELECT version, argMax(checksum, applied_at), max(applied_at) FROM {store.table(MIGRATIONS)} GROUP BY version"
    ).result_rows
    return {int(version): (checksum, applied_at) for version, checksum, applied_at in rows}


def status(store: Store, options: SchemaOptions) -> list[MigrationStatus]:
    """Which migrations this store has, without changing anything."""
    exists = store.client.command(
        "SELECT count() FROM system.tables WHERE database = {db:String} AND name = {name:String}",
        parameters={"db": store.database, "name": MIGRATIONS},
    )
    applied = _applied(store) if int(exists) else {}
    report = []
    for migration in migrations():
        record = applied.get(migration.version)
        report.append(
            MigrationStatus(
                version=migration.version,
                name=migration.name,
                applied=record is not None,
                applied_at=record[1] if record else None,
                checksum_matches=(record[0] == migration.checksum or record[0] in RECODED.get(migration.version, ()))
                if record
                else None,
            )
        )
    return report


_RETENTION = {TRACES: "Timestamp", TRACE_ID_TS: "Start", HOPS: "Timestamp", KEYS: "Timestamp", LINKS: "Timestamp"}
"""Tables whose rows expire with ``ttl_days``, and the time column each expires by."""


def apply_retention(store: Store, options: SchemaOptions) -> list[str]:
    """Set ``ttl_days`` on tables whose TTL differs (a store created with another value).

    Returns the tables altered. ``ttl_days=0`` leaves existing TTLs alone.
    """
    if not options.ttl_days:
        return []
    on_cluster = f"ON CLUSTER {quote_identifier(options.cluster)}" if options.cluster else ""
    altered = []
    for table, column in _RETENTION.items():
        table = local(table) if options.distributed else table
        wanted = f"toDateTime({column}) + toIntervalDay({options.ttl_days})"
        current = store.client.command(
            "SELECT create_table_query FROM system.tables WHERE database = {db:String} AND name = {name:String}",
            parameters={"db": store.database, "name": table},
        )
        if wanted in str(current):
            continue
        store.client.command(f"ALTER TABLE {store.table(table)} {on_cluster} MODIFY TTL {wanted}")
        altered.append(table)
    return altered


_COLUMN_CODEC = re.compile(r"^\s+(\w+) [^\n]*? (CODEC\([^\n]*\)),?$", re.M)
_CREATED_TABLE = re.compile(r"^CREATE TABLE IF NOT EXISTS [^ .]+\.(\w+) ")


def codecs(options: SchemaOptions, database: str = "default") -> dict[str, dict[str, str]]:
    """The codec the migrations declare for each column (``{table: {column: "CODEC(...)"}}``), as
    ``plan`` creates them: on a distributed layout, the ``*_local`` tables that hold the data."""
    declared: dict[str, dict[str, str]] = {}
    for statement in plan(options, database):
        table = _CREATED_TABLE.match(statement)
        if table:
            columns = dict(_COLUMN_CODEC.findall(statement.split(") ENGINE", 1)[0]))
            if columns:
                declared[table.group(1)] = columns
    return declared


def apply_codecs(store: Store, options: SchemaOptions) -> list[str]:
    """Give every column the codec its migration declares where the store has another (a store
    created before the codecs changed). Only metadata changes: new parts are written with the new
    codec, existing parts are recompressed when they next merge. Returns the ``table.column`` altered."""
    on_cluster = f"ON CLUSTER {quote_identifier(options.cluster)}" if options.cluster else ""
    current = {
        (table, column): codec
        for table, column, codec in store.client.query(
            "SELECT table, name, compression_codec FROM system.columns WHERE database = {db:String}",
            parameters={"db": store.database},
        ).result_rows
    }
    altered = []
    for table, columns in codecs(options, store.database).items():
        for column, codec in columns.items():
            have = current.get((table, column))
            if have is None or have.replace(" ", "") == codec.replace(" ", ""):
                continue
            store.client.command(
                f"ALTER TABLE {store.table(table)} {on_cluster} MODIFY COLUMN {quote_identifier(column)} {codec}"
            )
            altered.append(f"{table}.{column}")
    return altered


def rebuild(store: Store, since: datetime, until: datetime) -> dict[str, int]:
    """Re-derive ``biz_hops`` (and through it ``biz_keys``) and the trace-id lookup from
    ``otel_traces`` for spans that started in [since, until), with the views' own queries.

    For a window a crash may have left half-derived. Safe to repeat: the business tables
    collapse copies of the same span (ReplacingMergeTree) and the lookup keeps min/max.
    Returns rows re-derived per table.
    """
    derived = {}
    for view, target in (("biz_hops_mv", HOPS), ("otel_traces_trace_id_ts_mv", TRACE_ID_TS)):
        [[select]] = store.client.query(
            "SELECT as_select FROM system.tables WHERE database = {db:String} AND name = {view:String}",
            parameters={"db": store.database, "view": view},
        ).result_rows
        window = (f"(SELECT * FROM {store.table(TRACES)} WHERE Timestamp >= {{since:DateTime64(9)}} "
                  "AND Timestamp < {until:DateTime64(9)})")  # fmt: skip
        # On a cluster the view reads the shard's otel_traces_local; the rebuild reads every shard
        # through the Distributed otel_traces and writes through the Distributed target.
        source = re.search(rf"\b{re.escape(store.database)}\.{TRACES}(?:_local)?\b", select)
        if source is None:
            raise RuntimeError(f"view {view} does not read {store.database}.{TRACES}; cannot rebuild it")
        rederive = select[: source.start()] + window + select[source.end() :]
        store.client.command(f"INSERT INTO {store.table(target)} ({_view_columns(store, view)}) {rederive}",
                             parameters={"since": since, "until": until})  # fmt: skip
        derived[target] = int(store.client.command(
            f"SELECT count() FROM {store.table(TRACES)} WHERE Timestamp >= {{since:DateTime64(9)}} "
            "AND Timestamp < {until:DateTime64(9)}", parameters={"since": since, "until": until}))  # fmt: skip
    return derived


def _view_columns(store: Store, view: str) -> str:
    """The columns a view writes, listed for an insert of its query: its target may have more (a
    column left to its default, such as ``biz_hops.Ingested``)."""
    names = store.client.query(
        "SELECT name FROM system.columns WHERE database = {db:String} AND table = {view:String} ORDER BY position",
        parameters={"db": store.database, "view": view},
    ).result_rows
    return ", ".join(quote_identifier(name) for (name,) in names)


def repair(store: Store, committed_since: datetime) -> dict[str, int]:
    """Re-derive whatever a crash left missing in every derived table, for spans committed since
    ``committed_since``; returns the rows added per table.

    ClickHouse has no multi-table transactions: a process killed during an insert can leave
    spans committed in ``otel_traces`` with no ``biz_hops`` row, hops with some of their
    ``biz_keys`` rows missing, or traces missing from the trace-id table. The collector runs
    this when it starts after such a death. It reads the spans of the ``otel_traces`` parts
    written since then (the affected window) and, with the views' own queries, adds only what
    is absent: hops of spans that have none (their keys follow through ``biz_keys_mv``), then,
    in every table fed from ``biz_hops`` (``biz_keys`` and any other), the rows of the window's
    hops whose sorting key the table lacks, then the trace-id rows whose time range is not
    already covered. Running it again adds nothing.
    """
    views = {
        name: (select, target)
        for name, select, target in store.client.query(
            "SELECT name, as_select, extract(create_table_query, ' TO [^ .]+\\.`?([^ `(]+)') FROM system.tables "
            "WHERE database = {db:String} AND engine = 'MaterializedView'",
            parameters={"db": store.database},
        ).result_rows
    }
    traces, hops = store.table(TRACES), store.table(HOPS)
    if re.search(rf"\b{re.escape(store.database)}\.{TRACES}\b", views.get("biz_hops_mv", ("", ""))[0]) is None:
        return {}  # the distributed layout derives on each shard: nothing to repair from here
    parameters = {"db": store.database, "traces": TRACES, "since": committed_since.replace(tzinfo=None)}
    recent = (
        f"SELECT * FROM {traces} WHERE _part IN (SELECT name FROM system.parts WHERE database = {{db:String}} "
        "AND table = {traces:String} AND active AND modification_time >= {since:DateTime})"
    )
    recent_ids = f"SELECT TraceId, SpanId FROM ({recent})"

    def reads(view: str, source_table: str) -> re.Match | None:
        return re.search(rf"\b{re.escape(store.database)}\.{source_table}\b", views[view][0])

    def derived(view: str, source_table: str, source: str) -> str:
        select, found = views[view][0], reads(view, source_table)
        if found is None:
            raise RuntimeError(f"view {view} does not read {store.database}.{source_table}; cannot repair it")
        return select[: found.start()] + f"({source})" + select[found.end() :]

    def count(table: str) -> int:
        return int(store.client.command(f"SELECT count() FROM {store.table(table)}"))

    from_hops = sorted(view for view in views if view != "biz_hops_mv" and reads(view, HOPS))
    before = {table: count(table) for table in (HOPS, *(views[v][1] for v in from_hops), TRACE_ID_TS)}
    unhopped = f"{recent} AND (TraceId, SpanId) NOT IN (SELECT TraceId, SpanId FROM {hops} " \
               f"WHERE SpanId IN (SELECT SpanId FROM ({recent})))"  # fmt: skip
    store.client.command(f"INSERT INTO {hops} ({_view_columns(store, 'biz_hops_mv')}) "
                         f"{derived('biz_hops_mv', TRACES, unhopped)}", parameters=parameters)  # fmt: skip

    # Every table fed from biz_hops (biz_keys, the key graph, ...): the rows the window's hops
    # derive whose sorting key the table lacks. Hops re-derived above brought theirs already.
    window_hops = f"SELECT * FROM {hops} WHERE (TraceId, SpanId) IN ({recent_ids})"
    for view in from_hops:
        target = views[view][1]
        columns = [name for (name,) in store.client.query(
            "SELECT name FROM system.columns WHERE database = {db:String} AND table = {view:String} ORDER BY position",
            parameters={"db": store.database, "view": view}).result_rows]  # fmt: skip
        sorting = str(store.client.command(
            "SELECT sorting_key FROM system.tables WHERE database = {db:String} AND name = {target:String}",
            parameters={"db": store.database, "target": target})).split(", ")  # fmt: skip
        key = ", ".join(quote_identifier(c) for c in (sorting if set(sorting) <= set(columns) else columns))
        listed = ", ".join(quote_identifier(c) for c in columns)
        store.client.command(
            f"INSERT INTO {store.table(target)} ({listed}) SELECT DISTINCT {listed} "
            f"FROM ({derived(view, HOPS, window_hops)}) WHERE ({key}) NOT IN (SELECT {key} FROM {store.table(target)})",
            parameters=parameters,
        )

    lookup = store.table(TRACE_ID_TS)
    store.client.command(
        f"INSERT INTO {lookup} (TraceId, Start, End) "
        f"SELECT fresh.TraceId, fresh.Start, fresh.End FROM ({derived('otel_traces_trace_id_ts_mv', TRACES, recent)}) "
        f"AS fresh LEFT JOIN (SELECT TraceId, min(Start) AS Start, max(End) AS End FROM {lookup} "
        f"WHERE TraceId IN (SELECT TraceId FROM ({recent})) GROUP BY TraceId) AS known "
        "ON fresh.TraceId = known.TraceId "
        "WHERE known.TraceId = '' OR fresh.Start < known.Start OR fresh.End > known.End",
        parameters=parameters,
    )
    return {table: count(table) - rows for table, rows in before.items()}


_NEW_VIEW = re.compile(r"CREATE MATERIALIZED VIEW IF NOT EXISTS \$\{db\}\.(\w+)")


def _derive_new_views(store: Store, migration: Migration) -> None:
    """A view that an upgrade adds sees only rows inserted after it: derive its target's rows from
    what the store already holds, with the view's own query (biz_links from the hops stored before
    migration 008, for instance). Safe to repeat: the targets collapse copies."""
    for view in _NEW_VIEW.findall(migration.template):
        rows = store.client.query(
            "SELECT as_select, arrayElement(dependencies_table, 1) FROM system.tables "
            "WHERE database = {db:String} AND name = {view:String}",
            parameters={"db": store.database, "view": view},
        ).result_rows
        target = store.client.command(
            "SELECT target FROM (SELECT extract(create_table_query, 'TO [^ ]+\\.(\\w+)') AS target "
            "FROM system.tables WHERE database = {db:String} AND name = {view:String})",
            parameters={"db": store.database, "view": view},
        )
        if rows and target:
            store.client.command(f"INSERT INTO {store.table(str(target))} ({_view_columns(store, view)}) {rows[0][0]}")


def apply(store: Store, options: SchemaOptions) -> list[Migration]:
    """Apply every migration the store lacks, in order, then the retention and the codecs; returns
    those applied."""
    _ensure_migrations_table(store, options)
    applied = _applied(store)
    done = []
    for migration in migrations():
        if migration.version in applied:
            continue
        for statement in render(migration, options, store.database):
            store.client.command(statement)
        if applied and not options.distributed:
            _derive_new_views(store, migration)
        store.client.insert(
            MIGRATIONS,
            [[migration.version, migration.name, migration.checksum, datetime.now()]],
            column_names=["version", "name", "checksum", "applied_at"],
            database=store.database,
        )
        done.append(migration)
    apply_retention(store, options)
    apply_codecs(store, options)
    return done
