"""Every write a person makes, in one place: exception actions and silences.

The dashboard, the CLI and the HTTP API all act through these functions, so an action is
validated, stored and audited the same way whoever asks. Times are injected (``now``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from biztrace.config import AlertsConfig
from biztrace.config.silences import Silence
from biztrace.readmodel import alert_store, exceptions
from biztrace.readmodel.errors import NotFound
from biztrace.store import Store

act_on_exception = exceptions.act
"""Acknowledge, assign, resolve or reopen one transaction's exception (audited with the actor)."""


def parse_matchers(items: list[str]) -> dict[str, str]:
    """``label=value``, ``label=~regex`` or ``label=!value`` items as a matcher mapping.

    Raises:
        ValueError: an item is not ``label=value`` (the message names it).
    """
    matchers: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"matcher {item!r} is not label=value, label=~regex or label=!value")
        matchers[name.strip()] = value
    return matchers


def create_silence(
    store: Store, matchers: dict[str, str], duration: timedelta, by: str, comment: str, now: datetime
) -> Silence:
    """Store a new silence from ``now`` for ``duration``.

    Raises:
        ValueError: the matchers or the duration are not valid (the model says why).
    """
    if duration <= timedelta(0):
        raise ValueError("a silence needs a positive duration")
    now = now.replace(tzinfo=None)
    silence = Silence(
        id=alert_store.new_silence_id(), matchers=matchers, starts_at=now, ends_at=now + duration,
        created_by=by, comment=comment, created_at=now,
    )  # fmt: skip
    return alert_store.save_silence(store, silence)


def expire_silence(store: Store, silence_id: str, now: datetime) -> Silence:
    """End a silence at ``now`` (a silence already over keeps its end).

    Raises:
        NotFound: no silence has that id.
    """
    found = {s.id: s for s in alert_store.silences(store)}
    if silence_id not in found:
        raise NotFound(f"no silence {silence_id!r}")
    silence = found[silence_id]
    ended = silence.model_copy(update={"ends_at": min(now.replace(tzinfo=None), silence.ends_at.replace(tzinfo=None))})
    return alert_store.save_silence(store, ended)


__all__ = ["AlertsConfig", "act_on_exception", "create_silence", "expire_silence", "parse_matchers"]
