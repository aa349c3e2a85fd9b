"""Sign-in that resists abuse: rate limits and lockouts, expiring sessions, and the audit log.

:class:`Gate` checks one sign-in attempt: refused at once while the name or the address is locked
out, otherwise one password check (the same work for an unknown name, see
:func:`~biztrace.dashboard.auth.check_password`); failures count per name and per address in a
sliding window, and reaching a limit locks that name or address out. :class:`Sessions` hands a
signed-in person a token (the dashboard keeps it in a cookie) that expires after an idle period and
after an absolute lifetime, and that sign-out ends for every tab that holds it.

Every attempt, lockout and sign-out is a record of the ``biztrace.dashboard.signin`` logger with
``user``, ``address`` and ``outcome`` attributes (and in the message). State lives in this
process's memory: a restart clears lockouts and ends sessions, and the signing key never touches
the disk. Time is injected (``clock``), so tests do not sleep.

Example::

    gate = signin.gate()
    outcome = gate.attempt(users, "alice", password, address="10.0.0.7", users_file=path)
    if outcome.user:
        token = gate.sessions.open(outcome.user, address="10.0.0.7")   # into the cookie
    ...
    user = gate.sessions.resume(token)                                 # each page run
    gate.sessions.close(token, address="10.0.0.7")                     # sign-out
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from biztrace.dashboard import auth

log = logging.getLogger(__name__)

COOKIE = "biztrace_session"
"""The cookie that carries the session token."""

LOCAL = "local"
"""The address of a connection that has none (Streamlit gives None for loopback)."""

_TRACKED_KEYS = 10_000
"""Names and addresses with recent failures kept at most; the oldest are forgotten first."""

Outcome = Literal["signed-in", "refused", "locked", "locked-out"]


class SignInSettings(BaseSettings):
    """Limits and lifetimes; each is also a ``BIZTRACE_SIGNIN_*`` environment variable."""

    model_config = SettingsConfigDict(env_prefix="BIZTRACE_SIGNIN_")

    max_failures_per_user: int = Field(5, ge=1, description="failures of one user name in the window before lockout")
    max_failures_per_address: int = Field(20, ge=1, description="failures from one address in the window")
    window_s: float = Field(900, gt=0, description="the sliding window the failures are counted in")
    lockout_s: float = Field(900, gt=0, description="how long a name or an address stays locked out")
    session_idle_s: float = Field(1800, gt=0, description="a session unused this long ends")
    session_absolute_s: float = Field(12 * 3600, gt=0, description="a session ends this long after sign-in")


class _Counter:
    """Failure times and lockouts of keys (names or addresses), bounded in memory."""

    def __init__(self, limit: int, window_s: float, lockout_s: float) -> None:
        self.limit, self.window_s, self.lockout_s = limit, window_s, lockout_s
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._locked_until: dict[str, float] = {}

    def locked_for(self, key: str, now: float) -> float:
        until = self._locked_until.get(key, 0.0)
        if until <= now:
            self._locked_until.pop(key, None)
            return 0.0
        return until - now

    def fail(self, key: str, now: float) -> bool:
        """Count a failure; True when it starts a lockout."""
        times = self._failures.pop(key, None) or deque()
        while times and times[0] <= now - self.window_s:
            times.popleft()
        times.append(now)
        self._failures[key] = times
        while len(self._failures) > _TRACKED_KEYS:
            self._failures.popitem(last=False)
        if len(times) >= self.limit:
            self._locked_until[key] = now + self.lockout_s
            self._failures.pop(key, None)
            return True
        return False

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)


@dataclass(frozen=True)
class Attempt:
    """What one sign-in attempt came to; ``user`` only when ``outcome`` is ``signed-in``."""

    outcome: Outcome
    user: auth.User | None = None
    retry_after_s: float = 0.0

    @property
    def message(self) -> str:
        """What the sign-in form says: the same for an unknown name and a wrong password."""
        if self.outcome == "signed-in":
            return ""
        if self.outcome == "refused":
            return "Unknown user or wrong password."
        return f"Too many failed sign-ins: try again in {max(1, round(self.retry_after_s / 60))} min."


@dataclass
class _Session:
    user: auth.User
    address: str
    opened: float
    last_seen: float


@dataclass
class Sessions:
    """Signed, expiring session tokens, ``v1.<id>.<expiry>.<signature>``.

    A token resumes its session only if its HMAC signature holds, its absolute expiry has not passed,
    its session is still open here (not signed out) and was used within the idle period. A session id
    alone, or a token signed by another key (another process, or before a restart), resumes nothing.
    Thread-safe.
    """

    idle_s: float = 1800
    absolute_s: float = 12 * 3600
    clock: Callable[[], float] = time.time
    key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    _open: dict[str, _Session] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _sign(self, body: str) -> str:
        digest = hmac.new(self.key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def open(self, user: auth.User, address: str | None = None) -> str:
        """A new session for ``user``; returns its token (for the cookie). Audited as ``session-opened``."""
        now = self.clock()
        session_id = secrets.token_urlsafe(24)
        body = f"v1.{session_id}.{int(now + self.absolute_s)}"
        with self._lock:
            for stale in [sid for sid, s in self._open.items() if not self._alive(s, now)]:
                del self._open[stale]
            self._open[session_id] = _Session(user, _where(address), now, now)
        _audit(logging.INFO, user.name, address, "session-opened")
        return f"{body}.{self._sign(body)}"

    def _alive(self, session: _Session, now: float) -> bool:
        return now - session.last_seen <= self.idle_s and now - session.opened < self.absolute_s

    def _session_id(self, token: str | None, now: float) -> str | None:
        """The id of a well-formed, correctly signed, unexpired token."""
        parts = (token or "").split(".")
        if len(parts) != 4 or parts[0] != "v1":
            return None
        body = ".".join(parts[:3])
        if not hmac.compare_digest(self._sign(body), parts[3]):
            return None
        try:
            expires = int(parts[2])
        except ValueError:
            return None
        return parts[1] if now < expires else None

    def resume(self, token: str | None) -> auth.User | None:
        """The user of a live session, which this use keeps alive; None for anything else."""
        now = self.clock()
        session_id = self._session_id(token, now)
        if session_id is None:
            return None
        with self._lock:
            session = self._open.get(session_id)
            if session is None:
                return None
            if not self._alive(session, now):
                del self._open[session_id]
                expired = session
            else:
                session.last_seen = now
                return session.user
        _audit(logging.INFO, expired.user.name, expired.address, "session-expired")
        return None

    def close(self, token: str | None, address: str | None = None) -> auth.User | None:
        """Sign out: end the token's session for every tab and client holding it. Audited as
        ``signed-out``; returns whose session it was (None when there was none)."""
        session_id = self._session_id(token, self.clock())
        with self._lock:
            session = self._open.pop(session_id, None) if session_id else None
        if session is not None:
            where = address if isinstance(address, str) and address else session.address
            _audit(logging.INFO, session.user.name, where, "signed-out")
            return session.user
        return None


class Gate:
    """Rate-limited, audited password sign-in, and the sessions it opens. Thread-safe."""

    def __init__(self, settings: SignInSettings | None = None, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings = settings or SignInSettings()
        self.clock = clock
        self._users = _Counter(settings.max_failures_per_user, settings.window_s, settings.lockout_s)
        self._addresses = _Counter(settings.max_failures_per_address, settings.window_s, settings.lockout_s)
        self._lock = threading.Lock()
        self.sessions = Sessions(idle_s=settings.session_idle_s, absolute_s=settings.session_absolute_s, clock=clock)
        auth._dummy_hash()  # computed now, so the first unknown name costs what any other does

    def attempt(
        self,
        users: auth.UsersFile,
        name: str,
        password: str,
        *,
        address: str | None = None,
        users_file: Path | None = None,
    ) -> Attempt:
        """Check one sign-in; blocks for one password hash (none while locked out).

        Args:
            users: the loaded users file.
            name: the user name as typed (unknown names are limited like known ones).
            password: the password as typed.
            address: the client's address (None: a loopback connection).
            users_file: where ``users`` came from; given, a hash of an older cost is upgraded there.
        """
        address = _where(address)
        now = self.clock()
        with self._lock:
            wait_s = max(self._users.locked_for(name, now), self._addresses.locked_for(address, now))
        if wait_s > 0:
            _audit(logging.WARNING, name, address, "locked", f"locked out for {wait_s:.0f} s more")
            return Attempt("locked", retry_after_s=wait_s)
        user = auth.check_password(users, name, password)
        now = self.clock()
        if user is None:
            with self._lock:
                locked = [kind for kind, counter, key in (("user", self._users, name),
                          ("address", self._addresses, address)) if counter.fail(key, now)]  # fmt: skip
            if locked:
                detail = f"{' and '.join(locked)} locked out for {self.settings.lockout_s:.0f} s"
                _audit(logging.WARNING, name, address, "locked-out", detail)
                return Attempt("locked-out", retry_after_s=self.settings.lockout_s)
            _audit(logging.INFO, name, address, "refused")
            return Attempt("refused")
        with self._lock:
            self._users.clear(name)
        stored = users.users[name].password_hash
        if users_file is not None and auth.needs_rehash(stored):
            try:
                if auth.upgrade_hash(users_file, name, password, stored):
                    _audit(logging.INFO, name, address, "hash-upgraded")
            except (auth.AuthError, OSError) as exc:
                log.error("could not upgrade the password hash of %s in %s: %s", name, users_file, exc)
        _audit(logging.INFO, name, address, "signed-in")
        return Attempt("signed-in", user=user)


def _where(address: object) -> str:
    """The address as a key: a non-empty string, else :data:`LOCAL`."""
    return address if isinstance(address, str) and address else LOCAL


def _audit(level: int, user: str, address: str | None, outcome: str, detail: str = "") -> None:
    shown = user if user.isprintable() and len(user) <= 64 else repr(user[:64])
    where = _where(address)
    log.log(
        level,
        "sign-in audit: user=%s address=%s outcome=%s%s",
        shown,
        where,
        outcome,
        f" ({detail})" if detail else "",
        extra={"user": user, "address": where, "outcome": outcome},
    )


@cache
def gate() -> Gate:
    """This process's gate, with the ``BIZTRACE_SIGNIN_*`` settings (one per dashboard process)."""
    return Gate(SignInSettings())


def cookie_script(token: str | None, max_age_s: float = 0) -> str:
    """A ``<script>`` for ``st.html(..., unsafe_allow_javascript=True)`` that stores ``token`` in the
    session cookie (``SameSite=Strict``, ``Secure`` on https), or deletes the cookie when None. The token
    is this module's own (``[A-Za-z0-9._-]``), never a person's input."""
    if token is not None and not all(c.isalnum() or c in "._-" for c in token):
        raise ValueError("not a session token")
    value, age = (token, int(max_age_s)) if token else ("", 0)
    return (
        "<script>(function(){var s=location.protocol==='https:'?'; Secure':'';"
        f"document.cookie='{COOKIE}={value}; Path=/; Max-Age={age}; SameSite=Strict'+s;}})();</script>"
    )
