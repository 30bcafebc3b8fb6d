"""Local users: salted hashes only, constant work for unknown names, CLI management; no secret ever in a log."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import main as app_main
from governance.policy import load_policy
from governance.users import UsersError, UsersFile

POLICY = load_policy()
PASSWORD = "correct horse battery staple 7"


def test_the_file_holds_a_salted_hash_never_the_password(tmp_path: Path):
    users = UsersFile(tmp_path / "users.json")
    users.add("ann", "analyst", (), PASSWORD, POLICY)
    users.add("bob", "analyst", (), PASSWORD, POLICY)
    text = (tmp_path / "users.json").read_text()
    assert PASSWORD not in text and PASSWORD.encode().hex() not in text
    entries = json.loads(text)["users"]
    assert entries["ann"]["salt"] != entries["bob"]["salt"] and entries["ann"]["hash"] != entries["bob"]["hash"]
    assert (tmp_path / "users.json").stat().st_mode & 0o077 == 0  # readable by its owner only


def test_verify_accepts_the_right_password_only(tmp_path: Path):
    users = UsersFile(tmp_path / "users.json")
    users.add("mgr", "gym_manager", (3,), PASSWORD, POLICY)
    user = users.verify("mgr", PASSWORD)
    assert user is not None and (user.role, user.gyms) == ("gym_manager", (3,))
    assert users.verify("mgr", PASSWORD + " ") is None
    assert users.verify("mgr", "") is None
    assert users.verify("nobody", PASSWORD) is None


@pytest.mark.parametrize(("name", "role", "gyms", "password", "message"), [
    ("ann", "analyst", (), "", "the password is empty"),
    ("ann", "analyst", (), "eleven-char", "the password is too short: use at least 12 characters"),
    ("ann", "superuser", (), PASSWORD, "unknown role 'superuser'"),
    ("ann", "gym_manager", (), PASSWORD, "give gyms"),
    ("ann", "analyst", (1,), PASSWORD, "sees every gym"),
    ("ann", "dashboard_app", (), PASSWORD, "the dashboard app's own principal, not for people"),
    ("ann; rm -rf /", "analyst", (), PASSWORD, "user name"),
])  # fmt: skip
def test_bad_user_details_are_refused_in_one_line(tmp_path, name, role, gyms, password, message):
    with pytest.raises(UsersError, match=message):
        UsersFile(tmp_path / "users.json").add(name, role, gyms, password, POLICY)
    assert not (tmp_path / "users.json").exists()


def _cli(args: list[str], users: Path, stdin: str = "") -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "DASHBOARD_USERS_FILE": str(users), "HOME": str(users.parent)}
    return subprocess.run([sys.executable, "-m", "app", *args], input=stdin, env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def test_users_cli_add_list_remove_and_nothing_secret_in_its_output(tmp_path: Path):
    users = tmp_path / "users.json"
    added = _cli(["users", "add", "mgr3", "--role", "gym_manager", "--gyms", "3"], users, PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "mgr3: gym_manager for gyms 3"
    empty = _cli(["users", "add", "x", "--role", "analyst"], users, "\n")
    assert empty.returncode == 2 and empty.stderr.strip().endswith("the password is empty; type one on standard input")
    listed = _cli(["users", "list"], users)
    assert listed.stdout.splitlines() == ["mgr3\tgym_manager\t3"]
    removed = _cli(["users", "remove", "mgr3"], users)
    assert removed.returncode == 0 and _cli(["users", "list"], users).stdout == ""
    salt_and_hash = json.dumps(json.loads(users.read_text()))
    for run in (added, empty, listed, removed):
        everything = run.stdout + run.stderr  # stderr carries the log
        assert PASSWORD not in everything and "salt" not in everything and "hash" not in everything.lower()
    assert PASSWORD not in salt_and_hash


def test_users_cli_needs_the_users_file_setting(monkeypatch, capsys):
    monkeypatch.delenv("DASHBOARD_USERS_FILE", raising=False)
    assert app_main(["users", "list"]) == 2
    assert "set DASHBOARD_USERS_FILE" in capsys.readouterr().err


def test_no_password_token_or_secret_reaches_the_logs(tmp_path, monkeypatch, caplog, capsys):
    """User management, password checks and the audit query, logging at DEBUG, with credentials in the env."""
    caplog.set_level(logging.DEBUG)
    secrets = {"DATABRICKS_TOKEN": "dapi-SECRET-TOKEN-123", "KAFKA_SASL_PASSWORD": "kafka-SECRET-pw",
               "SOURCE_DB_PASSWORD": "db-SECRET-pw"}  # fmt: skip
    for key, value in secrets.items():
        monkeypatch.setenv(key, value)
    users = tmp_path / "users.json"
    monkeypatch.setenv("DASHBOARD_USERS_FILE", str(users))
    monkeypatch.setenv("LAKEHOUSE_DIR", str(tmp_path / "no-lakehouse"))
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(PASSWORD + "\n"))
    assert app_main(["users", "add", "ann", "--role", "analyst"]) == 0
    UsersFile(users).verify("ann", PASSWORD)
    UsersFile(users).verify("ann", "wrong " + PASSWORD)
    app_main(["query", "--user", "ann", "--table", "gold.gym_summary"])
    out, err = capsys.readouterr()
    logged = "\n".join(r.getMessage() for r in caplog.records) + out + err
    assert "ann" in logged  # the log did record the work
    for secret in (PASSWORD, *secrets.values()):
        assert secret not in logged
