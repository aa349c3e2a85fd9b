"""Roles and what each may see and do: one definition for the dashboard's sign-in and the API's tokens."""

from __future__ import annotations

from typing import Literal

Role = Literal["operations", "support", "on-call", "admin"]
ROLES: tuple[Role, ...] = ("operations", "support", "on-call", "admin")

PAGES: dict[str, set[str]] = {
    "overview": {"operations", "on-call", "admin"},
    "search": {"operations", "support", "on-call", "admin"},
    "reconciliation": {"operations", "support", "admin"},
    "exceptions": {"operations", "support", "on-call", "admin"},
    "alerts": {"on-call", "admin"},
    "process_map": {"operations", "on-call", "admin"},
    "scorecards": {"operations", "admin"},
}
"""Which roles see which dashboard page."""

ACTIONS: dict[str, set[str]] = {
    "read": {"operations", "support", "on-call", "admin"},
    "exception": {"operations", "support", "on-call", "admin"},
    "silence": {"on-call", "admin"},
    "token": {"admin"},
}
"""Which roles may: read business data; acknowledge/assign/resolve exceptions; create/expire silences;
create and revoke API tokens."""


def may(roles: list[str] | set[str] | tuple[str, ...], action: str) -> bool:
    """Whether any of ``roles`` may do ``action`` (a key of :data:`ACTIONS`)."""
    return bool(set(roles) & ACTIONS[action])
