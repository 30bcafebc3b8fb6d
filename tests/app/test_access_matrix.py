"""Role x page x table in the running dashboard: each role signs in through the form and sees exactly its share.

Users come from a DASHBOARD_USERS_FILE; the gold tables are the demo lakehouse of conftest.py (gyms 1-3).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest
from deltalake import DeltaTable
from streamlit.testing.v1 import AppTest

from governance.policy import load_policy
from governance.users import UsersFile
from tests.app.conftest import APP, charts, frame_with, metric, texts

PASSWORD = "pw-for-tests-only"
USERS = {"root": ("platform_admin", ()), "eng": ("data_engineer", ()), "ana": ("analyst", ()),
         "mgr3": ("gym_manager", (3,))}  # fmt: skip
GYM, OPS = "views/gym_usage.py", "views/operations.py"


@pytest.fixture
def users_env(app_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    users = UsersFile(tmp_path / "users.json")
    for name, (role, gyms) in USERS.items():
        users.add(name, role, gyms, PASSWORD, load_policy())
    monkeypatch.setenv("DASHBOARD_USERS_FILE", str(users.path))
    monkeypatch.setenv("DASHBOARD_AUTH", "users-file")
    return app_env


def signed_in(name: str, page: str | None = None, password: str = PASSWORD) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert at.title[0].value == "Sign in" and not at.metric
    at.text_input(key="signin_user").input(name)
    at.text_input(key="signin_password").input(password)
    at.button[0].click().run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _gold(lakehouse: Path, name: str) -> pd.DataFrame:
    return DeltaTable(str(lakehouse / "gold" / name)).to_pandas()


def test_wrong_password_shows_no_data(users_env: Path):
    at = signed_in("mgr3", password="guess")
    assert "Wrong user name or password." in texts(at)
    assert not at.metric and not at.dataframe
    at = signed_in("mallory")
    assert "Wrong user name or password." in texts(at) and not at.metric


@pytest.mark.parametrize("who", list(USERS))
def test_workout_page_per_role(users_env: Path, who: str):
    at = signed_in(who)
    gold = _gold(users_env, "workout_bpm_summary")
    mine = gold[gold["gym"] == 3] if who == "mgr3" else gold
    assert at.title[0].value == "Workout BPM"
    assert metric(at, "Sessions") == f"{len(mine):,}"
    assert metric(at, "Members") == f"{mine['user_id'].nunique():,}"
    assert f"Signed in as **{who}" in texts(at)
    gym_options = at.multiselect(key="wb_gym").options
    assert gym_options == (["3"] if who == "mgr3" else sorted(gym_options))
    if who == "mgr3":  # the drill-down reads silver.workout_bpm, which a gym manager may not read
        assert "Readings unavailable: mgr3 (gym_manager) is not permitted to read silver.workout_bpm." in texts(at)
    else:
        assert len(charts(at)) == 4


@pytest.mark.parametrize("who", list(USERS))
def test_gym_usage_page_per_role(users_env: Path, who: str):
    at = signed_in(who, GYM)
    visits = _gold(users_env, "gym_summary")
    mine = visits[visits["gym"] == 3] if who == "mgr3" else visits
    assert at.title[0].value == "Gym usage"
    assert metric(at, "Visits") == f"{len(mine):,}"
    inside = frame_with(at, "mac_address", "minutes_inside")
    assert len(inside) == mine["logout"].isna().sum()
    if who in ("root", "eng"):
        assert inside["mac_address"].notna().all()
    else:
        assert inside["mac_address"].isna().all()  # masked for analysts and gym managers
    if who == "mgr3":
        assert set(inside["gym"]) <= {3}


@pytest.mark.parametrize("who", list(USERS))
def test_operations_page_per_role(users_env: Path, who: str):
    if who == "mgr3":  # not even registered as a page of a gym manager's session
        at = signed_in(who)
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(OPS)
        return
    at = signed_in(who, OPS)
    shown = texts(at)
    assert at.title[0].value == "Operations"
    assert len(frame_with(at, "run_id", "rows_out")) == 12
    controls = {b.key for b in at.button}
    if who == "root":
        assert "job_run" in controls
    else:
        assert "job_run" not in controls and "sim_start" not in controls
        assert "controls are for platform admins" in shown
    if who == "ana":
        assert "not permitted to read ops.quarantine" in shown
    else:
        assert frame_with(at, "reason", "records")["records"].sum() == 12


def test_a_manager_is_never_served_a_result_cached_for_an_admin(users_env: Path):
    """Streamlit caches results across sessions: the admin's view first, then the manager's must differ."""
    visits = _gold(users_env, "gym_summary")
    admin = signed_in("root", GYM)
    assert metric(admin, "Visits") == f"{len(visits):,}"
    manager = signed_in("mgr3", GYM)
    assert metric(manager, "Visits") == f"{(visits['gym'] == 3).sum():,}"


def test_a_removed_user_is_signed_out_on_the_next_run(users_env: Path, monkeypatch: pytest.MonkeyPatch):
    import os

    at = signed_in("ana")
    assert at.metric
    UsersFile(os.environ["DASHBOARD_USERS_FILE"]).remove("ana")
    at.run()
    assert at.title[0].value == "Sign in" and not at.metric


def test_sign_out(users_env: Path):
    at = signed_in("eng")
    at.button(key="sign_out").click().run()
    assert at.title[0].value == "Sign in" and not at.metric


def test_the_local_admin_mode_asked_for_is_one_admin_and_says_so(app_env: Path):
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert at.title[0].value == "Workout BPM"
    assert "Local mode: everyone on this machine is **platform_admin**" in texts(at)


def test_a_users_file_that_does_not_exist_fails_closed(app_env: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("DASHBOARD_AUTH", "users-file")
    monkeypatch.setenv("DASHBOARD_USERS_FILE", str(tmp_path / "missing.json"))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert "does not exist" in texts(at) and not at.metric
    assert str(tmp_path) not in texts(at)  # the path is for the log, not for whoever opens the page


def test_databricks_apps_identity_comes_from_the_policy_members(app_env: Path, monkeypatch):
    """In a Databricks App without a forwarded identity the page refuses rather than guessing."""
    monkeypatch.setenv("DASHBOARD_AUTH", "databricks-apps")
    monkeypatch.setenv("DATABRICKS_APP_NAME", "wearables-test")
    monkeypatch.setenv("DATABRICKS_APP_PORT", "8000")
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert "No user identity was forwarded by Databricks Apps." in texts(at) and not at.metric


def test_sign_in_never_logs_a_password_even_one_typed_as_the_user_name(users_env: Path, caplog):
    caplog.set_level(logging.DEBUG)
    signed_in(PASSWORD, password="not-it")  # the password typed into the name field
    signed_in("ana", password="typo-" + PASSWORD)
    signed_in("ana")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "wrong password for ana" in logged and "unknown user name" in logged and "sign-in: ana" in logged
    assert PASSWORD not in logged and "not-it" not in logged
