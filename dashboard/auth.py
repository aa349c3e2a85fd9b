"""Who may sign in, with which roles, and what each role may see and do.

Two ways in: Streamlit's OIDC login when an identity provider is configured (an ``[auth]``
section in ``.streamlit/secrets.toml``; roles by e-mail from the users file), otherwise the
users file's local accounts with scrypt password hashes (``biztrace user add``). Passwords
are never stored or shown; the hash format is ``scrypt$n$r$p$salt$hash`` (base64).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field, ValidationError

Role = Literal["operations", "support", "on-call", "admin"]
ROLES: tuple[Role, ...] = ("operations", "support", "on-call", "admin")

PAGES: dict[str, set[Role]] = {
    "overview": {"operations", "on-call", "admin"},
    "search": {"operations", "support", "on-call", "admin"},
    "reconciliation": {"operations", "support", "admin"},
    "exceptions": {"operations", "support", "on-call", "admin"},
    "alerts": {"on-call", "admin"},
    "process_map": {"operations", "on-call", "admin"},
}
"""Which roles see which page."""

ACTIONS: dict[str, set[Role]] = {
    "exception": {"operations", "support", "on-call", "admin"},
    "silence": {"on-call", "admin"},
}
"""Which roles may act: acknowledge/assign/resolve exceptions; create/expire silences."""

_N, _R, _P = 2**14, 8, 1


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


def hash_password(password: str) -> str:
    """A salted scrypt hash in the users file's format."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    encode = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${encode(salt).decode()}${encode(digest).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    """Constant-time check of ``password`` against a stored hash; a malformed hash never matches."""
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


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


def save_user(path: Path, name: str, password: str, roles: list[Role]) -> None:
    """Add or replace one local account in the users file (created if missing)."""
    users = load_users(path) if Path(path).exists() else UsersFile()
    users.users[name] = LocalUser(password_hash=hash_password(password), roles=roles)
    Path(path).write_text(yaml.safe_dump(users.model_dump(), sort_keys=False))


def sign_in(users: UsersFile, name: str, password: str) -> User | None:
    """The local user for these credentials, or None (same answer for unknown name and bad password)."""
    account = users.users.get(name)
    if account is None:
        verify_password(password, hash_password("timing"))  # spend the same time either way
        return None
    if not verify_password(password, account.password_hash):
        return None
    return User(name=name, roles=account.roles, via="local")


def oidc_user(users: UsersFile, email: str, name: str | None = None) -> User:
    """The roles of an identity the provider vouched for."""
    roles = users.oidc_roles.get(email.lower()) or users.oidc_roles.get(email) or users.oidc_default_roles
    return User(name=email or name or "unknown", roles=roles, via="oidc")
