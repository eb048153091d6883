"""Console users: scrypt hashes with their own salts, the users file (0600) and the
environment, refused entries, and `casebus console users add|list`."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from cli import main
from services.console.users import (
    USERS_ENV,
    User,
    UsersError,
    authenticate,
    check_password,
    hash_password,
    load_users,
    save_user,
)

pytestmark = pytest.mark.offline

AGENCIES = frozenset({"510500-SAMR", "500110-SAMR"})


def test_hashes_are_salted_and_checked() -> None:
    one, two = hash_password("s3cret-pass"), hash_password("s3cret-pass")
    assert one != two and one.startswith("scrypt$16384$8$1$")
    assert check_password("s3cret-pass", one) and check_password("s3cret-pass", two)
    assert not check_password("s3cret-pasS", one)
    assert not check_password("s3cret-pass", "plain$text") and not check_password("x", "")


def test_users_file_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "users.toml"
    save_user(path, User("qj", "500110-SAMR", hash_password("password-qj")))
    save_user(path, User("root", None, hash_password("password-root")))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    env_hash = hash_password("password-env")
    monkeypatch.setenv(
        USERS_ENV, json.dumps({"lz": {"agency": "510500-SAMR", "password": env_hash}})
    )
    users = load_users(path, AGENCIES)
    assert {(u.name, u.agency) for u in users.values()} == {
        ("qj", "500110-SAMR"),
        ("root", None),
        ("lz", "510500-SAMR"),
    }
    assert authenticate(users, "lz", "password-env") == users["lz"]
    assert authenticate(users, "lz", "password-qj") is None
    assert authenticate(users, "ghost", "password-qj") is None


@pytest.mark.parametrize(
    ("entry", "rule"),
    [
        ({"agency": "510500-SAMR", "password": "plain"}, "scrypt hash"),
        ({"agency": "999999-X", "password": "scrypt$1$1$1$a$b"}, "unknown agency"),
        ({"password": "scrypt$1$1$1$a$b"}, "exactly one of"),
        ({"agency": "510500-SAMR", "admin": True, "password": "scrypt$1$1$1$a$b"}, "exactly one"),
    ],
)
def test_bad_entries_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry: dict[str, object], rule: str
) -> None:
    monkeypatch.setenv(USERS_ENV, json.dumps({"someone": entry}))
    with pytest.raises(UsersError, match=rule):
        load_users(tmp_path / "none.toml", AGENCIES)


def test_users_add_and_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CASEBUS_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("NEW_PASSWORD", "a fine password")
    assert (
        main(
            [
                "console",
                "users",
                "add",
                "qj",
                "--agency",
                "500110-SAMR",
                "--password-env",
                "NEW_PASSWORD",
            ]
        )
        == 0
    )
    assert (
        main(["console", "users", "add", "root", "--admin", "--password-env", "NEW_PASSWORD"]) == 0
    )
    assert (
        main(
            ["console", "users", "add", "x", "--agency", "NOPE-1", "--password-env", "NEW_PASSWORD"]
        )
        == 2
    )
    monkeypatch.setenv("SHORT", "short")
    assert main(["console", "users", "add", "y", "--admin", "--password-env", "SHORT"]) == 2
    capsys.readouterr()
    assert main(["console", "users", "list"]) == 0
    assert capsys.readouterr().out == "qj\t500110-SAMR\nroot\tadmin\n"
    users = load_users(tmp_path / "var" / "console" / "users.toml", AGENCIES)
    assert authenticate(users, "root", "a fine password") == users["root"]
