"""Local accounts, password hashes, roles, and the sign-in form."""

from __future__ import annotations

from pathlib import Path

import pytest

from biztrace.dashboard import auth
from biztrace.dashboard.auth import AuthError


def test_a_hash_verifies_only_its_own_password_and_is_salted() -> None:
    first, second = auth.hash_password("s3cret-pass"), auth.hash_password("s3cret-pass")
    assert first != second, "each hash has its own salt"
    assert first.startswith("scrypt$") and "s3cret" not in first
    assert auth.verify_password("s3cret-pass", first) and auth.verify_password("s3cret-pass", second)
    assert not auth.verify_password("s3cret-pasS", first)


@pytest.mark.parametrize("stored", ["", "plain-text", "scrypt$x$8$1$AAAA$BBBB", "bcrypt$1$2$3$4$5", "scrypt$1$2"])
def test_a_malformed_hash_never_matches(stored: str) -> None:
    assert not auth.verify_password("anything", stored)


def test_sign_in_gives_the_roles_and_refuses_unknown_users_and_wrong_passwords(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    auth.save_user(path, "alice", "alice-password", ["support", "on-call"])
    users = auth.load_users(path)
    alice = auth.sign_in(users, "alice", "alice-password")
    assert alice is not None and alice.roles == ["support", "on-call"] and alice.via == "local"
    assert auth.sign_in(users, "alice", "wrong-password") is None
    assert auth.sign_in(users, "mallory", "alice-password") is None
    assert "alice-password" not in path.read_text()


def test_saving_a_user_again_replaces_it_and_keeps_the_others(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    auth.save_user(path, "alice", "first-password", ["support"])
    auth.save_user(path, "bob", "bob-password", ["admin"])
    auth.save_user(path, "alice", "second-password", ["operations"])
    users = auth.load_users(path)
    assert set(users.users) == {"alice", "bob"}
    assert auth.sign_in(users, "alice", "first-password") is None
    assert auth.sign_in(users, "alice", "second-password").roles == ["operations"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("users: [unclosed", "not valid YAML"),
        ("users:\n  alice: {password_hash: x, roles: [boss]}\n", "users.alice.roles.0"),
        ("users:\n  alice: {roles: [admin]}\n", "users.alice.password_hash"),
        ("users:\n  alice: {password_hash: x, roles: []}\n", "users.alice.roles"),
    ],
)
def test_a_broken_users_file_names_the_file_and_the_field(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "users.yaml"
    path.write_text(text)
    with pytest.raises(AuthError) as error:
        auth.load_users(path)
    assert str(path) in str(error.value) and problem in str(error.value)


def test_a_missing_users_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AuthError, match="cannot read the users file"):
        auth.load_users(tmp_path / "nope.yaml")


def test_roles_decide_pages_and_actions() -> None:
    support = auth.User(name="s", roles=["support"], via="local")
    operations = auth.User(name="o", roles=["operations"], via="local")
    on_call = auth.User(name="c", roles=["on-call"], via="local")
    admin = auth.User(name="a", roles=["admin"], via="local")
    assert support.may_see("search") and not support.may_see("alerts") and not support.may_see("overview")
    assert operations.may_see("overview") and operations.may_see("process_map") and not operations.may_see("alerts")
    assert on_call.may_see("alerts") and on_call.may("silence") and on_call.may("exception")
    assert not support.may("silence") and support.may("exception")
    assert all(admin.may_see(page) for page in auth.PAGES) and all(admin.may(action) for action in auth.ACTIONS)


def test_oidc_identities_get_their_configured_roles_or_the_default() -> None:
    users = auth.UsersFile(oidc_roles={"lead@example.com": ["operations"]}, oidc_default_roles=["support"])
    assert auth.oidc_user(users, "lead@example.com").roles == ["operations"]
    assert auth.oidc_user(users, "Lead@Example.com").roles == ["operations"]
    assert auth.oidc_user(users, "someone@example.com").roles == ["support"]
