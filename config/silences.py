"""Silences: time-bounded label matchers that mute notifications (Alertmanager's model).

State is computed from the stored times and ``now``: ``pending`` before ``starts_at``,
``active`` until ``ends_at``, ``expired`` after. Expiring a silence sets ``ends_at`` to now.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

SilenceState = Literal["pending", "active", "expired"]


def matches(matchers: dict[str, str], labels: dict[str, str]) -> bool:
    """Every matcher holds: ``value`` is equality, ``~regex`` a full regex match, ``!value`` inequality."""
    for name, expected in matchers.items():
        actual = labels.get(name, "")
        if expected.startswith("~"):
            if not re.fullmatch(expected[1:], actual):
                return False
        elif expected.startswith("!"):
            if actual == expected[1:]:
                return False
        elif actual != expected:
            return False
    return True


class Silence(BaseModel):
    """A silence as stored (``biztrace_silences``)."""

    id: str
    matchers: dict[str, str] = Field(min_length=1)
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str = ""
    created_at: datetime

    def state(self, now: datetime) -> SilenceState:
        now = now.replace(tzinfo=None)
        if now < self.starts_at.replace(tzinfo=None):
            return "pending"
        if now < self.ends_at.replace(tzinfo=None):
            return "active"
        return "expired"

    def mutes(self, labels: dict[str, str], now: datetime) -> bool:
        return self.state(now) == "active" and matches(self.matchers, labels)
