"""Cross-system reconciliation from the traces, computed in ClickHouse.

Each rule of the configuration's ``reconciliation:`` pairs two stages' observations
(``sql/reconcile.sql``, over every hop placed in its process) and flags what disagrees beyond
tolerance: by the rule's match key, or, for a transaction whose hops do not all carry it, the
whole transaction's sides summed. A side counts by its stage, whoever reported it, unless the
rule pins a system. The mismatches become ``mismatch`` exceptions and feed the ``mismatch_rate``
rule; each carries the transaction's value (``amount``, ``currency``, as ``sql/transactions.sql``
computes it). The parity report sums the pairs per period and channel (counts, totals,
variance, share posted within SLA).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from string import Template
from typing import Literal

from pydantic import BaseModel, Field

from biztrace.config import KEY_COLUMNS, AlertsConfig, Reconciliation
from biztrace.readmodel.keygraph import key_tree
from biztrace.readmodel.last_pass import KeptPairs
from biztrace.readmodel.models import naive_utc
from biztrace.readmodel.transactions import KeysMode, hops_scope, process_parameters, resolution, sql, uncommented
from biztrace.store import Store

JUDGED = timedelta(days=90)
"""How far back :func:`judging` judges by default (the alert loop's pass: the pairs it keeps)."""

Period = Literal["hour", "day", "week", "month"]
BUCKETS: dict[str, str] = {
    "hour": "toStartOfHour",
    "day": "toStartOfDay",
    "week": "toMonday",
    "month": "toStartOfMonth",
}
"""The ClickHouse function that truncates a time to each period."""


class Mismatch(BaseModel):
    """Two systems disagreeing about one transaction (a finding of CONVENTIONS' "Machine-readable output")."""

    rule: str
    process: str
    key: str = Field(description="the transaction's key (the process key)")
    kind: Literal["mismatch"] = "mismatch"
    match_key: str = Field(
        description="what the observations were paired by, e.g. the shipment id; the key itself when the "
        "transaction was compared as a whole (a hop without the match key)"
    )
    field: Literal["amount", "quantity", "status", "presence"]
    stage: str = Field(description="the right side's stage (where the disagreement shows)")
    left_system: str
    right_system: str
    left: float | str | None = Field(description="the left side's value (None when absent; a sum when compared whole)")
    right: float | str | None
    amount: float | None = Field(None, description="the transaction's value at risk (None when no hop had an amount)")
    currency: str = Field(description="the currency of amount (else of the compared pair)")
    channel: str
    since: datetime
    evidence: list[str]
    system_at_fault: str = Field(
        description="the left system when it never reported its side, otherwise the right one (the exception's system)"
    )


def _parameters(store: Store, config: AlertsConfig, rule: Reconciliation, now: datetime, since: datetime) -> dict:
    process = config.processes[rule.process]
    right_stage = next(s for s in process.stages if s.name == rule.right.stage)
    currencies = sorted(rule.tolerance_by_currency)
    return process_parameters(config) | {  # what business_hops.sql needs to place hops
        "db": store.database,
        "now": now,
        "since": since,
        "process": rule.process,
        "by_key": rule.match_on is None or rule.match_on == process.key,
        "match_col": KEY_COLUMNS[rule.match_on or process.key],
        "left_stage": rule.left.stage,
        "left_system": rule.left.system or "",
        "right_stage": rule.right.stage,
        "right_system": rule.right.system or "",
        "compare": rule.compare,
        "right_above_only": rule.direction == "right_above_left",
        "amount_abs": rule.tolerance.amount_abs,
        "amount_rel": rule.tolerance.amount_rel,
        "quantity_abs": rule.tolerance.quantity_abs,
        "quantity_rel": rule.tolerance.quantity_rel,
        "currencies": currencies,
        "amount_abs_by_currency": [rule.tolerance_by_currency[c].amount_abs for c in currencies],
        "status_from": list(rule.status_map),
        "status_to": list(rule.status_map.values()),
        "presence": rule.presence,
        "grace_s": int(rule.grace.total_seconds()),
        "right_sla_s": int(right_stage.sla.within.total_seconds()) if right_stage.sla else 2**31,
        "lookback_s": _lookback_s(right_stage),
        "keys": [],
        "channel_filter": "",
        "flag": False,
        "whole": False,
        "whole_always": rule.whole,
    }


def _lookback_s(right_stage) -> int:
    """How far before ``since`` to look for the left side of a pair whose right side is in the window:
    twice the right side's SLA (at least an hour, at most 90 days). Without it an invoice posted just
    inside the window would look like it had no shipment; one later than twice its SLA is flagged."""
    sla_s = right_stage.sla.within.total_seconds() if right_stage.sla else 90 * 86400
    return int(min(max(2 * sla_s, 3600), 90 * 86400))


def _rules(config: AlertsConfig, rule: str | None, process: str | None) -> list[Reconciliation]:
    return [r for r in config.reconciliation if (rule is None or r.name == rule) and (process is None or
                                                                                    r.process == process)]  # fmt: skip


_NO_UNITS = "CAST([], 'Array(Tuple(String, DateTime64(9), Nullable(Float64), Nullable(Float64)))')"
_UNITS = {
    False: f"{_NO_UNITS} AS left_units, {_NO_UNITS} AS right_units",
    True: "groupArrayIf((unit, Timestamp, Amount, Quantity), in_whole AND NOT is_right) AS left_units, "
    "groupArrayIf((unit, Timestamp, Amount, Quantity), in_whole AND is_right) AS right_units",
}


_STATUSES = {
    True: "argMaxIf(BizStatus, at_order, NOT is_right) AS left_status, "
    "argMaxIf(BizStatus, at_order, is_right) AS right_status",
    False: "'' AS left_status, '' AS right_status",
}
"""``sql/reconcile.sql``'s statuses, by whether the rule compares them (no aggregate state for a rule that does not)."""


def _key_of_pair(parameters: dict) -> str:
    """``sql/reconcile.sql``'s pair key, ``minIf(key, key != '')``, or what it always equals: the match key
    when the rule matches on the process key (every hop's match key is its key); the match key when the
    pair has a hop compared as a whole, else '', when the rule always compares transactions as a whole (a
    hop is then paired by its key unless it has none). One string aggregate fewer for a million pairs."""
    if parameters["by_key"]:
        return "match_key"
    if parameters["whole_always"]:
        return "if(max(in_whole), match_key, '')"
    return "minIf(key, key != '')"


def _pairs(config: AlertsConfig, parameters: dict) -> str:
    """``sql/reconcile.sql`` in the shape :func:`_shaped` chose: pairs by the match key, or transactions
    compared as a whole (all of them when the rule says so, else those with a hop lacking the match key:
    ``sql/reconcile_whole.sql``)."""
    keys, whole, resolved = _keys_mode(parameters), parameters["whole"], "resolved" in parameters
    in_whole = "false" if not whole else "keyed" if parameters["whole_always"] else sql(
        "reconcile_whole", config, keys=keys, resolved=resolved).strip()  # fmt: skip
    return Template(sql("reconcile", config, keys=keys, resolved=resolved)).safe_substitute(
        units=_UNITS[whole],
        in_whole=in_whole,
        key_of_pair=_key_of_pair(parameters),
        statuses=_STATUSES["status" in parameters["compare"]],
    )


def _judge(store: Store, config: AlertsConfig, parameters: dict, period: Period) -> tuple[list[dict], dict]:
    """One pass over the rule's hops: its parity rows, each with its mismatched pairs (:data:`FLAGGED`)
    when ``parameters["flag"]`` is set; and the parameters that judged them, ``whole`` set already
    (:func:`_shaped`)."""
    query = Template(sql("reconcile_parity")).substitute(
        by="", bucket=BUCKETS[period], pairs=_pairs(config, parameters),
        flagged=_flagged_column(parameters["flag"]),
    )  # fmt: skip
    rows = list(store.client.query(query, parameters=parameters).named_results())
    return [row for row in rows if row["pairs"]], parameters


def _keys_mode(parameters: dict) -> KeysMode:
    """How a query reads ``{keys}`` (:func:`transactions.sql`): their hops placed already (``{scope}``),
    their trees walked already (``{tree}``), in the query, or none asked."""
    if parameters.get("tree"):
        return "scoped" if parameters.get("scope") else "exact"
    return bool(parameters["keys"])


@contextmanager
def _resolved(store: Store, config: AlertsConfig, sets: list[dict], given: dict | None = None) -> Iterator[list[dict]]:
    """Each rule's parameters (of one reader: the same ``now`` and keys) with the reader's table of the key
    graph's answers (:func:`transactions.resolution`), computed once for every statement the rules run;
    ``given``: the caller's, computed already for the same keys."""
    if not sets or given is not None:
        yield [parameters | (given or {}) for parameters in sets]
        return
    with resolution(store, config, sets[0], _keys_mode(sets[0])) as resolved:
        yield [parameters | resolved for parameters in sets]


_RULE_PARAMETERS = ("by_key", "match_col", "process", "left_stage", "left_system", "right_stage", "right_system",
                    "since")  # fmt: skip
"""The parameters of ``sql/reconcile_rule_hop.sql`` and ``sql/reconcile_keyless_rule.sql`` that differ from
rule to rule."""


def _condition(name: str, n: int, suffixed: dict, parameters: dict) -> str:
    """``sql/<name>.sql`` without its comments, its rule parameters suffixed with ``n`` (and their values
    put in ``suffixed``)."""
    condition = uncommented(sql(name))
    for parameter in _RULE_PARAMETERS:
        condition = condition.replace(f"{{{parameter}:", f"{{{parameter}_{n}:")
        suffixed[f"{parameter}_{n}"] = parameters[parameter]
    return condition


def _shaped(store: Store, config: AlertsConfig, sets: list[dict]) -> list[dict]:
    """Each rule's parameters (of one reader: the same ``now`` and keys) with ``seen`` and ``whole`` set,
    every rule counted in one read of the hops (``sql/reconcile_keyless.sql``, without judging; one plan
    of ``business_hops.sql``, ~0.1 s, instead of one per rule). ``seen``: the rule has hops in its window
    (one without any has no pair there and is not judged: its statement would cost its plan, ~0.1 s, to
    find nothing). ``whole``: the rule always compares transactions as a whole, or some of its hops lack
    its match key; the pairs are then judged once, in that shape (the other shape costs nothing for them
    when there are none)."""
    if not sets:
        return []
    seen, keyless, suffixed = [], [], {}
    for n, parameters in enumerate(sets):
        hop = _condition("reconcile_rule_hop", n, suffixed, parameters)
        seen.append(f"countIf({hop})")
        lacking = _condition("reconcile_keyless_rule", n, suffixed, parameters)
        keyless.append("0" if parameters["whole_always"] else f"countIf({hop}\n  AND {lacking})")
    first = sets[0]
    text = sql("reconcile_keyless", config, keys=_keys_mode(first), resolved="resolved" in first)
    query = Template(text).substitute(seen=",\n       ".join(seen), keyless=",\n       ".join(keyless))
    parameters = first | suffixed | {"since": min(p["since"] for p in sets)}
    counts, lacking_counts = store.client.query(query, parameters=parameters).result_rows[0]
    return [
        p | {"seen": int(counts[n]) > 0, "whole": bool(p["whole_always"] or int(lacking_counts[n]) > 0)}
        for n, p in enumerate(sets)
    ]


def _seen(checks: list[Reconciliation], sets: list[dict]) -> Iterator[tuple[Reconciliation, dict]]:
    """The rules with hops in their window (:func:`_shaped`), each with its parameters."""
    return ((check, parameters) for check, parameters in zip(checks, sets, strict=True) if parameters["seen"])


FLAGGED = (
    "key", "match_key", "field", "left_amount", "right_amount", "left_quantity", "right_quantity", "left_status",
    "right_status", "left_system", "right_system", "currency", "channel", "last_at", "has_left", "has_right",
)  # fmt: skip
"""What the judging pass keeps of each mismatched pair (``flagged`` in ``sql/reconcile_parity.sql``)."""


def _flagged_column(flag: bool, keys: str = "keys") -> str:
    """``flagged`` in ``sql/reconcile_parity.sql``: each group's mismatched pairs (:data:`FLAGGED`) of the keys
    of the parameter ``keys`` (all when it is empty), or none when not ``flag``. In one order whichever thread
    grouped them (by match key, then key): the findings are listed the same on every read."""
    if not flag:
        return "emptyArrayString()"
    return (f"arraySort(x -> (x.2, x.1), groupArrayIf(tuple({', '.join('pair.' + column for column in FLAGGED)}), "
            f"pair.mismatched AND ({{{keys}:Array(String)}} = [] OR has({{{keys}:Array(String)}}, "
            "if(pair.key != '', pair.key, pair.match_key)))))")  # fmt: skip


PAIRS = FLAGGED + ("mismatched", "right_within_sla", "observed_at", "left_at", "right_first_at", "whole", "keyless_at")
"""What the alert loop keeps of every pair it judged (``sql/reconcile_pairs.sql``): what the parity report and
a finding read of it, and what says for which windows its judgment holds (:func:`_kept_report`)."""


_KEY_INDEX = {"BizKey": 1, "OrderId": 2, "CustomerId": 3, "InvoiceId": 4, "ShipmentId": 5, "ReturnId": 6}
"""A hop's keys as ``sql/reconcile_mismatches.sql`` lists them (1-based): the transaction key, then each key column."""


def _detail_parameters(config: AlertsConfig, checks: list[Reconciliation], sets: list[dict]) -> dict:
    """What ``sql/reconcile_mismatches.sql`` needs beyond the judging passes' parameters, for rules of one
    process (numbered in ``checks``' order) judged with ``sets``."""
    process = config.processes[checks[0].process]
    return {
        "value_stage": process.value_stage or "",
        "order_keyed": process.key == "order.id",
        "match_indexes": [_KEY_INDEX["BizKey" if p["by_key"] else p["match_col"]] for p in sets],
        "rule_stages": [[check.left.stage, check.right.stage] for check in checks],
        "lookbacks": [p["lookback_s"] for p in sets],
    }


_PAIR_COLUMNS = {"rule": "UInt16", "match_key": "String", "key": "String"}
"""The flagged pairs ``sql/reconcile_mismatches.sql`` reads: each with its rule's number among those asked."""

Judged = tuple[Reconciliation, dict, list[dict]]
"""A rule, the parameters that judged it, and the mismatched pairs it flagged (:data:`FLAGGED`)."""


def _details(store: Store, config: AlertsConfig, judged: list[Judged]) -> list[Mismatch]:
    """The flagged pairs as findings, with their evidence spans and their transactions' values
    (``sql/reconcile_mismatches.sql``: one read of those transactions' hops per process, whatever the
    number of its rules), in the rules' order."""
    details: dict[tuple[str, str, str], dict] = {}
    by_process: dict[str, list[Judged]] = {}
    for item in judged:
        if item[2]:
            by_process.setdefault(item[0].process, []).append(item)
    for items in by_process.values():
        checks, sets = [check for check, _, _ in items], [parameters for _, parameters, _ in items]
        pairs = [[n, f["match_key"], f["key"]] for n, (_, _, flagged) in enumerate(items) for f in flagged]
        first = sets[0]
        text = sql("reconcile_mismatches", config, keys=bool(first["keys"]), resolved="resolved" in first)
        # the pairs in a table (as the alert loop's path reads reconcile_flagged.sql's), not bound into the text
        with store.columns_table(_PAIR_COLUMNS, [list(column) for column in zip(*pairs, strict=True)],
                                 "biztrace_pairs") as table:  # fmt: skip
            source = "{db:Identifier}.{pairs_table:Identifier}"
            query = Template(text).substitute(
                pair_keys=f"(SELECT key FROM {source})", match_keys=f"(SELECT match_key FROM {source})",
                pairs=f"SELECT rule, match_key, key FROM {source}",
            )  # fmt: skip
            extra = _detail_parameters(config, checks, sets) | {"pairs_table": table}
            for row in store.client.query(query, parameters=first | extra).named_results():
                details[(items[row["rule"]][0].name, row["match_key"], row["key"])] = row
    found = []
    for check, _, flagged in judged:
        for pair in flagged:
            field = pair["field"]
            detail = details.get((check.name, pair["match_key"], pair["key"]), {})
            value = {"amount": ("left_amount", "right_amount"), "quantity": ("left_quantity", "right_quantity"),
                     "status": ("left_status", "right_status")}.get(field)  # fmt: skip
            left = pair[value[0]] if value and pair["has_left"] else None
            right = pair[value[1]] if value and pair["has_right"] else None
            left_system = pair["left_system"] or (check.left.system or "")
            right_system = pair["right_system"] or (check.right.system or "")
            found.append(Mismatch(
                rule=check.name, process=check.process, key=pair["key"], match_key=pair["match_key"], field=field,
                stage=check.right.stage, left_system=left_system, right_system=right_system,
                system_at_fault=left_system if field == "presence" and not pair["has_left"] else right_system,
                left=left, right=right, amount=detail.get("amount"),
                currency=detail.get("currency") or pair["currency"], channel=pair["channel"],
                since=pair["last_at"], evidence=list(detail.get("evidence") or []),
            ))  # fmt: skip
    return found


def _flagged(rows: list[dict]) -> list[dict]:
    return [dict(zip(FLAGGED, pair, strict=True)) for row in rows for pair in row["flagged"]]


def mismatches(
    store: Store,
    config: AlertsConfig,
    now: datetime,
    *,
    since: datetime | None = None,
    rule: str | None = None,
    process: str | None = None,
    keys: list[str] | None = None,
) -> list[Mismatch]:
    """Every disagreement at ``now`` among observations since ``since`` (default: :data:`JUDGED` before).

    Per rule, one pass over its hops finds the mismatched pairs; a second read of those pairs'
    transactions alone (one per process) adds their evidence and their values.
    """
    since = since or now - JUDGED
    checks = _rules(config, rule, process)
    sets = [_parameters(store, config, check, now, since) | {"keys": keys or [], "flag": True} for check in checks]
    with _resolved(store, config, sets) as sets:
        rules = list(_seen(checks, _shaped(store, config, sets)))
        answers = store.side_by_side([partial(_judge, config=config, parameters=parameters, period="month")
                                      for _, parameters in rules])  # fmt: skip
        pairs = zip(rules, answers, strict=True)
        judged = [(check, parameters, _flagged(rows)) for (check, _), (rows, parameters) in pairs]
        return _details(store, config, judged)


@dataclass
class Judging:
    """One reader's reconciliation rules with hops in their window (:func:`judging`), each with its
    parameters, and how their queries read ``{keys}``."""

    config: AlertsConfig
    seen: list[tuple[Reconciliation, dict]]
    keyed: KeysMode

    @property
    def statements(self) -> list[tuple[str, dict, str]]:
        """Each rule's statement flagging its mismatched pairs (``sql/reconcile_flagged.sql``), for
        :meth:`Store.create_memory_tables`: run side by side with each other and with the reader's own."""
        return [(Template(sql("reconcile_flagged")).substitute(pairs=_pairs(self.config, p)), p, "biztrace_flagged")
                for _, p in self.seen]  # fmt: skip

    @property
    def kept_statements(self) -> list[tuple[str, dict, str]]:
        """Each rule's statement keeping every pair it judges (``sql/reconcile_pairs.sql``, :data:`PAIRS`), as
        :attr:`statements` for :meth:`Store.create_memory_tables`; :func:`flagged_of` makes each one's table
        what the statement of :attr:`statements` would have made."""
        return [(Template(sql("reconcile_pairs")).substitute(pairs=_pairs(self.config, p), columns=", ".join(PAIRS)),
                 p | {"rule": check.name}, "biztrace_pairs") for check, p in self.seen]  # fmt: skip


_PAIR_TYPES = {"left_amount": "Nullable(Float64)", "right_amount": "Nullable(Float64)",
               "left_quantity": "Nullable(Float64)", "right_quantity": "Nullable(Float64)", "last_at": "DateTime64(9)",
               "observed_at": "DateTime64(9)", "left_at": "DateTime64(9)", "right_first_at": "DateTime64(9)",
               "keyless_at": "DateTime64(9)", "has_left": "Bool", "has_right": "Bool", "mismatched": "Bool",
               "right_within_sla": "Bool", "whole": "UInt8"}  # fmt: skip
"""The columns of :data:`PAIRS` that are not strings."""


def _no_pairs(store: Store) -> str:
    """An empty Memory table of the kept pairs' columns (``rule``, then :data:`PAIRS`); the caller drops it."""
    columns = {name: _PAIR_TYPES.get(name, "String") for name in ("rule", *PAIRS)}
    return store.create_columns_table(columns, prefix="biztrace_pairs")


def _no_keys(store: Store) -> str:
    """An empty Memory table of keys (``key``); the caller drops it."""
    return store.create_columns_table({"key": "String"}, prefix="biztrace_removed")


def kept_full(store: Store, config: AlertsConfig, judged: dict[str, str]) -> KeptPairs:
    """What a full pass keeps: each rule's pairs it judged (``judged``, by rule, a table of
    :attr:`Judging.kept_statements`; an empty one for a rule with no hop to judge) and nothing judged again
    yet. When a table cannot be made, those made here are dropped (``judged``'s stay the caller's)."""
    made: list[str] = []
    try:
        base = dict(judged)
        for check in config.reconciliation:
            if check.name not in base:
                base[check.name] = _no_pairs(store)
                made.append(base[check.name])
        delta = {}
        for check in config.reconciliation:
            delta[check.name] = _no_pairs(store)
            made.append(delta[check.name])
        made.append(_no_keys(store))
        return KeptPairs(base, delta, made[-1])
    except BaseException:
        for table in made:
            store.client.command(f"DROP TABLE IF EXISTS {store.table(table)}")
        raise


def kept_after(store: Store, before: KeptPairs, again: str, fresh: dict[str, str]) -> KeptPairs:
    """What a pass keeps on the previous pass's pairs (``before``): its base carried over, not copied; the keys
    of the trees judged again (``again``, a table of ``key``) removed from it, with those removed before; each
    rule's pairs judged again since, but those trees', and theirs judged now (``fresh``, by rule). A pair no
    transaction owns yet goes by its match key. The tables made here (all but the base) are the caller's to
    drop; when one cannot be made, those made are dropped."""
    made: list[str] = []
    try:
        made.append(store.create_memory_table(
            f"SELECT key FROM {store.table(before.removed)} UNION ALL SELECT key FROM {store.table(again)}",
            prefix="biztrace_removed",
        ))  # fmt: skip
        delta = {}
        for rule, table in before.delta.items():
            query = (f"SELECT * FROM {store.table(table)} WHERE if(key != '', key, match_key) "
                     f"NOT IN (SELECT key FROM {store.table(again)})")  # fmt: skip
            if rule in fresh:
                query += f" UNION ALL SELECT * FROM {store.table(fresh[rule])}"
            delta[rule] = store.create_memory_table(query, prefix="biztrace_pairs")
            made.append(delta[rule])
        return KeptPairs(before.base, delta, made[0])
    except BaseException:
        for table in made:
            store.client.command(f"DROP TABLE IF EXISTS {store.table(table)}")
        raise


def flagged_of(store: Store, pairs: str) -> str:
    """The mismatched pairs of one rule's kept pairs (a table of :attr:`Judging.kept_statements`), as
    ``sql/reconcile_flagged.sql`` flags them, in a Memory table the caller drops."""
    return store.create_memory_table(f"SELECT {', '.join(FLAGGED)} FROM {store.table(pairs)} WHERE mismatched",
                                     prefix="biztrace_flagged")  # fmt: skip


@contextmanager
def judging(
    store: Store,
    config: AlertsConfig,
    now: datetime,
    *,
    since: datetime | None = None,
    keys: list[str] | None = None,
    tree: list[str] | None = None,
    scope: str | None = None,
    resolved: dict | None = None,
) -> Iterator[Judging]:
    """The rules to judge at ``now`` among observations since ``since`` (default: 90 days, as
    :func:`mismatches`), of the transactions of ``keys`` (None: all; ``tree``: their trees, when the
    caller walked them already; ``scope``: their hops placed already, :func:`transactions.hops_scope`;
    ``resolved``: the caller's table of the key graph's answers for the same keys,
    :func:`transactions.resolution`; else one is kept while the block runs)."""
    since = since or now - JUDGED
    asked = {"keys": keys or []}
    if keys:  # the trees walked once for every rule (in each query, every step would be read again)
        asked["tree"] = tree if tree is not None else key_tree(store, keys, config)
        if scope is not None:
            asked["scope"] = scope
    checks = _rules(config, None, None)
    sets = [_parameters(store, config, check, now, since) | asked for check in checks]
    with _resolved(store, config, sets, resolved) as sets:
        yield Judging(config, list(_seen(checks, _shaped(store, config, sets))), _keys_mode(asked))


NO_VALUES = (
    "(SELECT '' AS process, '' AS key, CAST(NULL AS Nullable(Float64)) AS amount, '' AS currency, '' AS priority, "
    "'' AS channel LIMIT 0)"
)
"""No transaction's value, priority or channel: for a detection that fills them afterwards."""


def insert_flagged(
    store: Store, config: AlertsConfig, judged: Judging, flagged: list[str], detected: str, values: str = NO_VALUES
) -> None:
    """Append the pairs each rule flagged (``flagged``: the tables of ``judged.statements``) to
    ``detected``, a table of ``sql/exceptions_detected.sql``'s shape in the store's database: each pair as
    :func:`mismatches` makes it a finding (its system at fault, evidence, value and detail), all in
    ClickHouse (``sql/reconcile_detected.sql``): one read of the flagged pairs' hops per rule, no row
    through Python. ``values``: the classified transactions (a table or subquery shaped like
    ``sql/snapshot.sql``) whose priority and channel each finding takes."""
    for (check, parameters), table in zip(judged.seen, flagged, strict=True):
        if not int(store.client.command(f"SELECT count() FROM {store.table(table)}")):
            continue
        source = "{db:Identifier}.{flagged:Identifier}"
        details = Template(
            sql("reconcile_mismatches", config, keys=judged.keyed, resolved="resolved" in parameters)
        ).substitute(
            pair_keys=f"(SELECT key FROM {source})", match_keys=f"(SELECT match_key FROM {source})",
            pairs=f"SELECT DISTINCT 0 AS rule, match_key, key FROM {source}",
        )  # fmt: skip
        query = Template(sql("reconcile_detected")).substitute(details=details, values=values)
        extra = _detail_parameters(config, [check], [parameters]) | {
            "rule": check.name, "detected": detected, "flagged": table}  # fmt: skip
        store.client.command(query, parameters=parameters | extra)


def due_keys(store: Store, config: AlertsConfig, after: datetime, now: datetime) -> list[str]:
    """The keys of the transactions whose reconciliation the clock alone changed in ``(after, now]``:
    a side seen without the other becomes a presence mismatch once the rule's grace has passed
    (``sql/reconcile_due.sql``), with no new hop. What a pass that judges only the changed
    transactions again must add to them (:func:`biztrace.readmodel.exceptions.sync`)."""
    keys: set[str] = set()
    for check in config.reconciliation:
        sides = [check.left.stage] if check.presence in ("left_requires_right", "both") else []
        if check.presence in ("right_requires_left", "both") and check.grace:  # without a grace: when its hop came
            sides.append(check.right.stage)
        for stage in sides:
            parameters = process_parameters(config) | {
                "db": store.database, "process": check.process, "stage": stage,
                "match_col": KEY_COLUMNS[check.match_on or config.processes[check.process].key],
                "grace_s": int(check.grace.total_seconds()), "after": after, "now": now, "keys": [],
            }  # fmt: skip
            rows = store.client.query(sql("reconcile_due", config, keys=False), parameters=parameters).result_rows
            keys.update(key for (key,) in rows)
    return sorted(keys)


class ParityRow(BaseModel):
    """One rule's pairs in one period and channel."""

    rule: str
    period: datetime
    channel: str
    left_system: str
    right_system: str
    pairs: int
    left_count: int = Field(description="observations on the left (e.g. shipments)")
    right_count: int = Field(description="observations on the right (e.g. invoices)")
    left_total: float
    right_total: float
    variance: float = Field(description="right_total - left_total")
    left_quantity: float
    right_quantity: float
    mismatched: int
    mismatch_rate: float
    right_within_sla_share: float | None = Field(description="e.g. shipped orders posted to finance within SLA")


def parity(
    store: Store,
    config: AlertsConfig,
    now: datetime,
    *,
    since: datetime | None = None,
    period: Period = "day",
    rule: str | None = None,
    process: str | None = None,
    channel: str | None = None,
) -> list[ParityRow]:
    """Per period and channel, each rule's counts, totals, variance and mismatch rate."""
    since = since or now - timedelta(days=30)
    rows: list[ParityRow] = []
    checks = _rules(config, rule, process)
    sets = [_parameters(store, config, check, now, since) | {"channel_filter": channel or ""} for check in checks]
    with _resolved(store, config, sets) as sets:
        for check, parameters in _seen(checks, _shaped(store, config, sets)):
            rows.extend(_parity_row(check, row) for row in _judge(store, config, parameters, period)[0])
    return rows


def _parity_row(check: Reconciliation, row: dict) -> ParityRow:
    return ParityRow(
        rule=check.name, period=row["period"], channel=row["channel"],
        left_system=check.left.system or check.left.stage, right_system=check.right.system or check.right.stage,
        pairs=row["pairs"], left_count=row["left_count"], right_count=row["right_count"],
        left_total=round(row["left_total"], 2), right_total=round(row["right_total"], 2),
        variance=round(row["right_total"] - row["left_total"], 2), left_quantity=row["left_quantity"],
        right_quantity=row["right_quantity"], mismatched=row["mismatched_pairs"],
        mismatch_rate=row["mismatched_pairs"] / row["pairs"] if row["pairs"] else 0.0,
        right_within_sla_share=row["within_sla"],
    )  # fmt: skip


class SystemParityRow(BaseModel):
    """What one system saw in one period and channel."""

    process: str
    period: datetime
    system: str
    channel: str
    transactions: int = Field(description="distinct transactions the system reported (order-count parity)")
    events: int
    duplicate_events: int
    duplicate_rate: float


def system_parity(
    store: Store,
    config: AlertsConfig,
    now: datetime,
    *,
    since: datetime | None = None,
    period: Period = "day",
    process: str | None = None,
    channel: str | None = None,
    system: str | None = None,
    resolved: dict | None = None,
) -> list[SystemParityRow]:
    """Per period, system and channel: transactions seen and duplicate message rate. ``resolved``: a
    reader's table of the key graph's answers (:func:`transactions.resolution`), when it has one."""
    since = since or now - timedelta(days=30)
    bucket = BUCKETS[period]
    query = Template(sql("system_parity", config, keys=False, resolved=bool(resolved))).safe_substitute(bucket=bucket)
    parameters = process_parameters(config) | {
        "db": store.database, "now": now, "since": since, "process_filter": process or "",
        "channel_filter": channel or "", "system_filter": system or ""} | (resolved or {})  # fmt: skip
    rows = [SystemParityRow(**row) for row in store.client.query(query, parameters=parameters).named_results()]
    order = list(config.processes)
    rows.sort(key=lambda row: order.index(row.process))  # the configuration's order, as before
    return rows


_PARITY_COLUMNS = ", ".join((*FLAGGED, "mismatched", "right_within_sla", "observed_at"))
"""What ``sql/reconcile_parity.sql`` reads of each pair."""

_WINDOWS = """
SELECT rule_n,
       countIf(whole AND keyless_at >= {since:DateTime64(9)}) > 0 AS window_whole,
       groupUniqArrayIf(k, NOT timely) AS untimely,
       groupUniqArrayIf(k, timely AND whole AND NOT whole_always) AS whole_pairs,
       groupUniqArrayIf(k, timely AND whole AND NOT whole_always
                        AND keyless_at < {since:DateTime64(9)} - toIntervalSecond(lookback_s)) AS whole_before
FROM (SELECT rule_n, whole_always, whole, keyless_at, lookback_s, if(key != '', key, match_key) AS k,
             (NOT has_left OR left_at >= {since:DateTime64(9)} - toIntervalSecond(lookback_s))
             AND (NOT has_right OR right_first_at >= {since:DateTime64(9)}) AS timely
      FROM ($kept))
GROUP BY rule_n"""
"""Of the rules' kept pairs with a hop in a window from ``{since}`` (``$kept``: each rule's, numbered
``rule_n``, with its ``lookback_s`` and ``whole_always``): whether the window compares a rule's transactions
as a whole (a hop in it lacks the match key: ``sql/reconcile_keyless.sql``'s count), and the transactions
(else match keys) of the pairs whose judgment may not hold for it. A
kept pair's holds when it was judged on exactly the hops the window's reading (``sql/reconcile.sql`` from
``{since}``) gives it: none of its left side before the look-back, none of its right side before
``{since}`` (``timely``), and compared as a whole as in the window, which compares transactions as a whole
only where a hop in it lacks the match key, and then only those with such a hop since the look-back
(``whole_before``: those without)."""


def _kept_report(
    store: Store, config: AlertsConfig, checks: list[Reconciliation], sets: list[dict], kept: KeptPairs,
    period: Period,
) -> tuple[list[ParityRow], list[Judged]]:  # fmt: skip
    """The parity rows and the mismatched pairs of the window of ``sets`` (each rule's parameters, as the
    judging's) from the pairs the alert loop kept at the same time (``kept``: every pair judged on every hop
    of its retention, ``sql/reconcile_pairs.sql``): the same answer as judging the window's hops, every rule
    in two statements. A kept pair counts where its judgment holds for the window (:data:`_WINDOWS`); the
    transactions of those that may not, with a hop in the window (a right side reported before the window, a
    left one before the look-back: rare), are judged again on the window's hops (their hops placed once for
    every rule) and counted instead of theirs."""

    # the pairs with a hop in the window: a pair the window's reading finds there has one (its first left
    # side, else its latest right one, falls in it)
    relevant = "last_at >= {since:DateTime64(9)}"

    def numbered(n: int, columns: str) -> str:  # rule n's kept pairs, with its number and look-back
        return (f"SELECT {n} AS rule_n, {int(sets[n]['lookback_s'])} AS lookback_s, "
                f"{'true' if sets[n]['whole_always'] else 'false'} AS whole_always, {columns} "
                f"FROM {kept.source(store, checks[n].name, relevant)}")  # fmt: skip

    window_columns = "whole, keyless_at, key, match_key, last_at, has_left, left_at, has_right, right_first_at"
    query = Template(_WINDOWS).substitute(kept=" UNION ALL ".join(numbered(n, window_columns)
                                                                 for n in range(len(checks))))  # fmt: skip
    found = {row[0]: row[1:] for row in store.client.query(query, parameters=sets[0]).result_rows}
    wholes, again = [], set()
    for n, parameters in enumerate(sets):
        window_whole, untimely, whole_pairs, whole_before = found.get(n, (False, [], [], []))
        wholes.append(bool(parameters["whole_always"] or window_whole))
        again |= {*untimely, *(whole_before if window_whole else whole_pairs)}
    with ExitStack() as stack:
        tree: list[str] = []
        scope = None
        if again:
            tree = key_tree(store, sorted(again), config)
            scope = stack.enter_context(hops_scope(store, config, tree, tree))
        in_window = "observed_at >= {since:DateTime64(9)}"
        sources = [f"SELECT {n} AS rule_n, {_PARITY_COLUMNS} FROM {kept.source(store, check.name, in_window)} "
                   "WHERE NOT has({tree:Array(String)}, if(key != '', key, match_key))"
                   for n, check in enumerate(checks)]  # fmt: skip
        if tree:  # their pairs judged again on the window's hops, in the window's shape, each rule in a table
            statements = []
            for n, (parameters, whole) in enumerate(zip(sets, wholes, strict=True)):
                keyed = {name: value for name, value in parameters.items() if name != "resolved"}
                keyed |= {"keys": tree, "tree": tree, "scope": scope, "whole": whole}
                statements.append((f"SELECT {n} AS rule_n, {_PARITY_COLUMNS} FROM ({_pairs(config, keyed)}) WHERE "
                                   "match_key != '' AND has({tree:Array(String)}, if(key != '', key, match_key))",
                                   keyed, "biztrace_again"))  # fmt: skip
            for table in stack.enter_context(store.memory_tables(statements)):
                sources.append(f"SELECT * FROM {store.table(table)}")
        query = Template(sql("reconcile_parity")).substitute(
            by="rule_n,", bucket=BUCKETS[period], pairs=" UNION ALL ".join(sources),
            flagged=_flagged_column(True, keys="flag_keys"))  # fmt: skip
        parameters = sets[0] | {"tree": tree, "flag_keys": []}
        rows = list(store.client.query(query, parameters=parameters).named_results())
    answers: list[list[dict]] = [[] for _ in checks]
    for row in rows:
        answers[row.pop("rule_n")].append(row)
    table: list[ParityRow] = []
    judged: list[Judged] = []
    for check, parameters, rows in zip(checks, sets, answers, strict=True):
        rows = [row for row in rows if row["pairs"]]
        table.extend(_parity_row(check, row) for row in rows)
        judged.append((check, parameters, _flagged(rows)))
    return table, judged


def report(
    store: Store,
    config: AlertsConfig,
    now: datetime,
    *,
    since: datetime | None = None,
    period: Period = "day",
    rule: str | None = None,
    process: str | None = None,
    channel: str | None = None,
    system: str | None = None,
    systems: bool = True,
    from_pass: bool = True,
    resolved: dict | None = None,
) -> dict[str, list]:
    """The parity table, what each system saw (unless ``systems`` is false), and the mismatched
    transactions. ``resolved``: the caller's table of the key graph's answers for every hop
    (:func:`transactions.resolution` without keys, as the alert pass's rules share it), else computed here.

    Each rule's hops are judged once for both the parity table and the mismatch list (the parity
    pass flags the mismatched pairs; only their hops are read again, for the details, once per process).

    Asked at the time of the alert loop's last pass (the dashboard's pages beside the loop, the loop's own
    ``mismatch_rate`` rule), and not after a backfill since (:func:`biztrace.readmodel.snapshots.settled`),
    the parity and the mismatches are read from every pair that pass judged and kept (:func:`_kept_report`)
    for any window of its retention, period and filters: the same answer as judging the window's hops; only
    what each system saw is read from the hops. ``from_pass=False``: judged here whatever the loop kept (a
    benchmark's, a test's comparison).
    """
    from biztrace.readmodel import last_pass, snapshots  # snapshots reads rules, rules this module

    since = since or now - timedelta(days=30)
    base = process_parameters(config) | {"db": store.database, "keys": []}
    # what each system saw (its own statement, whether the pairs are judged here or were by the pass)
    seen_by_systems = partial(system_parity, config=config, now=now, since=since, period=period, process=process,
                              channel=channel, system=system)  # fmt: skip
    table: list[ParityRow] = []
    checks = _rules(config, rule, process)
    extra = {"channel_filter": channel or "", "flag": True}
    sets = [_parameters(store, config, check, now, since) | extra for check in checks]
    with last_pass.at(store, config, now) as held:
        kept = last_pass.kept_pairs(held) if from_pass and held is not None and checks else None
        if (kept is not None and all(check.name in kept.base for check in checks)
                and naive_utc(since) >= naive_utc(now) - JUDGED and snapshots.settled(store)):  # fmt: skip
            # the pairs the alert loop judged at this time: only what each system saw is read from the hops
            with nullcontext(resolved) if resolved else resolution(store, config, base, False) as resolved:
                sets = [parameters | resolved for parameters in sets]
                calls: list = [partial(_kept_report, config=config, checks=checks, sets=sets, kept=kept, period=period)]
                if systems:
                    calls.append(partial(seen_by_systems, resolved=resolved))
                answers = store.side_by_side(calls)
                table, judged = answers[0]
                found = [m for m in _details(store, config, judged) if channel is None or m.channel == channel]
            return {"parity": table, "systems": answers[-1] if systems else [], "mismatches": found}
    # the key graph's answers once for every statement below; none computed when nothing will read them
    given = nullcontext(resolved) if resolved else None
    with given or (resolution(store, config, base, False) if checks or systems else nullcontext({})) as resolved:
        sets = [parameters | resolved for parameters in sets]
        rules = list(_seen(checks, _shaped(store, config, sets)))
        # each rule's judging and what each system saw, side by side (each statement plans alone, ~0.1 s)
        calls: list = [partial(_judge, config=config, parameters=parameters, period=period) for _, parameters in rules]
        if systems:
            calls.append(partial(seen_by_systems, resolved=resolved))
        answers = store.side_by_side(calls)
        judged: list[Judged] = []
        for (check, _), (rows, parameters) in zip(rules, answers, strict=False):
            table.extend(_parity_row(check, row) for row in rows)
            judged.append((check, parameters, _flagged(rows)))
        found = [m for m in _details(store, config, judged) if channel is None or m.channel == channel]
        seen = answers[-1] if systems else []
    return {"parity": table, "systems": seen, "mismatches": found}
