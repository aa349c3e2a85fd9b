"""The key graph: business keys linked by the hops that carry two of them (CONVENTIONS v2).

``biz_links`` (migration 008, fed by a view from ``biz_hops``) holds every pair of keys seen on one
hop, sorted by key. Links are walked only along :data:`LINK_UP`, child to parent, a bounded
number of steps: up to two steps up (invoice -> shipment -> order, return -> order) to find a
key's roots, then up to three down (customer -> order -> shipment -> invoice) for its tree. A
customer is a parent for display only, never a way up, so one order's tree never holds the
customer's other orders. ``sql/key_tree.sql`` computes a tree; ``sql/business_hops.sql`` resolves
the key of a hop that lacks its process's key through the same links. With mapping rules
(``mappings:``), the spans they map link their keys too, read when a query runs
(:func:`links_source`, ``sql/mapped_links.sql``), as the mapped hops are.
"""

from __future__ import annotations

from importlib import resources

from biztrace.config import AlertsConfig
from biztrace.readmodel.mapping import mapped_spans_sql, mapping_parameters
from biztrace.store import Store

LINK_UP: tuple[tuple[str, str], ...] = (
    ("shipment", "order"),
    ("return", "order"),
    ("invoice", "order"),
    ("invoice", "shipment"),
    ("order", "customer"),
    ("shipment", "customer"),
    ("invoice", "customer"),
    ("return", "customer"),
)
"""(child kind, parent kind): the directions a link may be walked up (and, reversed, down)."""

UP_STEPS = 2
"""Links walked up from a key to its roots (invoice -> shipment -> order)."""

DOWN_STEPS = 3
"""Links walked down from the roots (customer -> order -> shipment -> invoice)."""

_SQL = resources.files("biztrace.readmodel") / "sql"


def links_source(config: AlertsConfig | None) -> str:
    """What a query reads as the key graph (``${links}``): ``biz_links``, or with ``config``'s mapping rules
    ``biz_links`` and the links the mapped spans make (``sql/mapped_links.sql``), read when the query
    runs like every mapped hop (the query then takes :func:`mapping.mapping_parameters` too)."""
    if config is None or not config.mappings:
        return "{db:Identifier}.biz_links"
    spans = "(" + mapped_spans_sql(config) + ")"
    made = (_SQL / "mapped_links.sql").read_text().strip().replace("${mapped_spans}", spans)
    return f"(SELECT Key, KeyKind, Linked, LinkedKind FROM {{db:Identifier}}.biz_links UNION ALL\n{made}\n)"


def key_tree(store: Store, keys: list[str], config: AlertsConfig | None = None) -> list[str]:
    """Every key of the trees of ``keys`` (the keys themselves included), sorted; with ``config``'s
    mapping rules, the links of the spans they map too.

    The same tree as ``sql/key_tree.sql`` (which queries use inside one statement), walked one step
    per query and stopped as soon as a step finds nothing new: a key with no links costs one read
    of ``biz_links``, which keeps a lookup by key about as fast as before the graph existed.
    """
    return sorted(key_kinds(store, keys, config))


def key_kinds(store: Store, keys: list[str], config: AlertsConfig | None = None) -> dict[str, str]:
    """:func:`key_tree` with each key's kind (``order``, ``shipment``, ...; '' for a key of ``keys``
    that has no links, whose kind the graph does not know)."""
    mapped = config is not None and bool(config.mappings)
    text = (_SQL / "key_links.sql").read_text().replace("${links}", links_source(config))
    base = {"db": store.database, **(mapping_parameters(config) if mapped else {})}
    kinds = dict.fromkeys(keys, "")
    up = set(LINK_UP)

    def step(frontier: set[str]) -> list[tuple[str, str, str, str]]:
        """The links of ``frontier`` as (key, linked, linked kind, 'up' or 'down'), others dropped."""
        rows = store.client.query(text, parameters=base | {"keys": sorted(frontier)}).result_rows
        found = set()
        for key, key_kind, linked, linked_kind in rows:
            kinds[key] = key_kind
            kinds.setdefault(linked, linked_kind)
            if (key_kind, linked_kind) in up:
                found.add((key, linked, linked_kind, "up"))
            elif (linked_kind, key_kind) in up:
                found.add((key, linked, linked_kind, "down"))
        return sorted(found)

    roots = set(keys)
    links = step(roots)
    for _ in range(UP_STEPS):
        parents = {linked for _, linked, kind, way in links if way == "up" and kind != "customer"} - roots
        if not parents:
            break
        roots |= parents
        links += step(parents)
    tree, level = set(roots), set(roots)
    for depth in range(1, DOWN_STEPS + 1):
        children = {linked for key, linked, _, way in links if way == "down" and key in level} - tree
        if not children:
            break
        tree |= children
        level = children
        if depth < DOWN_STEPS:
            links = step(children)
    return {key: kinds.get(key, "") for key in tree}


def backfill_links(store: Store) -> int:
    """Derive ``biz_links`` from the hops already stored (a store upgraded to migration 008 has
    hops from before its view existed). Safe to repeat: readers take distinct pairs. Returns the
    link rows written."""
    [[select]] = store.client.query(
        "SELECT as_select FROM system.tables WHERE database = {db:String} AND name = 'biz_links_mv'",
        parameters={"db": store.database},
    ).result_rows
    before = int(store.client.command(f"SELECT count() FROM {store.table('biz_links')}"))
    store.client.command(f"INSERT INTO {store.table('biz_links')} {select}")
    return int(store.client.command(f"SELECT count() FROM {store.table('biz_links')}")) - before
