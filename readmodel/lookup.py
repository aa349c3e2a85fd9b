"""Find every hop of one business key: what ``biztrace order KEY`` and support's search show."""

from __future__ import annotations

from datetime import datetime
from string import Template

from pydantic import BaseModel, Field

from biztrace.config import AlertsConfig
from biztrace.readmodel.keygraph import key_kinds
from biztrace.readmodel.models import naive_utc
from biztrace.readmodel.snapshots import kept_transactions
from biztrace.readmodel.transactions import Transaction, keyed_hop, placement_parameters, sql, transactions
from biztrace.store import Store

_BY_ORDER = "h.OrderId IN {orders:Array(String)}"
_BY_MAPPED = (
    "(h.Mapped AND hasAny([h.OrderId, h.ShipmentId, h.InvoiceId, h.ReturnId, h.CustomerId], "
    "arrayConcat({orders:Array(String)}, {keys:Array(String)})))"
)
_STORED = "(SELECT *, false AS Mapped FROM {db:Identifier}.biz_hops)"


def _by_key(store: Store, keys: list[str]) -> tuple[str | None, list[str]]:
    """The condition finding the hops of ``keys`` (``sql/keyed_hop.sql``) with what ``biz_keys`` says of
    them read first (``sql/key_orders.sql``: one small statement instead of two subqueries in the
    lookup's), and the orders it reads as ``{key_orders}``; no condition when no stored hop carries them."""
    if not keys:
        return None, []
    [[orders, orderless]] = store.client.query(
        sql("key_orders"), parameters={"db": store.database, "keys": keys}).result_rows  # fmt: skip
    if not orders and not orderless:
        return None, []
    return keyed_hop("{keys:Array(String)}", "{key_orders:Array(String)}", bool(orderless)), list(orders)


def _query(orders: bool, by_key: str | None, config: AlertsConfig | None) -> str:
    """The lookup for a tree with order ids and/or other keys (one branch each: an OR of an empty
    branch would cost a read; ``by_key``: :func:`_by_key`'s condition). With ``config``: the hops placed
    in their processes (``sql/hop_process.sql``), with the spans its mapping rules make hops; without: the
    stored hops as they are."""
    mapped = config is not None and bool(config.mappings)
    branches = ((_BY_ORDER, orders), (by_key, by_key is not None), (_BY_MAPPED, mapped))
    match = [condition for condition, used in branches if used]
    if config is None:
        rows, process = _STORED, "h.Process"
    else:  # over biz_hops, or with mappings the mapped spans too
        rows, process = "(" + sql("hop_process", config) + ")", "h.BizProcess"
    stored = "CAST(NULL AS Nullable(DateTime('UTC')))" if mapped else "toDateTime(h.Ingested, 'UTC')"
    return Template(sql("key_hops")).substitute(rows=rows, process=process, stored=stored,
                                                match=" OR ".join(match) or "false")  # fmt: skip


class Hop(BaseModel):
    """One span of the key's life, as every system reported it."""

    start: datetime = Field(description="span start, UTC")
    trace_id: str
    span_id: str
    parent_span_id: str
    service: str
    system: str
    process: str = Field(
        description="the hop's process as biztrace places it (biz.process, else its stage's process, else the "
        "process keyed by its most specific key: CONVENTIONS v2); the biz.process attribute as sent when the "
        "lookup was asked without a configuration"
    )
    stage: str
    span_name: str
    duration_ms: float
    status: str = Field(description="Unset, Ok or Error")
    status_message: str
    error_type: str
    order_id: str
    customer_id: str
    shipment_id: str = ""
    invoice_id: str = ""
    return_id: str = ""
    amount: float | None
    currency: str
    quantity: float | None
    biz_status: str
    mapped: bool = Field(False, description="made a hop by a mapping rule of the configuration")
    stored_at: datetime | None = Field(
        None, description="when biztrace stored it (the store's clock, UTC); None for a span a mapping rule makes a hop"
    )


class KeyHistory(BaseModel):
    """Everything stored about one business key and the keys linked to it."""

    key: str
    found: bool
    traces: int = Field(description="distinct traces the key appears in")
    systems: list[str] = Field(description="systems in order of first appearance")
    tree: dict[str, str] = Field(
        default_factory=dict,
        description="the keys of the key's tree in the key graph, with their kind (order, shipment, invoice, "
        "return, customer; '' when the graph has no link for it)",
    )
    hops: list[Hop]
    truncated: bool = Field(False, description="more hops are stored than the limit asked for")


def key_history(store: Store, key: str, limit: int = 10_000, config: AlertsConfig | None = None) -> KeyHistory:
    """Every hop of ``key``'s tree in the key graph, oldest first (at most ``limit``).

    The tree (``keygraph.key_kinds``, as ``sql/key_tree.sql``): the key, the keys it links up to
    (an invoice's shipment and order) and everything under those (the order's shipments, invoices
    and returns). A lookup by
    customer gives the trees of the customer's orders; a lookup by order never includes the
    customer's other orders. With ``config``, each hop's process is the one it is placed in
    (``sql/hop_process.sql``, as every figure counts it), and spans its mapping rules make hops are included.
    """
    tree = key_kinds(store, [key], config)
    orders = [k for k, kind in tree.items() if kind in ("order", "")]  # a key without links may be an order
    keys = [k for k, kind in tree.items() if kind != "order"]
    by_key, key_orders = _by_key(store, keys)
    parameters = {
        **(placement_parameters(config) if config is not None else {}),  # the mapping rules' too
        "db": store.database,
        "orders": orders,
        "keys": keys,
        "key_orders": key_orders,
        "limit": limit + 1,  # one more: whether there are more
    }
    query = _query(bool(orders), by_key, config)
    rows = list(store.client.query(query, parameters=parameters).named_results())
    hops = []
    for row in rows[:limit]:
        row["duration_ms"] = row.pop("duration_ns") / 1e6
        row["stored_at"] = naive_utc(row["stored_at"]) if row["stored_at"] is not None else None
        hops.append(Hop(**row))
    systems: list[str] = []
    for hop in hops:
        if hop.system not in systems:
            systems.append(hop.system)
    return KeyHistory(
        key=key,
        found=bool(hops),
        traces=len({hop.trace_id for hop in hops}),
        systems=systems,
        tree=dict(sorted(tree.items())),
        hops=hops,
        truncated=len(rows) > limit,
    )


def tree_keys(history: KeyHistory) -> list[str]:
    """The keys whose transactions a key's answer shows (:func:`tree_transactions`): the key, every key of
    its tree, and the order and return ids its hops carry (an invoice's answer shows its order's and its
    returns' state)."""
    return sorted(
        {history.key} | set(history.tree) | {k for hop in history.hops for k in (hop.order_id, hop.return_id) if k}
    )


def kept_tree_transactions(
    store: Store, config: AlertsConfig, now: datetime, history: KeyHistory
) -> list[Transaction] | None:
    """:func:`tree_transactions` read from the alert loop's kept snapshot
    (:func:`biztrace.readmodel.snapshots.kept_transactions`), or None when it cannot answer for them: the
    tree's hops not all listed (``truncated``), a mapped one among them (no stored time), or one stored or
    stamped after what the snapshot saw."""
    stored = [hop.stored_at for hop in history.hops if hop.stored_at is not None]
    if not history.found or history.truncated or len(stored) < len(history.hops):
        return None
    return kept_transactions(store, config, now, tree_keys(history), stored_until=max(stored),
                             latest=max(hop.start for hop in history.hops))  # fmt: skip


def tree_transactions(store: Store, config: AlertsConfig, now: datetime, history: KeyHistory) -> list[Transaction]:
    """The transactions of ``history``'s tree at ``now`` (:func:`key_history` with ``config``; the keys:
    :func:`tree_keys`), sorted by process and key: what the API's key tree and the order page show.
    Read from the alert loop's kept snapshot when it can answer for them (:func:`kept_tree_transactions`),
    else computed (:func:`biztrace.readmodel.transactions.transactions`): the same rows either way (the
    test compares them for every key of the foreign producers' store)."""
    if not history.found:
        return []
    found = kept_tree_transactions(store, config, now, history)
    if found is None:
        found = transactions(store, config, now, keys=tree_keys(history))
    return sorted(found, key=lambda t: (t.process, t.key))
