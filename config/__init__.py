"""Processes, SLAs, rules, routes and receivers: one YAML file, validated completely on load.

The built-in ``defaults.yaml`` declares the processes of ``shared/CONVENTIONS.md``; a user
file adds or overrides processes, rules and runbooks by name, and replaces ``route``,
``receivers`` and ``inhibit_rules`` when it has them. A mistake is reported as
``file:line: field: problem`` (:class:`ConfigError`), never as a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from biztrace.config.calendars import Calendar
from biztrace.config.calendars import reference_problems as calendar_problems
from biztrace.config.errors import ConfigError, Problem
from biztrace.config.mapping import Mapping
from biztrace.config.receivers import Receiver, check_http_url
from biztrace.config.replay import ReplayTarget
from biztrace.config.silences import check_matchers

KEY_COLUMNS = {
    "order.id": "OrderId",
    "customer.id": "CustomerId",
    "invoice.id": "InvoiceId",
    "shipment.id": "ShipmentId",
    "return.id": "ReturnId",
}
"""Attributes that can key a process, and their column in ``biz_hops``."""

MAX_STAGES = 255
"""Stages per process: a stage is numbered process * (MAX_STAGES + 1) + index in the transaction query."""

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(value: object) -> timedelta:
    """``90s``, ``30m``, ``4h``, ``2d``, ``1h30m``, a number of seconds, or a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    text = str(value).strip()
    match = _DURATION.match(text)
    if not text or not match or not any(match.groups()):
        raise ValueError(f"{value!r} is not a duration like 90s, 30m, 4h, 2d or 1h30m")
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


MAX_DURATION = timedelta(days=3650)
"""The longest duration a configuration may give (longer ones overflow a pass's window arithmetic)."""


def _bounded(value: timedelta) -> timedelta:
    if value < timedelta(0):
        raise ValueError("a duration cannot be negative")
    if value > MAX_DURATION:
        raise ValueError(f"{value.days}d is longer than {MAX_DURATION.days}d")
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration), AfterValidator(_bounded)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SLA(_Strict):
    """Time allowed to reach a stage, optionally different per priority and per channel, and per
    customer (``customer.id``) or trading partner (the system that reported the capture stage) by
    contract. The most specific applies: customer, then partner, then priority, then channel."""

    within: Duration
    since: Literal["previous", "start"] = Field("previous", description="measured from the previous stage or the first")
    by_priority: dict[str, Duration] = Field(default_factory=dict)
    by_channel: dict[str, Duration] = Field(default_factory=dict)
    calendar: str | None = Field(None, description="the business calendar its clock runs on (config.calendars)")
    by_customer: dict[str, Duration] = Field(
        default_factory=dict, description="contractual SLAs: customer.id -> time allowed (overrides every other)"
    )
    by_partner: dict[str, Duration] = Field(
        default_factory=dict,
        description="contractual SLAs: trading partner (the system that reported the capture stage) -> time allowed",
    )

    @field_validator("by_priority", "by_channel", "by_customer", "by_partner")
    @classmethod
    def _named(cls, overrides: dict[str, timedelta]) -> dict[str, timedelta]:
        if any(not name.strip() for name in overrides):
            raise ValueError("an override needs a name (an empty one matches nothing)")
        return overrides


class Stage(_Strict):
    """One milestone of a process."""

    name: str = Field(min_length=1)
    system: str = Field("", description="the system expected to reach this stage: at fault when it is overdue")
    sla: SLA | None = None


class Process(_Strict):
    """A business process: its key, ordered stages, and which stage completes it."""

    key: str = Field(description="the attribute that keys a transaction: " + ", ".join(KEY_COLUMNS))
    stages: list[Stage] = Field(min_length=1, max_length=MAX_STAGES, description=f"at most {MAX_STAGES}")
    completes_at: str | None = Field(None, description="the stage that completes it (default: the last)")
    end_to_end: SLA | None = None
    calendar: str | None = Field(None, description="the business calendar of its SLAs (config.calendars)")
    value_stage: str | None = Field(
        None,
        description="the stage whose amount is the transaction's value (its system of record's acceptance, e.g. "
        "order.accepted); without it, or before it is reached, the first amount seen",
    )
    repeats: bool = Field(
        False,
        description="its key is reused, one cycle after another (master data: one customer, many updates): each "
        "hop of its first stage that carries its key starts a cycle, and the transaction is its key's latest "
        "cycle, the hops since then",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Process:
        if self.key not in KEY_COLUMNS:
            raise ValueError(f"key {self.key!r} is not one of {', '.join(KEY_COLUMNS)}")
        names = [stage.name for stage in self.stages]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"stage {repeated[0]!r} is listed twice")
        if self.completes_at is None:
            self.completes_at = names[-1]
        elif self.completes_at not in names:
            raise ValueError(f"completes_at {self.completes_at!r} is not one of its stages")
        if self.value_stage is not None and self.value_stage not in names:
            raise ValueError(f"value_stage {self.value_stage!r} is not one of its stages")
        if self.end_to_end is not None and (self.end_to_end.by_customer or self.end_to_end.by_partner):
            raise ValueError("end_to_end: by_customer and by_partner apply to stage SLAs only (put the contract "
                             "on the stages it covers)")  # fmt: skip
        return self

    @property
    def key_column(self) -> str:
        return KEY_COLUMNS[self.key]

    def stage_names(self) -> list[str]:
        return [stage.name for stage in self.stages]


RuleKind = Literal[
    "stuck_count", "stuck_share", "sla_adherence", "hop_latency_p95",
    "error_rate", "duplicate_rate", "dead_letters", "mismatch_rate",
]  # fmt: skip
DEFAULT_GROUPING: dict[str, list[str]] = {
    "stuck_count": ["process"],
    "stuck_share": ["process"],
    "sla_adherence": ["process"],
    "hop_latency_p95": ["system", "span_name"],
    "error_rate": ["process"],
    "duplicate_rate": ["process"],
    "dead_letters": ["process", "system"],
    "mismatch_rate": ["process"],
}
"""Labels each rule kind reports by, unless the rule says ``by:``."""

_TRANSACTION_LABELS = ("process", "stage", "system", "channel", "priority")
REPORTED_LABELS: dict[str, tuple[str, ...]] = {
    "stuck_count": _TRANSACTION_LABELS,
    "stuck_share": _TRANSACTION_LABELS,
    "sla_adherence": _TRANSACTION_LABELS,
    "error_rate": _TRANSACTION_LABELS,
    "hop_latency_p95": ("process", "stage", "system", "span_name"),
    "duplicate_rate": ("process", "stage", "system"),
    "dead_letters": ("process", "stage", "system"),
    "mismatch_rate": ("process",),
}
"""The labels each rule kind's query can report: what ``by:`` may name (the read model's rule columns)."""

SAMPLED: dict[str, str] = {
    "sla_adherence": "transactions measured",
    "stuck_share": "unfinished transactions",
    "error_rate": "transactions",
    "duplicate_rate": "business events",
    "mismatch_rate": "reconciled pairs",
    "hop_latency_p95": "hops",
}
"""The kinds whose value is a share or a percentile of something counted (a rule's ``min_sample``): what."""


class Rule(_Strict):
    """An alert rule, evaluated as SQL in ClickHouse on every pass."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="becomes the alertname label")
    kind: RuleKind
    threshold: float
    process: str | None = None
    stage: str | None = None
    system: str | None = None
    window: Duration = Field(
        timedelta(hours=1), gt=timedelta(0), description="time window of rates, latencies and counts"
    )
    for_: Duration = Field(timedelta(0), alias="for", description="how long the condition holds before firing")
    severity: Literal["critical", "error", "warning", "info"] = "warning"
    by: list[str] | None = Field(None, description="labels to report by (default depends on the kind)")
    labels: dict[str, str] = Field(default_factory=dict)
    summary: str = Field("", description="annotation; {value} is replaced, e.g. '{value:.0f} orders stuck', and "
                         "{sample} by what a share or percentile counted (e.g. transactions measured)")  # fmt: skip
    min_sample: int = Field(0, ge=0, description="a share or percentile of fewer than this many (its "
                            "transactions, events, pairs or hops) is reported but never fires: three orders "
                            "measured are no trend (0: any)")  # fmt: skip

    @field_validator("min_sample")
    @classmethod
    def _sampled(cls, min_sample: int, info: ValidationInfo) -> int:
        kind = info.data.get("kind")
        if min_sample and kind is not None and kind not in SAMPLED:
            raise ValueError(f"a {kind} rule counts; min_sample applies to {', '.join(SAMPLED)}")
        return min_sample

    @field_validator("by")
    @classmethod
    def _reported(cls, by: list[str] | None, info: ValidationInfo) -> list[str] | None:
        kind = info.data.get("kind")
        if by is None or kind not in REPORTED_LABELS:
            return by
        allowed = REPORTED_LABELS[kind]
        unknown = [label for label in by if label not in allowed]
        if unknown:
            raise ValueError(f"a {kind} rule reports {', '.join(allowed)}; not {', '.join(map(repr, unknown))}")
        if len(set(by)) != len(by):
            raise ValueError("a label is listed twice")
        return by

    @property
    def fires_below(self) -> bool:
        """SLA adherence fires when it drops under the threshold; every other kind above it."""
        return self.kind == "sla_adherence"

    def grouping(self) -> list[str]:
        return self.by if self.by is not None else DEFAULT_GROUPING[self.kind]


class Route(_Strict):
    """A node of the routing tree; children inherit what they do not set (Alertmanager)."""

    receiver: str | None = None
    matchers: dict[str, str] = Field(default_factory=dict, description="label: value, or label: ~regex")
    group_by: list[str] | None = None
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    continue_: bool = Field(False, alias="continue")
    routes: list[Route] = Field(default_factory=list)

    @field_validator("matchers")
    @classmethod
    def _matchers(cls, matchers: dict[str, str]) -> dict[str, str]:
        return check_matchers(matchers)


class Observation(_Strict):
    """One side of a reconciliation: hops of a stage, optionally of one system."""

    stage: str
    system: str | None = None


class Tolerance(_Strict):
    """Differences up to max(abs, rel * |left|) are not mismatches."""

    amount_abs: float = Field(0.01, ge=0)
    amount_rel: float = Field(0.0, ge=0)
    quantity_abs: float = Field(0.0, ge=0)
    quantity_rel: float = Field(0.0, ge=0)


class Reconciliation(_Strict):
    """Two stages' observations of the same thing that must agree.

    A side is every hop of its stage, whoever reported it, unless it pins a ``system``.
    Observations pair up by ``match_on`` (default: the process key). Matching by
    ``shipment.id`` compares each invoice with its shipment, so partial shipments and
    backorders are legitimate differences from the captured order, not mismatches. A
    transaction with a hop of either stage lacking the match key is compared as a whole:
    all its left observations against all its right ones, summed.
    """

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    process: str
    left: Observation
    right: Observation
    match_on: str | None = Field(None, description="attribute pairing the observations: " + ", ".join(KEY_COLUMNS))
    compare: list[Literal["amount", "quantity", "status"]] = Field(default_factory=lambda: ["amount", "quantity"])
    tolerance: Tolerance = Field(default_factory=Tolerance)
    tolerance_by_currency: dict[str, Tolerance] = Field(default_factory=dict)
    status_map: dict[str, str] = Field(default_factory=dict, description="left status -> the right status it means")
    presence: Literal["none", "right_requires_left", "left_requires_right", "both"] = Field(
        "right_requires_left", description="which side existing without the other is a mismatch"
    )
    grace: Duration = Field(
        timedelta(0),
        description="how long one side may lag behind the other before its absence counts (systems that report "
        "late or in batches: a right side first seen less than this ago without its left one is not a mismatch "
        "yet, nor a left side without its right one)",
    )
    direction: Literal["both", "right_above_left"] = Field(
        "both",
        description="which differences count: both ways, or only the right side above the left (e.g. invoiced "
        "more than accepted: less is partial invoicing, not a mismatch)",
    )
    whole: bool = Field(
        False,
        description="always compare each transaction as a whole: all its left observations against all its right "
        "ones, each observation's latest report summed (e.g. every invoice of an order against its acceptance)",
    )

    @model_validator(mode="after")
    def _keys(self) -> Reconciliation:
        if self.match_on is not None and self.match_on not in KEY_COLUMNS:
            raise ValueError(f"match_on {self.match_on!r} is not one of {', '.join(KEY_COLUMNS)}")
        if "status" in self.compare and not self.status_map:
            raise ValueError("comparing status needs a status_map (left status: right status)")
        return self


class InhibitRule(_Strict):
    """While a source alert fires, matching target alerts are not notified."""

    source_matchers: dict[str, str]
    target_matchers: dict[str, str]
    equal: list[str] = Field(default_factory=list)

    @field_validator("source_matchers", "target_matchers")
    @classmethod
    def _matchers(cls, matchers: dict[str, str]) -> dict[str, str]:
        return check_matchers(matchers)


class Runbook(_Strict):
    """A runbook link per exception kind, optionally per process."""

    kind: str
    url: str
    process: str | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        return check_http_url(url)


class AlertsConfig(_Strict):
    """The whole configuration."""

    evaluation_interval: Duration = Field(timedelta(minutes=1), gt=timedelta(0), description="time between passes")
    processes: dict[str, Process]
    rules: list[Rule] = Field(default_factory=list)
    route: Route = Field(default_factory=lambda: Route(receiver="default"))
    receivers: list[Receiver] = Field(default_factory=lambda: [Receiver(name="default")])
    inhibit_rules: list[InhibitRule] = Field(default_factory=list)
    runbooks: list[Runbook] = Field(default_factory=list)
    reconciliation: list[Reconciliation] = Field(default_factory=list)
    mappings: list[Mapping] = Field(default_factory=list, description="rules making non-conventional spans hops")
    replay: list[ReplayTarget] = Field(default_factory=list, description="where to ask for a transaction's replay")
    calendars: dict[str, Calendar] = Field(default_factory=dict, description="business calendars by name")
    sites: dict[str, str] = Field(default_factory=dict, description="system (site) -> the calendar of its stages")

    @model_validator(mode="after")
    def _references(self) -> AlertsConfig:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        for index, check in enumerate(self.reconciliation):
            process = self.processes.get(check.process)
            if process is None:
                problems.append(
                    (
                        ("reconciliation", index, "process"),
                        f"reconciliation {check.name!r}: process {check.process!r} is not defined",
                    )
                )
                continue
            for side_name, side in (("left", check.left), ("right", check.right)):
                if side.stage not in process.stage_names():
                    problems.append(
                        (
                            ("reconciliation", index, side_name, "stage"),
                            f"reconciliation {check.name!r}: {side.stage!r} is not a stage of {check.process}",
                        )
                    )
        names = [rule.name for rule in self.rules]
        for index, rule in enumerate(self.rules):
            if names.count(rule.name) > 1:
                problems.append((("rules", index, "name"), f"rule {rule.name!r} is defined twice"))
            if rule.process is not None and rule.process not in self.processes:
                problems.append(
                    (("rules", index, "process"), f"rule {rule.name!r}: process {rule.process!r} is not defined")
                )
            elif rule.stage is not None:
                owners = [self.processes[rule.process]] if rule.process else list(self.processes.values())
                if not any(rule.stage in p.stage_names() for p in owners):
                    problems.append(
                        (
                            ("rules", index, "stage"),
                            f"rule {rule.name!r}: stage {rule.stage!r} is not a stage of its process",
                        )
                    )
        problems.extend(calendar_problems(self))
        receivers = [receiver.name for receiver in self.receivers]
        for index, name in enumerate(receivers):
            if receivers.index(name) != index:
                problems.append((("receivers", index, "name"), f"receiver {name!r} is defined twice"))
        if self.route.receiver is None:
            problems.append((("route",), "the top route needs a receiver"))
        for where, route in _walk(self.route, ("route",)):
            if route.receiver is not None and route.receiver not in receivers:
                problems.append(((*where, "receiver"), f"receiver {route.receiver!r} is not defined under receivers"))
        if problems:
            raise Problems(problems)
        return self

    def runbook(self, kind: str, process: str | None) -> str:
        """The most specific runbook URL for an exception kind and process ('' when none)."""
        best = ""
        for runbook in self.runbooks:
            if runbook.kind == kind and runbook.process == process:
                return runbook.url
            if runbook.kind == kind and runbook.process is None:
                best = runbook.url
        return best


class Problems(ValueError):
    """Several problems at once, each at its place in the configuration (expanded by :func:`load`)."""

    def __init__(self, problems: list[tuple[tuple[str | int, ...], str]]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, loc))}: {message}" for loc, message in problems))
        self.problems = problems


def _walk(route: Route, where: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], Route]]:
    yield where, route
    for index, child in enumerate(route.routes):
        yield from _walk(child, (*where, "routes", index))


def _merge(base: dict[str, Any], user: dict[str, Any]) -> tuple[dict[str, Any], dict[tuple[str, int], int]]:
    """Defaults with the user's file over them; also maps merged list positions to the user's."""
    merged = dict(base)
    origin: dict[tuple[str, int], int] = {}
    merged["processes"] = {**(base.get("processes") or {}), **(user.get("processes") or {})}
    for section in ("rules", "runbooks", "reconciliation"):
        by_name: dict[object, tuple[object, int | None]] = {_identity(i): (i, None) for i in base.get(section) or []}
        for position, item in enumerate(user.get(section) or []):
            by_name[_identity(item)] = (item, position)
        merged[section] = [item for item, _ in by_name.values()]
        for index, (_, position) in enumerate(by_name.values()):
            if position is not None:
                origin[(section, index)] = position
    for section in ("route", "receivers", "inhibit_rules", "evaluation_interval"):
        if section in user:
            merged[section] = user[section]
    unknown = set(user) - {"processes", "rules", "runbooks", "route", "receivers", "inhibit_rules",
                           "evaluation_interval", "reconciliation"}  # fmt: skip
    for section in unknown:
        merged[section] = user[section]  # reported by validation as an unknown field
    return merged, origin


def _identity(item: object) -> object:
    if isinstance(item, dict):
        return item.get("name") or (item.get("kind"), item.get("process"))
    return id(item)


def _read(text: str, source: str) -> tuple[dict[str, Any], yaml.Node | None]:
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        raise ConfigError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{source}:1: the configuration must be a mapping (processes:, rules:, ...)")
    return data, node


def _line(node: yaml.Node | None, loc: tuple[object, ...]) -> int | None:
    """The line of the YAML node at a pydantic error location (best effort)."""
    best = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = next((value for key, value in node.value if key.value == part), None)
            if found is None:
                key = str(part).rstrip("_")
                found = next((value for k, value in node.value if k.value == key), None)
            node = found
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        if node is None:
            break
        best = node.start_mark.line + 1
    return best


def load(path: str | Path | None = None) -> AlertsConfig:
    """The built-in defaults, with the user's file (if any) merged over them.

    Raises:
        ConfigError: naming the file, the line and the field at fault.
    """
    defaults_text = (resources.files("biztrace.config") / "defaults.yaml").read_text()
    base, _ = _read(defaults_text, "config/defaults.yaml")
    if path is None:
        return _validate(base, {}, None, "config/defaults.yaml")
    source = str(path)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read the configuration: {exc.strerror or exc}") from exc
    user, node = _read(text, source)
    merged, origin = _merge(base, user)
    return _validate(merged, origin, node, source)


def loads(text: str, source: str = "<config>") -> AlertsConfig:
    """Like :func:`load` for YAML text (tests, the dashboard's editor)."""
    base, _ = _read((resources.files("biztrace.config") / "defaults.yaml").read_text(), "config/defaults.yaml")
    user, node = _read(text, source)
    merged, origin = _merge(base, user)
    return _validate(merged, origin, node, source)


_LIST_SECTIONS = ("rules", "runbooks", "reconciliation")
MAX_PROBLEMS = 100
"""Problems reported at most for one file (every one, in practice)."""


def _validate(
    data: dict[str, Any], origin: dict[tuple[str, int], int], node: yaml.Node | None, source: str
) -> AlertsConfig:
    try:
        return AlertsConfig.model_validate(data)
    except ValidationError as exc:
        found: list[Problem] = []
        for error in exc.errors(include_url=False, include_input=False):
            raised = (error.get("ctx") or {}).get("error")
            if isinstance(raised, Problems):
                for loc, message in raised.problems:
                    found.append(_problem(loc, message, origin, node, source))
                continue
            loc = tuple(part for part in error["loc"] if not str(part).startswith("function-"))
            found.append(_problem(loc, str(error["msg"]).removeprefix("Value error, "), origin, node, source))
        # Not chained: a ValidationError's text repeats the input, secrets included.
        raise ConfigError("\n".join(str(p) for p in found[:MAX_PROBLEMS]), found) from None


def _problem(
    loc: tuple[Any, ...], message: str, origin: dict[tuple[str, int], int], node: yaml.Node | None, source: str
) -> Problem:
    if len(loc) > 1 and loc[0] in _LIST_SECTIONS:
        if (loc[0], loc[1]) in origin:  # a user's list item: its own position
            loc = (loc[0], origin[(loc[0], loc[1])], *loc[2:])
        elif node is not None:  # an item of the built-in defaults
            field = ".".join(str(part) for part in loc)
            return Problem(file="config/defaults.yaml", line=None, field=field, problem=message)
    field = ".".join(str(part) for part in loc) or "(top)"
    return Problem(file=source, line=_line(node, loc), field=field, problem=message)
