"""Transaction state per process and key, computed in ClickHouse from the process definitions.

Nothing here loops over hops: the definitions become query parameters (see
``sql/transactions.sql``) and ClickHouse groups, orders and classifies.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from importlib import resources
from string import Template
from typing import Any, Literal

from pydantic import BaseModel, Field

from biztrace.config import KEY_COLUMNS, MAX_STAGES, AlertsConfig
from biztrace.readmodel import calendars
from biztrace.readmodel.keygraph import LINK_UP, key_tree, links_source
from biztrace.readmodel.mapping import mapped_spans_sql, mapping_parameters
from biztrace.store import Store

TxState = Literal["complete", "in_flight", "stuck", "failed", "dead_letter"]

STAGE_CODE_BASE = MAX_STAGES + 1
"""A stage's number in SQL is process number * STAGE_CODE_BASE + stage index."""

_SQL = resources.files("biztrace.readmodel") / "sql"


FRAGMENTS = {
    "business_hops": True,  # every hop placed in its process, keyed by its process key (a subquery)
    "resolution": True,  # the key graph's answers for hops lacking their process's key (business_hops joins it)
    "placement": True,  # every hop row with the columns placing it (BizProcess and what resolves BizKey)
    "hop_process": True,  # every hop row with its process, BizProcess (placement.sql's first layers)
    "key_tree": False,  # the keys of {keys}'s trees in the key graph (a SELECT of Key)
    "hops_of_keys": True,  # a condition: the hop belongs to the tree of one of {keys} ({keys} = []: any hop)
    "tree_hop": False,  # a condition: the stored hop carries a key of ${key_tree} (keyed_hop.sql)
    "keys_hop": False,  # a condition: the stored hop carries one of {keys} themselves (keyed_hop.sql)
    "stage_sla_rows": True,  # one row per stage SLA measured in $snapshot (stage_sla.sql, the scorecards)
    "overdue": True,  # the condition of a next stage overdue at {now} (what makes a transaction stuck)
    "exception_stage": True,  # the stage an exception names, over a row of transactions.sql
    "exception_columns": False,  # the columns naming an exception (stage, since, evidence), a column list
    "cycles": False,  # where each transaction of a process whose key is reused starts its latest cycle
}
"""Fragments a query includes as ``${name}`` (``sql/<name>.sql``), True for those put in parentheses."""


LATEST_CYCLE = {
    "latest_cycle": "AS hop LEFT ANY JOIN (${cycles}) AS cycle ON cycle.cycle_hash = "
    "if(has({repeating:Array(String)}, BizProcess), cityHash64(BizProcess, BizKey), 0)",
    "in_latest_cycle": "Timestamp >= cycle.cycle_start",
}
"""``${latest_cycle}`` (after ``FROM ${business_hops}``) and ``${in_latest_cycle}`` (a condition on its rows):
only the hops of each transaction's latest cycle, for the processes whose key is reused (``repeats:``,
``sql/cycles.sql``). With no such process configured, nothing is joined and the condition is true."""


def _hop_rows(config: AlertsConfig | None) -> dict[str, str]:
    """What ``${hop_rows}``, ``${mapped_column}`` and ``${links}`` are: biz_hops itself (one level, so
    filters reach its primary key and, on a cluster, the shards), or with mappings the union with the
    mapped spans (``sql/mapped_hops.sql``); the key graph's links (:func:`keygraph.links_source`)."""
    if config is not None and config.mappings:
        spans = "(" + mapped_spans_sql(config) + ")"
        hops = (_SQL / "mapped_hops.sql").read_text().strip().replace("${mapped_spans}", spans)
        return {"hop_rows": f"({hops})", "mapped_column": "", "links": links_source(config)}
    return {"hop_rows": "{db:Identifier}.biz_hops", "mapped_column": "false AS Mapped,", "links": links_source(None)}


def uncommented(text: str) -> str:
    """SQL ``text`` without its comment lines: for a condition put inside a line of another statement."""
    return "\n".join(line for line in text.splitlines() if not line.startswith("--"))


def keyed_hop(keys: str, orders: str | None = None, orderless: bool = True) -> str:
    """``sql/keyed_hop.sql``: the condition that a stored hop carries one of ``keys`` (a set in SQL: an
    array parameter or a subquery), found through ``biz_keys``; :func:`uncommented`. ``orders`` and
    ``orderless``: what ``sql/key_orders.sql`` found for the same keys, when the caller asked it first
    (else the condition reads them)."""
    text = uncommented((_SQL / "keyed_hop.sql").read_text())
    if orders is None:
        orders = f"(SELECT OrderId FROM {{db:Identifier}}.biz_keys WHERE Key IN {keys} AND OrderId != '')"
    return Template(text.strip()).substitute(keys=keys, orders=orders, orderless=str(orderless).lower())


_KEYED_HOP = {"tree_hop": "(${key_tree})", "keys_hop": "{keys:Array(String)}"}
"""The key set each of these fragments is the condition of (:func:`keyed_hop`)."""


_NO_KEYS = {
    "key_tree": "SELECT arrayJoin({keys:Array(String)}) AS Key",
    "hops_of_keys": "{keys:Array(String)} = []",
}
"""The key-graph fragments of a query never asked for some keys (``keys=False`` in :func:`sql`)."""


KeysMode = bool | Literal["exact", "scoped"]
"""How a query reads ``{keys}`` (:func:`sql`): not at all (False), walking their trees itself (True), with
their trees walked already as ``{tree}`` ("exact"), or from their trees' hops placed already in the table
``{scope}`` (:func:`hops_scope`, "scoped")."""


def sql(
    name: str,
    config: AlertsConfig | None = None,
    *,
    keys: KeysMode = True,
    resolved: bool = False,
    final: bool = False,
    unresolved: bool = False,
) -> str:
    """``readmodel/sql/<name>.sql``, with every ``${fragment}`` of :data:`FRAGMENTS` filled in.

    Spans that mapping rules make hops are read only when ``config`` has ``mappings``: the query is
    then a union with ``otel_traces`` (``sql/mapped_hops.sql``); without mappings its text stays
    as small, and as quick to plan, as one over ``biz_hops`` alone.

    ``keys=False``: the query is run with ``{keys}`` empty (every hop), so the key graph's subqueries
    (``key_tree.sql``: a dozen reads of ``biz_links``, ~5 ms each even when empty) are left out. Run
    with some keys anyway, such a query finds nothing rather than everything. ``keys="exact"``: the
    caller walked the trees of ``{keys}`` already (:func:`biztrace.readmodel.keygraph.key_tree`) and
    passes them as ``{tree}``; the query reads the hops of those keys without walking them again.
    ``keys="scoped"``: as "exact", and the trees' hops are read, placed already, from ``{scope}``
    (:func:`hops_scope`): a query that reads them through ``business_hops.sql`` plans it again
    (~0.1 s each for a few rows), one over a table of ten rows does not.

    ``resolved``: the key graph's answers for hops lacking their process's key (``sql/resolution.sql``)
    are read from the table ``{resolved}`` that :func:`resolution` filled for this reader, not computed
    in the query (whose analysis would run its scalar subqueries and plan its joins again).

    ``unresolved``: no hop the query reads lacks an order id (:func:`resolution_needed`), so the key
    graph's answers are none (``sql/resolution.sql`` resolves only hops without one): an empty table
    stands in for them, and the query plans no resolution (~50 ms of a keyed statement's ~140).

    ``final``: the stored hops are read ``FINAL`` (a delivery stored twice is read once, as an export
    that writes every row wants; no mapped spans then).
    """
    text = (_SQL / f"{name}.sql").read_text()
    repeats = config is not None and any(process.repeats for process in config.processes.values())
    for fragment, body in LATEST_CYCLE.items():
        text = text.replace(f"${{{fragment}}}", body if repeats else ("" if fragment == "latest_cycle" else "true"))
    rows = _hop_rows(None if final else config)
    if final:
        rows["hop_rows"] += " FINAL"
    while any(f"${{{fragment}}}" in text for fragment in FRAGMENTS):
        for fragment, wrap in FRAGMENTS.items():
            if f"${{{fragment}}}" in text:
                if keys == "scoped" and fragment in ("business_hops", "placement"):  # placement: sql/cycles.sql's
                    body = "SELECT * FROM {db:Identifier}.{scope:Identifier}"
                elif unresolved and fragment == "resolution":
                    body = "SELECT toUInt64(0) AS hash, '' AS target WHERE false"
                elif resolved and fragment == "resolution":
                    text = text.replace(f"${{{fragment}}}", "{db:Identifier}.{resolved:Identifier}")
                    continue
                elif keys in ("exact", "scoped") and fragment == "key_tree":
                    body = "SELECT arrayJoin({tree:Array(String)}) AS Key"
                elif not keys and fragment in _NO_KEYS:
                    body = _NO_KEYS[fragment]
                elif fragment in _KEYED_HOP:
                    body = keyed_hop(_KEYED_HOP[fragment])
                else:
                    body = (_SQL / f"{fragment}.sql").read_text().strip()
                text = text.replace(f"${{{fragment}}}", f"({body})" if wrap else body)
    for fragment, body in rows.items():
        text = text.replace(f"${{{fragment}}}", body)
    return calendars.expand(text, config)  # the business-time clocks (sql/clock.sql)


KEY_SPECIFICITY = ("return.id", "shipment.id", "invoice.id", "order.id", "customer.id")
"""A hop with no stage belongs to the process keyed by the first of these it carries."""


def placement_parameters(config: AlertsConfig) -> dict[str, Any]:
    """What ``sql/business_hops.sql`` needs to place a hop in its process (CONVENTIONS v2).

    A stage declared by one process places its hops there; a stage two processes declare maps to
    '' (unplaced: such a hop must say ``biz.process``). For hops without a stage, the first
    configured process keyed by each key attribute. Also the kind of each process's key and the
    key graph's paths up (to resolve a hop's key through its links), and the mapping rules.
    """
    owners: dict[str, set[str]] = {}
    for name, process in config.processes.items():
        for stage in process.stage_names():
            owners.setdefault(stage, set()).add(name)
    stages = sorted(owners)
    by_key: dict[str, str] = {}
    for name, process in config.processes.items():
        by_key.setdefault(process.key, name)
    parameters: dict[str, Any] = {
        "stage_names": stages,
        "stage_owner": [next(iter(owners[s])) if len(owners[s]) == 1 else "" for s in stages],
    }
    for key in KEY_SPECIFICITY:
        parameters[f"{key.split('.')[0]}_process"] = by_key.get(key, "")
    parameters["process_key_kinds"] = [process.key.split(".")[0] for process in config.processes.values()]
    parameters["link_up"] = list(LINK_UP)
    parameters["keys"] = []  # every hop; a query for some keys sets its own
    return parameters | mapping_parameters(config)


class Transaction(BaseModel):
    """Where one business transaction stands at ``now``."""

    process: str
    key: str
    state: TxState
    current_stage: str = Field(
        description="the furthest stage a hop reported ('' if none yet); for a failed or dead-lettered "
        "transaction, the stage it failed at"
    )
    current_stage_at: datetime
    next_stage: str
    next_system: str = Field(description="the system expected to reach the next stage")
    due_at: datetime | None = Field(description="when the next stage is due by its SLA")
    started_at: datetime
    last_at: datetime
    age_s: int
    first_system: str
    last_system: str
    last_hop_stage: str
    last_span: str
    trouble_at: datetime | None = Field(description="when the hop that failed or dead-lettered it ran")
    trouble_stage: str
    trouble_system: str
    trouble_span: str
    error_type: str
    priority: str
    channel: str
    amount: float | None = Field(
        None,
        description="the transaction's value: what its value stage (the system of record) accepted, "
        "else the first amount seen; None when no hop carried one",
    )
    currency: str = Field("", description="the currency of amount")
    hops: int
    stages_reached: list[str] = Field(
        description="the stages a hop reached without failing, in the process's order (a stage whose hops all "
        "failed is not reached: its SLA is not met by the failure)"
    )
    stages_reached_at: list[datetime] = Field(description="when each of stages_reached was first reached")


def process_parameters(config: AlertsConfig) -> dict[str, Any]:
    """The process definitions as the array parameters the SQL files take.

    Per process (in ``processes`` order): the key column's number and the completion
    stage's index; ``(process, stage)`` pairs with their 1-based index; and per stage, numbered
    by ``stage_codes`` (process number * ``stage_code_base`` + index): its name, owning system,
    SLA seconds (0: none) and whether the SLA counts from the start. Overrides are keyed
    ``(code, priority)``, ``(code, channel)``, and the contractual ones ``(code, customer)`` and
    ``(code, partner)``; the most specific applies (customer, partner, priority, channel, the
    stage's own). The transaction query looks stages up by
    number, which is several times cheaper per row than by a string built per row. The processes whose
    key is reused (``repeats:``) and the first stage of each, which starts a cycle (``sql/cycles.sql``).
    """
    key_numbers = {key: number for number, key in enumerate(KEY_COLUMNS, start=1)}  # the order transactions.sql reads
    p: dict[str, list[Any]] = {key: [] for key in (
        "processes", "key_columns", "completion_index", "value_index", "stage_pairs", "stage_pair_index", "stage_codes",
        "index_stage", "index_system", "index_sla_s", "index_since_start", "priority_codes", "priority_sla_s",
        "channel_codes", "channel_sla_s", "customer_codes", "customer_sla_s", "partner_codes", "partner_sla_s",
    )}  # fmt: skip
    for number, (name, process) in enumerate(config.processes.items(), start=1):
        p["processes"].append(name)
        p["key_columns"].append(key_numbers[process.key])
        p["completion_index"].append(process.stage_names().index(process.completes_at) + 1)
        p["value_index"].append(process.stage_names().index(process.value_stage) + 1 if process.value_stage else 0)
        for index, stage in enumerate(process.stages, start=1):
            p["stage_pairs"].append((name, stage.name))
            p["stage_pair_index"].append(index)
            code = number * STAGE_CODE_BASE + index
            p["stage_codes"].append(code)
            p["index_stage"].append(stage.name)
            p["index_system"].append(stage.system)
            sla = stage.sla
            p["index_sla_s"].append(sla.within.total_seconds() if sla else 0.0)
            p["index_since_start"].append(1 if sla and sla.since == "start" else 0)
            for priority, within in (sla.by_priority if sla else {}).items():
                p["priority_codes"].append((code, priority))
                p["priority_sla_s"].append(within.total_seconds())
            for channel, within in (sla.by_channel if sla else {}).items():
                p["channel_codes"].append((code, channel))
                p["channel_sla_s"].append(within.total_seconds())
            for kind in ("customer", "partner"):
                for name_, within in (getattr(sla, f"by_{kind}") if sla else {}).items():
                    p[f"{kind}_codes"].append((code, name_))
                    p[f"{kind}_sla_s"].append(within.total_seconds())
    clocks = calendars.calendar_parameters(config)  # the business calendars of the SLAs (sql/clock.sql)
    repeating = {name: process for name, process in config.processes.items() if process.repeats}
    cycles = {  # the processes whose key is reused, and the first stage, which starts each cycle (sql/cycles.sql)
        "repeating": list(repeating),
        "cycle_starts": [(name, process.stages[0].name) for name, process in repeating.items()],
        "cycle_stages": sorted({process.stages[0].name for process in repeating.values()}),
    }
    return {**p, **placement_parameters(config), **clocks, **cycles, "stage_code_base": STAGE_CODE_BASE}


def query_parameters(
    store: Store,
    config: AlertsConfig,
    now: datetime,
    *,
    keys: list[str] | None = None,
    states: list[str] | None = None,
    since: datetime | None = None,
) -> dict[str, Any]:
    """Every parameter ``sql/transactions.sql`` takes (other queries wrap it and add their own)."""
    parameters = process_parameters(config)
    parameters.update(
        db=store.database, now=now, keys=keys or [], states=states or [], since=since or datetime(1970, 1, 1)
    )
    return parameters


def transactions_query(
    store: Store,
    config: AlertsConfig,
    now: datetime,
    *,
    keys: list[str] | None = None,
    states: list[str] | None = None,
    since: datetime | None = None,
) -> tuple[str, dict[str, Any]]:
    """``sql/transactions.sql`` and its parameters for these filters: what :func:`transactions` runs, for a
    reader that keeps the rows in ClickHouse. The trees of ``keys`` are walked once here (in the query,
    each step would be read three times over)."""
    parameters = query_parameters(store, config, now, keys=keys, states=states, since=since)
    if not keys:
        return sql("transactions", config, keys=False), parameters
    parameters["tree"] = key_tree(store, keys, config)
    unresolved = not resolution_needed(store, config, parameters["tree"])
    return sql("transactions", config, keys="exact", unresolved=unresolved), parameters


def resolution_needed(store: Store, config: AlertsConfig, tree: list[str] | None) -> bool:
    """Whether a hop of ``tree``'s keys (None: any hop) lacks an order id (``sql/tree_lacks_order.sql``; any
    hop: ``sql/resolvable_hops.sql``), the only hops the key graph may resolve; with mapping rules, a span they
    make a hop too (their spans are in no stored key table: read through the rules, ~30 ms, where a query
    planning the resolution over them costs ~0.3 s more)."""
    parameters = {"db": store.database, "tree": tree or []}
    resolvable = Template((_SQL / "resolvable_hops.sql").read_text())
    stored = (sql("tree_lacks_order") if tree is not None
              else resolvable.substitute(rows="{db:Identifier}.biz_hops", of_tree=""))  # fmt: skip
    if int(store.client.command(stored, parameters=parameters)):
        return True
    if not config.mappings:
        return False
    of_tree = "AND hasAny([ShipmentId, InvoiceId, ReturnId, CustomerId], {tree:Array(String)})" if tree else ""
    mapped = resolvable.substitute(rows=f"({mapped_spans_sql(config)})", of_tree=of_tree)
    return bool(int(store.client.command(mapped, parameters=parameters | mapping_parameters(config))))


@contextmanager
def resolution(store: Store, config: AlertsConfig, parameters: dict[str, Any], keys: KeysMode) -> Iterator[dict]:
    """The key graph's answers for the hops lacking their process's key (``sql/resolution.sql``, with
    ``parameters`` and ``keys`` as the reader's queries have them) in a Memory table while the block
    runs: yields the parameters (``{"resolved": name}``) that, with :func:`sql`'s ``resolved=True``,
    make every query of the reader join it instead of computing it. At 10M hops each reconciliation
    rule's statement was analysed in 74-152 ms instead of 117-309 ms for one ~60 ms computation.
    A reader whose hops are placed already (``keys="scoped"``) needs none: yields nothing. Asked for every hop
    (``keys`` false) when no hop lacks an order id (:func:`resolution_needed`), the table is empty."""
    if keys == "scoped":
        yield {}
        return
    if not keys and not resolution_needed(store, config, None):  # no hop to resolve: an empty table of them
        with store.columns_table({"hash": "UInt64", "target": "String"}, [], "biztrace_resolved") as table:
            yield {"resolved": table}
        return
    with store.memory_table(sql("resolution", config, keys=keys), parameters, "biztrace_resolved") as table:
        yield {"resolved": table}


@contextmanager
def hops_scope(store: Store, config: AlertsConfig, keys: list[str], tree: list[str]) -> Iterator[str]:
    """The hops of ``tree`` (the trees of ``keys``, :func:`keygraph.key_tree`), placed in their process
    and keyed (``sql/business_hops.sql``), in a Memory table dropped on exit; yields its name, the
    ``{scope}`` of queries read with ``keys="scoped"`` (:func:`sql`). A reader that asks several
    queries about a few keys (the order page's detection: a dozen) places their hops once."""
    unresolved = not resolution_needed(store, config, tree)
    placed = sql("business_hops", config, keys="exact", unresolved=unresolved)
    of_keys = sql("hops_of_keys", config, keys="exact")
    query = f"SELECT * FROM ({placed.strip()}) AS placed WHERE {of_keys.strip()}"
    parameters = process_parameters(config) | {"db": store.database, "keys": keys, "tree": tree}
    with store.memory_table(query, parameters, "biztrace_scope") as table:
        yield table


def transactions(
    store: Store,
    config: AlertsConfig,
    now: datetime,
    *,
    keys: list[str] | None = None,
    states: list[str] | None = None,
    since: datetime | None = None,
) -> list[Transaction]:
    """Every transaction's state at ``now`` (optionally only some keys or states, or those started since)."""
    query, parameters = transactions_query(store, config, now, keys=keys, states=states, since=since)
    return [Transaction(**row) for row in store.client.query(query, parameters=parameters).named_results()]
