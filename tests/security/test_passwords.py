"""Passwords and sign-in, tried as an attacker: cheap hashes, short passwords, brute force against one name, a
session that outlives a password or role change, and a users file with a bad entry."""

from __future__ import annotations

import json
import logging

import pytest

from app import auth
from app.cli import main as app_main
from governance import users as users_module
from governance.policy import load_policy
from governance.users import SCRYPT, FailedSignIns, UsersError, UsersFile
from tests.security.conftest import PASSWORD, attempt, shown, visit


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_hashes_are_scrypt_at_owasps_cost_or_above(users_env: UsersFile):
    entries = json.loads(users_env.path.read_text())["users"]
    assert SCRYPT["n"] >= 2**17 and SCRYPT["r"] >= 8 and SCRYPT["p"] >= 1
    for entry in entries.values():
        assert entry["scheme"] == "scrypt" and entry["n"] >= 2**17 and entry["r"] >= 8
        assert len(bytes.fromhex(entry["salt"])) >= 16 and PASSWORD not in json.dumps(entry)


def test_a_hash_made_at_a_lower_cost_is_made_again_at_todays_on_sign_in(tmp_path, monkeypatch):
    users = UsersFile(tmp_path / "users.json")
    monkeypatch.setattr(users_module, "SCRYPT", {"n": 2**14, "r": 8, "p": 1})  # a file from before the change
    users.add("old", "analyst", (), PASSWORD, load_policy())
    monkeypatch.undo()
    assert json.loads(users.path.read_text())["users"]["old"]["n"] == 2**14
    assert users.verify("old", PASSWORD) is not None
    assert json.loads(users.path.read_text())["users"]["old"]["n"] == SCRYPT["n"]
    assert users.verify("old", PASSWORD) is not None


@pytest.mark.parametrize("password", ["", "short", "11 chars ok"])
def test_a_short_password_is_refused(tmp_path, password):
    with pytest.raises(UsersError, match="the password is (empty|too short)"):
        UsersFile(tmp_path / "users.json").add("ann", "analyst", (), password, load_policy())


def test_backoff_doubles_per_name_after_the_free_attempts_up_to_a_cap():
    clock = Clock()
    throttle = FailedSignIns(clock=clock, free=3, base=2.0, cap=60.0)
    assert [throttle.failed("Mgr3") for _ in range(8)] == [0.0, 0.0, 0.0, 2.0, 4.0, 8.0, 16.0, 32.0]
    assert throttle.wait(" mgr3 ") == 32.0  # the same name, however it is typed
    assert throttle.failed("mgr3") == 60.0 and throttle.wait("someone-else") == 0.0
    clock.now += 60
    assert throttle.wait("mgr3") == 0.0
    throttle.succeeded("mgr3")
    assert throttle.failed("mgr3") == 0.0


def test_the_backoff_keeps_its_memory_bounded():
    throttle = FailedSignIns(clock=Clock(), free=0, max_names=100)
    for i in range(1000):
        throttle.failed(f"name{i}")
    assert len(throttle._failures) <= 100 and throttle.wait("name999") > 0


def test_brute_force_against_one_name_is_slowed_and_the_right_password_waits_too(users_env, caplog):
    """Wrong passwords for mgr3 from fresh sessions: after three, each waits longer; while it waits even the right
    password is refused without being checked, other names are unaffected, and once the wait is over it works."""
    clock = Clock()
    auth.failed_sign_ins().clock = clock
    for guess in ("123456", "password", "letmein"):
        assert "Wrong user name or password." in shown(attempt("mgr3", guess))
    fourth = attempt("mgr3", "qwerty")
    assert "Wrong user name or password. Wait 2 s before the next attempt." in shown(fourth)
    blocked = attempt("mgr3", PASSWORD)
    assert "Too many failed sign-ins for this user name: try again in 2 s." in shown(blocked)
    assert not blocked.metric and blocked.title[0].value == "Sign in"
    assert attempt("ana", PASSWORD).metric  # another name signs in at once
    clock.now += 2
    assert attempt("mgr3", PASSWORD).metric
    assert "wrong password for mgr3" in caplog.text and PASSWORD not in caplog.text


def test_a_session_ends_when_the_password_changes(users_env: UsersFile):
    at = attempt("ana", PASSWORD)
    assert at.metric
    users_env.add("ana", "analyst", (), "a brand new password 2", load_policy())
    at.run()
    assert at.title[0].value == "Sign in" and not at.metric
    assert "Your session has ended: your account changed." in shown(at)


def test_a_session_ends_when_the_role_or_gyms_change(users_env: UsersFile):
    at = attempt("mgr3", PASSWORD)
    assert at.metric
    users_env.add("mgr3", "gym_manager", (1, 3), PASSWORD, load_policy())
    at.run()
    assert at.title[0].value == "Sign in" and not at.metric
    at = attempt("mgr3", PASSWORD, at)
    assert "Signed in as **mgr3 (gym_manager, gyms 1, 3)**" in shown(at)


BAD_ENTRIES = {
    "a string": "admin",
    "a list": ["platform_admin"],
    "no hash": {"role": "platform_admin", "gyms": [], "scheme": "scrypt", "n": 2**17, "r": 8, "p": 1, "salt": "0" * 32},
    "a role that is not text": {"role": ["platform_admin"], "gyms": []},
    "a cost that would exhaust memory": {"role": "analyst", "gyms": [], "scheme": "scrypt", "n": 2**30, "r": 8, "p": 1,
                                         "salt": "00" * 16, "hash": "00" * 32},
}  # fmt: skip


@pytest.mark.parametrize("bad", list(BAD_ENTRIES))
def test_a_users_file_with_a_bad_entry_grants_nothing_and_says_so(users_env: UsersFile, bad, caplog):
    doc = json.loads(users_env.path.read_text())
    doc["users"]["intruder"] = BAD_ENTRIES[bad]
    users_env.path.write_text(json.dumps(doc))
    caplog.set_level(logging.ERROR)
    at = visit()
    assert "Sign-in is unavailable: the users file (DASHBOARD_USERS_FILE) has an unusable entry." in shown(at)
    assert not at.text_input and not at.metric and str(users_env.path) not in shown(at)
    assert "the entry 'intruder' is unusable" in caplog.text
    with pytest.raises(UsersError, match="the entry 'intruder' is unusable"):
        users_env.verify("root", PASSWORD)


def test_a_bad_entry_can_be_removed_with_the_cli_and_sign_in_works_again(users_env: UsersFile, capsys):
    doc = json.loads(users_env.path.read_text())
    doc["users"]["intruder"] = "admin"
    users_env.path.write_text(json.dumps(doc))
    assert app_main(["users", "list"]) == 2
    assert "the entry 'intruder' is unusable (not an object" in capsys.readouterr().err
    assert app_main(["users", "remove", "intruder"]) == 0
    assert attempt("root", PASSWORD).metric


def test_an_entry_with_the_apps_service_role_signs_nobody_in(users_env: UsersFile):
    doc = json.loads(users_env.path.read_text())
    doc["users"]["ana"]["role"] = "dashboard_app"  # edited by hand: `users add` refuses it
    users_env.path.write_text(json.dumps(doc))
    at = attempt("ana", PASSWORD)
    assert "Your account does not fit the access policy" in shown(at) and not at.metric
