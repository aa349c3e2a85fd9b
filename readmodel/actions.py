"""Every write a person makes, in one place: exception actions and silences.

The dashboard, the CLI and the HTTP API all act through these functions, so an action is
validated, stored and audited the same way whoever asks. Times are injected (``now``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from biztrace.config import MAX_DURATION, AlertsConfig, parse_duration
from biztrace.config.silences import Silence
from biztrace.readmodel import alert_store, exceptions
from biztrace.readmodel.errors import NotFound
from biztrace.store import Store

act_on_exception = exceptions.act
"""Acknowledge, assign, resolve, reopen, comment, postpone or unpostpone one transaction's exceptions
(audited with the actor)."""


def parse_until(value: str | datetime, now: datetime) -> datetime:
    """When a postponement ends: an ISO 8601 time (UTC when it names no zone) or a duration from
    ``now`` (``4h``, ``2d``, ``1h30m``). Naive UTC.

    Raises:
        ValueError: neither, or a time that is not after ``now`` (one line, saying which).
    """
    now = now.replace(tzinfo=None)
    if isinstance(value, datetime):
        until = value
    else:
        text = value.strip()
        try:
            until = now + parse_duration(text)
        except ValueError:
            try:
                until = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(
                    f"until {text!r}: give an ISO time (2026-12-06T09:00) or a duration (4h, 2d)"
                ) from None
    if until.tzinfo is not None:
        until = until.astimezone(UTC).replace(tzinfo=None)
    if until <= now:
        raise ValueError(f"until {until:%Y-%m-%d %H:%M:%S} UTC is not after now ({now:%Y-%m-%d %H:%M:%S} UTC)")
    if until - now > MAX_DURATION:
        raise ValueError(f"until {until:%Y-%m-%d} is more than {MAX_DURATION.days} days away")
    return until


def comment_on_exception(
    store: Store, config: AlertsConfig, now: datetime, *, key: str, text: str, actor: str,
    kind: str | None = None, process: str | None = None,
) -> list[exceptions.ExceptionItem]:  # fmt: skip
    """Add a plain-text comment (at most ``exceptions.MAX_COMMENT`` characters) to a transaction's
    exceptions, resolved ones too.

    Raises:
        NotFound: no exception matches. ValueError: empty or too long.
    """
    return exceptions.act(store, config, now, key=key, action="comment", actor=actor, kind=kind, process=process,
                          note=text)  # fmt: skip


def postpone_exception(
    store: Store, config: AlertsConfig, now: datetime, *, key: str, until: str | datetime, actor: str,
    kind: str | None = None, process: str | None = None, note: str = "",
) -> list[exceptions.ExceptionItem]:  # fmt: skip
    """Take a transaction's unresolved exceptions out of the open queue until ``until`` (see
    :func:`parse_until`); they come back by themselves when it passes.

    Raises:
        NotFound: no exception matches. ValueError: a time not after now, or only resolved exceptions.
    """
    moment = parse_until(until, now)
    return exceptions.act(store, config, now, key=key, action="postpone", actor=actor, kind=kind, process=process,
                          note=note, until=moment)  # fmt: skip


def unpostpone_exception(
    store: Store, config: AlertsConfig, now: datetime, *, key: str, actor: str,
    kind: str | None = None, process: str | None = None,
) -> list[exceptions.ExceptionItem]:  # fmt: skip
    """Bring a transaction's postponed exceptions back to the queue now.

    Raises:
        NotFound: no postponed exception matches.
    """
    return exceptions.act(store, config, now, key=key, action="unpostpone", actor=actor, kind=kind, process=process)


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


__all__ = [
    "AlertsConfig",
    "act_on_exception",
    "comment_on_exception",
    "create_silence",
    "expire_silence",
    "parse_matchers",
    "parse_until",
    "postpone_exception",
    "unpostpone_exception",
]
