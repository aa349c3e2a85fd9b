"""Sign-in under attack: same work for unknown names, rate limits and lockouts, hash upgrades,
expiring sessions bound to their token, and the audit log (issue 16, item 6)."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from biztrace.dashboard import auth, signin

PASSWORD = "alice-password"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _fresh_gate() -> Iterator[None]:
    signin.gate.cache_clear()
    yield
    signin.gate.cache_clear()


@pytest.fixture
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A low scrypt cost for tests that sign in many times and are not about the cost."""
    monkeypatch.setattr(auth, "_N", 2**10)
    dummy = getattr(auth, "_dummy_hash", None)
    if dummy is not None:
        dummy.cache_clear()
    yield
    if dummy is not None:
        dummy.cache_clear()


@pytest.fixture
def kdf_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The scrypt cost (N) of every password hash computed, in order."""
    calls: list[int] = []
    real = hashlib.scrypt

    def counting(*args, **kwargs):
        calls.append(kwargs["n"])
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counting)
    return calls


@pytest.fixture
def users_path(tmp_path: Path) -> Path:
    path = tmp_path / "users.yaml"
    auth.save_user(path, "alice", PASSWORD, ["admin"])
    return path


def test_an_unknown_name_costs_the_same_hash_as_a_wrong_password(users_path: Path, kdf_calls: list[int]) -> None:
    users = auth.load_users(users_path)
    auth.sign_in(users, "nobody", "warm-up")  # builds the dummy hash once per process
    kdf_calls.clear()
    assert auth.sign_in(users, "mallory", PASSWORD) is None
    unknown = list(kdf_calls)
    kdf_calls.clear()
    assert auth.sign_in(users, "alice", "wrong-password") is None
    assert unknown == kdf_calls == [2**17], "one hash at the same cost, whether or not the name exists"


def test_new_hashes_use_owasp_scrypt_cost() -> None:
    encoded = auth.hash_password("s3cret-pass")
    assert encoded.startswith("scrypt$131072$8$1$")
    assert auth.verify_password("s3cret-pass", encoded) and not auth.needs_rehash(encoded)


def _old_hash(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt${2**14}$8$1${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def test_an_old_cost_hash_is_upgraded_at_the_next_sign_in_and_the_file_stays_private(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    old = _old_hash(PASSWORD)
    path.write_text(
        f"users:\n  alice: {{password_hash: '{old}', roles: [support]}}\n"
        f"  bob: {{password_hash: '{old}', roles: [admin]}}\n"
    )
    path.chmod(0o644)
    users = auth.load_users(path)
    assert auth.needs_rehash(old)
    assert auth.sign_in(users, "alice", "wrong-password", users_file=path) is None
    assert auth.load_users(path).users["alice"].password_hash == old, "a failed sign-in changes nothing"

    assert auth.sign_in(users, "alice", PASSWORD, users_file=path).roles == ["support"]
    upgraded = auth.load_users(path)
    assert upgraded.users["alice"].password_hash.startswith("scrypt$131072$8$1$")
    assert upgraded.users["bob"].password_hash == old, "other accounts are kept as they were"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert auth.sign_in(upgraded, "alice", PASSWORD) is not None
    assert [p.name for p in tmp_path.iterdir()] == ["users.yaml"], "no temporary file left behind"


def test_the_users_file_is_written_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    previous = os.umask(0o022)
    try:
        path.write_text("users: {}\n")
        path.chmod(0o644)
        auth.save_user(path, "alice", PASSWORD, ["admin"])
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        fresh = tmp_path / "fresh.yaml"
        auth.save_user(fresh, "bob", PASSWORD, ["support"])
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    finally:
        os.umask(previous)


def test_sign_in_stops_a_password_guesser_at_five_failures(users_path: Path, cheap_hashes, caplog) -> None:
    users = auth.load_users(users_path)
    caplog.set_level(logging.INFO, logger="biztrace.dashboard.signin")
    for guess in range(5):
        assert auth.sign_in(users, "alice", f"guess-{guess}") is None
    assert auth.sign_in(users, "alice", PASSWORD) is None, "the name is locked out"
    lockouts = [r for r in caplog.records if r.outcome == "locked-out"]
    assert len(lockouts) == 1 and lockouts[0].levelno == logging.WARNING
    assert (lockouts[0].user, lockouts[0].address) == ("alice", "local")
    assert auth.sign_in(users, "alice", PASSWORD, address="198.51.100.1") is None, "from any address"


def test_lockouts_per_name_and_per_address_end_after_the_lockout(users_path: Path, kdf_calls, cheap_hashes) -> None:
    clock = Clock()
    settings = signin.SignInSettings(max_failures_per_user=3, max_failures_per_address=5, window_s=60, lockout_s=300)
    gate = signin.Gate(settings, clock=clock)
    users = auth.load_users(users_path)

    assert [gate.attempt(users, "alice", "nope", address="a1").outcome for _ in range(3)] == [
        "refused", "refused", "locked-out"]  # fmt: skip
    kdf_calls.clear()
    locked = gate.attempt(users, "alice", PASSWORD, address="a2")
    assert locked.outcome == "locked" and locked.user is None and "try again in 5 min" in locked.message
    assert kdf_calls == [], "a locked-out attempt costs no hash"
    clock.now += 301
    assert gate.attempt(users, "alice", PASSWORD, address="a2").user.name == "alice"

    # an address trying many names is stopped too, and unknown names count like known ones
    outcomes = [gate.attempt(users, f"user{i}", "nope", address="a3").outcome for i in range(5)]
    assert outcomes == ["refused"] * 4 + ["locked-out"]
    assert gate.attempt(users, "alice", PASSWORD, address="a3").outcome == "locked"
    assert gate.attempt(users, "alice", PASSWORD, address="a4").outcome == "signed-in", "other addresses are not"


def test_failures_outside_the_window_are_forgotten(users_path: Path, cheap_hashes) -> None:
    clock = Clock()
    gate = signin.Gate(signin.SignInSettings(max_failures_per_user=3, window_s=60), clock=clock)
    users = auth.load_users(users_path)
    for _ in range(2):
        assert gate.attempt(users, "alice", "nope").outcome == "refused"
    clock.now += 61
    assert gate.attempt(users, "alice", "nope").outcome == "refused"
    assert gate.attempt(users, "alice", PASSWORD).outcome == "signed-in"


def test_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIZTRACE_SIGNIN_MAX_FAILURES_PER_USER", "2")
    monkeypatch.setenv("BIZTRACE_SIGNIN_SESSION_IDLE_S", "60")
    gate = signin.gate()
    assert gate.settings.max_failures_per_user == 2 and gate.sessions.idle_s == 60


def test_sign_ins_failures_and_sign_outs_are_audited(users_path: Path, cheap_hashes, caplog) -> None:
    caplog.set_level(logging.INFO, logger="biztrace.dashboard.signin")
    gate = signin.Gate()
    users = auth.load_users(users_path)
    gate.attempt(users, "alice", "nope", address="192.0.2.5")
    gate.attempt(users, "ghost", "nope")
    user = gate.attempt(users, "alice", PASSWORD, address="192.0.2.5").user
    gate.sessions.close(gate.sessions.open(user, address="192.0.2.5"), address="192.0.2.5")
    seen = [(r.user, r.address, r.outcome) for r in caplog.records]
    assert seen == [
        ("alice", "192.0.2.5", "refused"),
        ("ghost", "local", "refused"),
        ("alice", "192.0.2.5", "signed-in"),
        ("alice", "192.0.2.5", "session-opened"),
        ("alice", "192.0.2.5", "signed-out"),
    ]
    assert all(PASSWORD not in r.getMessage() and "nope" not in r.getMessage() for r in caplog.records)
    assert "user=alice address=192.0.2.5 outcome=signed-in" in caplog.records[2].getMessage()


ADMIN = auth.User(name="root", roles=["admin"], via="local")


def test_a_session_token_resumes_only_while_signed_valid_and_open() -> None:
    clock = Clock()
    sessions = signin.Sessions(idle_s=600, absolute_s=3600, clock=clock)
    token = sessions.open(ADMIN)
    assert sessions.resume(token) == ADMIN
    version, session_id, expires, signature = token.split(".")
    assert sessions.resume(session_id) is None, "a session id alone resumes nothing"
    assert sessions.resume(f"v1.{session_id}.{expires}.{'A' * len(signature)}") is None
    assert sessions.resume(f"v1.{session_id}.{int(expires) + 999}.{signature}") is None, "expiry is signed"
    assert signin.Sessions(clock=clock).resume(token) is None, "another key (another process) resumes nothing"
    assert sessions.resume(None) is None and sessions.resume("") is None


def test_a_session_ends_when_idle_and_at_its_absolute_lifetime() -> None:
    clock = Clock()
    sessions = signin.Sessions(idle_s=600, absolute_s=3600, clock=clock)
    idle = sessions.open(ADMIN)
    clock.now += 601
    assert sessions.resume(idle) is None
    clock.now -= 601

    busy = sessions.open(ADMIN)
    for _ in range(6):  # used every 9 minutes: never idle, still ends after an hour
        clock.now += 540
        assert sessions.resume(busy) == ADMIN
    clock.now += 540
    assert sessions.resume(busy) is None


def test_sign_out_ends_the_session_everywhere() -> None:
    sessions = signin.Sessions()
    token = sessions.open(ADMIN)
    other = sessions.open(ADMIN)
    assert sessions.close(token) == ADMIN
    assert sessions.resume(token) is None, "every tab holding this token is signed out"
    assert sessions.resume(other) == ADMIN, "another sign-in is its own session"
    assert sessions.close(token) is None


def test_the_cookie_script_carries_only_a_token() -> None:
    token = signin.Sessions().open(ADMIN)
    script = signin.cookie_script(token, 3600)
    assert f"{signin.COOKIE}={token}; Path=/; Max-Age=3600; SameSite=Strict" in script
    assert "Max-Age=0" in signin.cookie_script(None)
    with pytest.raises(ValueError):
        signin.cookie_script("x';alert(1);'")
