"""Label matchers, and silences: time-bounded matchers that mute notifications (Alertmanager's model).

A matcher is ``label: value`` (equality), ``label: ~regex`` (the whole value matches) or
``label: !value`` (inequality). Every regex is compiled where it is typed: a configuration's
routes and inhibit rules at load, a silence when it is created (dashboard, CLI, API), so
``alertname=~(`` is refused there with one line, never found later by the alert loop.

State is computed from the stored times and ``now``: ``pending`` before ``starts_at``,
``active`` until ``ends_at``, ``expired`` after. Expiring a silence sets ``ends_at`` to now.

A silence read back from the store was checked when it was created, but an older version
may have stored one that does not compile. Read stored silences inside
:func:`stored_silences`: such a silence then loads with :attr:`Silence.problem` set, mutes
nothing, and is reported instead of stopping every pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, ValidationInfo, field_validator

SilenceState = Literal["pending", "active", "expired"]

_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_STORED: ContextVar[bool] = ContextVar("biztrace_stored_silences", default=False)


@lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def check_matcher(name: str, expected: str) -> None:
    """Refuse a matcher that could not be evaluated.

    Raises:
        ValueError: one line naming the label and the problem (a bad label name, or a
            regex that does not compile, with the regex and where it breaks).
    """
    if not _LABEL_NAME.match(name):
        raise ValueError(f"matcher {name!r}: a label name is letters, digits, '_' and '.', not starting with a digit")
    if expected.startswith("~"):
        try:
            _compiled(expected[1:])
        except re.error as exc:
            where = f" at position {exc.pos}" if exc.pos is not None else ""
            raise ValueError(f"matcher {name}=~{expected[1:]}: the regex does not compile: {exc.msg}{where}") from None


def check_matchers(matchers: dict[str, str]) -> dict[str, str]:
    """``matchers`` unchanged when every one can be evaluated (see :func:`check_matcher`)."""
    for name, expected in matchers.items():
        check_matcher(name, expected)
    return matchers


def matches(matchers: dict[str, str], labels: dict[str, str]) -> bool:
    """Every matcher holds: ``value`` is equality, ``~regex`` a full regex match, ``!value`` inequality.

    A regex that does not compile matches nothing (never raises): matchers are checked where
    they are typed, this only guards what an older version stored.
    """
    for name, expected in matchers.items():
        actual = labels.get(name, "")
        if expected.startswith("~"):
            try:
                pattern = _compiled(expected[1:])
            except re.error:
                return False
            if not pattern.fullmatch(actual):
                return False
        elif expected.startswith("!"):
            if actual == expected[1:]:
                return False
        elif actual != expected:
            return False
    return True


class InvalidSilence(ValueError):
    """A silence that cannot be created; the message is one line for a person."""


def _one_line(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        field = ".".join(str(part) for part in error["loc"]) or "silence"
        problems.append(f"{field}: {str(error['msg']).removeprefix('Value error, ')}")
    return "; ".join(problems)


@contextmanager
def stored_silences() -> Iterator[None]:
    """Silences built inside this block are read from the store: a bad matcher is kept as a problem."""
    token = _STORED.set(True)
    try:
        yield
    finally:
        _STORED.reset(token)


class Silence(BaseModel):
    """A silence as stored (``biztrace_silences``).

    Raises:
        InvalidSilence: (a ``ValueError``) on creation when a field is invalid or a matcher
            cannot be evaluated; one line naming the field and the problem. Inside
            :func:`stored_silences` a bad matcher loads with :attr:`problem` set instead.
    """

    id: str
    matchers: dict[str, str] = Field(min_length=1)
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str = ""
    created_at: datetime
    problem: str | None = Field(
        None, validate_default=True, description="why a stored silence mutes nothing (a matcher it cannot use)"
    )

    def __init__(self, /, **data: Any) -> None:
        try:
            self.__pydantic_validator__.validate_python(data, self_instance=self, context={"stored": _STORED.get()})
        except ValidationError as exc:
            raise InvalidSilence(_one_line(exc)) from None

    @field_validator("matchers")
    @classmethod
    def _matchers(cls, matchers: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        if not (info.context or {}).get("stored"):
            return check_matchers(matchers)
        return matchers

    @field_validator("problem")
    @classmethod
    def _problem(cls, problem: str | None, info: ValidationInfo) -> str | None:
        if problem is None and "matchers" in info.data:
            try:
                check_matchers(info.data["matchers"])
            except ValueError as exc:
                return str(exc)
        return problem

    def state(self, now: datetime) -> SilenceState:
        now = now.replace(tzinfo=None)
        if now < self.starts_at.replace(tzinfo=None):
            return "pending"
        if now < self.ends_at.replace(tzinfo=None):
            return "active"
        return "expired"

    def mutes(self, labels: dict[str, str], now: datetime) -> bool:
        """Whether this silence mutes an alert with these labels at ``now`` (never, with a problem)."""
        return self.problem is None and self.state(now) == "active" and matches(self.matchers, labels)
