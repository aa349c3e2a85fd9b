"""Who may sign in, with which roles, and what each role may see and do.

Two ways in: Streamlit's OIDC login when an identity provider is configured (an ``[auth]``
section in ``.streamlit/secrets.toml``; roles by e-mail from the users file), otherwise the
users file's local accounts with scrypt password hashes (``biztrace user add``). Passwords
are never stored or shown; the hash format is ``scrypt$n$r$p$salt$hash`` (base64).

Hashing follows OWASP's scrypt parameters (N=2^17, r=8, p=1: 128 MiB, ~0.3-0.7 s); a hash of a
lower cost is upgraded at its owner's next sign-in. The users file is written atomically and
readable by its owner only (0600). Rate limits, lockouts, sessions and the sign-in audit log
are :mod:`biztrace.dashboard.signin`'s; :func:`sign_in` goes through them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import tempfile
import threading
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field, ValidationError

from biztrace.config import roles

Role = roles.Role
ROLES = roles.ROLES
PAGES = roles.PAGES
"""Which roles see which page (``config/roles.py``: one definition with the API's tokens)."""
ACTIONS = roles.ACTIONS

_N, _R, _P = 2**17, 8, 1
"""OWASP Password Storage Cheat Sheet's scrypt row (N=2^17, r=8, p=1)."""
_MAX_N = 2**20
"""A stored hash asking for more is refused (1 GiB per check would be a denial of service)."""
_KDF_SLOTS = threading.BoundedSemaphore(2)
"""At most two hashes at once in this process: each takes 128 MiB."""
_WRITE_LOCK = threading.Lock()


class AuthError(Exception):
    """The users file is missing or wrong; the message names the file and the problem."""


class LocalUser(BaseModel):
    password_hash: str = Field(description="scrypt$n$r$p$salt$hash, from `biztrace user add`")
    roles: list[Role] = Field(min_length=1)
    display_name: str = ""


class UsersFile(BaseModel):
    """The YAML document: local accounts, and roles for OIDC identities."""

    users: dict[str, LocalUser] = Field(default_factory=dict)
    oidc_roles: dict[str, list[Role]] = Field(default_factory=dict, description="e-mail -> roles")
    oidc_default_roles: list[Role] = Field(default_factory=lambda: ["support"])


class User(BaseModel):
    """The signed-in person; ``name`` is what actions are recorded with."""

    name: str
    roles: list[Role]
    via: Literal["local", "oidc"]

    def may_see(self, page: str) -> bool:
        return bool(PAGES[page].intersection(self.roles))

    def may(self, action: str) -> bool:
        return bool(ACTIONS[action].intersection(self.roles))


def _kdf(password: str, salt: bytes, n: int, r: int, p: int, dklen: int = 32) -> bytes:
    """The one place a password is hashed (sign-in, dummy check and new hashes alike)."""
    with _KDF_SLOTS:
        return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=dklen, maxmem=256 * n * r + 2**24)


def hash_password(password: str) -> str:
    """A salted scrypt hash in the users file's format, at the current cost."""
    salt = secrets.token_bytes(16)
    digest = _kdf(password, salt, _N, _R, _P)
    encode = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${encode(salt).decode()}${encode(digest).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    """Constant-time check of ``password`` against a stored hash; a malformed hash never matches."""
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt" or not 1 < int(n) <= _MAX_N or int(r) * int(p) > 64:
            return False
        expected = base64.b64decode(digest)
        actual = _kdf(password, base64.b64decode(salt), int(n), int(r), int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def needs_rehash(encoded: str) -> bool:
    """Whether a stored hash is of another scheme or cost than :func:`hash_password` makes now."""
    return not encoded.startswith(f"scrypt${_N}${_R}${_P}$")


@cache
def _dummy_hash() -> str:
    """A hash of a random password at the current cost: what an unknown user's password is checked against."""
    return hash_password(secrets.token_urlsafe(16))


def load_users(path: Path) -> UsersFile:
    """Read and validate the users file; :class:`AuthError` names the file and the field."""
    try:
        document = yaml.safe_load(Path(path).read_text()) or {}
    except OSError as exc:
        raise AuthError(f"{path}: cannot read the users file: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise AuthError(f"{path}: not valid YAML: {exc}") from exc
    try:
        return UsersFile.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise AuthError(f"{path}: {problems}") from exc


def write_users(path: Path, users: UsersFile) -> None:
    """Replace the users file atomically (a reader sees the old or the new file, never half), mode 0600."""
    path = Path(path)
    text = yaml.safe_dump(users.model_dump(), sort_keys=False)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save_user(path: Path, name: str, password: str, roles: list[Role]) -> None:
    """Add or replace one local account in the users file (created if missing, mode 0600)."""
    password_hash = hash_password(password)
    with _WRITE_LOCK:
        users = load_users(path) if Path(path).exists() else UsersFile()
        users.users[name] = LocalUser(password_hash=password_hash, roles=roles)
        write_users(path, users)


def upgrade_hash(path: Path, name: str, password: str, verified_hash: str) -> bool:
    """Rehash ``name``'s password at the current cost in the users file, if its entry is still
    ``verified_hash`` (a concurrent change wins). Returns whether the file was rewritten."""
    password_hash = hash_password(password)
    with _WRITE_LOCK:
        users = load_users(path)
        account = users.users.get(name)
        if account is None or account.password_hash != verified_hash:
            return False
        account.password_hash = password_hash
        write_users(path, users)
    return True


def check_password(users: UsersFile, name: str, password: str) -> User | None:
    """The local user for these credentials, or None; an unknown name costs one hash check like a
    known one (against a dummy hash), so the answer's time does not tell whether the name exists."""
    account = users.users.get(name)
    if account is None:
        verify_password(password, _dummy_hash())
        return None
    if not verify_password(password, account.password_hash):
        return None
    return User(name=name, roles=account.roles, via="local")


def sign_in(
    users: UsersFile, name: str, password: str, *, address: str | None = None, users_file: Path | None = None
) -> User | None:
    """The local user for these credentials, or None (same answer and work for an unknown name and a
    bad password; None too while the name or the address is locked out).

    Goes through the process's sign-in gate (:func:`biztrace.dashboard.signin.gate`): rate limits
    per user and per ``address``, the audit log, and, given ``users_file``, the upgrade of an old
    hash. :meth:`~biztrace.dashboard.signin.Gate.attempt` also says why (for the form's message).
    """
    from biztrace.dashboard import signin  # signin builds on this module's users and hashes

    return signin.gate().attempt(users, name, password, address=address, users_file=users_file).user


def oidc_user(users: UsersFile, email: str, name: str | None = None) -> User:
    """The roles of an identity the provider vouched for."""
    roles = users.oidc_roles.get(email.lower()) or users.oidc_roles.get(email) or users.oidc_default_roles
    return User(name=email or name or "unknown", roles=roles, via="oidc")
