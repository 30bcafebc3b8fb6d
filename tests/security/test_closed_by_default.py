"""Closed by default, tried as an attacker: the dashboard started as the README shows it, reached from another
address, with an empty or misspelled sign-in setting, and with a forged X-Forwarded-Email."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from app import auth
from app.config import load_config, local_stack_auth, resolve_auth_mode
from core.settings import SettingsError
from tests.security.conftest import (
    listening_addresses,
    non_loopback_address,
    shown,
    streamlit_run,
    visit,
)
from tests.support.harness import chromium_page, ensure_chromium

ADMIN = "admin@wearables.example"


def test_streamlit_run_alone_listens_on_this_machine_only(app_env: Path, tmp_path: Path):
    """`streamlit run app/streamlit_app.py` with no address given: nothing answers on the network interface."""
    with streamlit_run({}, tmp_path / "streamlit.log") as port:
        assert listening_addresses(port) == {"127.0.0.1"}
        with socket.socket() as s, pytest.raises(ConnectionRefusedError):
            s.settimeout(5)
            s.connect((non_loopback_address(), port))


def test_an_anonymous_visitor_on_a_non_loopback_address_is_not_the_local_admin(app_env: Path, tmp_path: Path):
    """Even when the local admin mode is asked for and the server is opened to the network on purpose, a browser
    that connects from another address gets a refusal and no data; the same browser over 127.0.0.1 gets the admin."""
    ensure_chromium()
    env = {"DASHBOARD_AUTH": "local-admin", "DASHBOARD_REFRESH_SECONDS": "0"}
    with streamlit_run(env, tmp_path / "streamlit.log", "--server.address", "0.0.0.0") as port, chromium_page() as page:
        page.goto(f"http://{non_loopback_address()}:{port}/")
        page.get_by_text("serves this machine only").wait_for(timeout=60_000)
        assert page.locator('[data-testid="stMetric"]').count() == 0
        assert "Workout BPM" not in page.inner_text("body")
        page.goto(f"http://127.0.0.1:{port}/")
        page.locator('[data-testid="stMetric"]').first.wait_for(timeout=60_000)
        assert "Local mode: everyone on this machine is" in page.inner_text("body")
    assert "local-admin mode refused a visitor from" in (tmp_path / "streamlit.log").read_text()


def test_a_visitor_from_another_address_gets_no_admin_in_process(app_env: Path, monkeypatch):
    monkeypatch.setattr(auth, "client_address", lambda: "203.0.113.9")
    at = visit()
    assert "serves this machine only" in shown(at)
    assert not at.metric and not at.dataframe and not at.title


def test_with_no_sign_in_configured_nobody_is_signed_in(app_env: Path, monkeypatch):
    monkeypatch.delenv("DASHBOARD_AUTH")
    at = visit()
    assert at.title[0].value == "Sign-in not configured"
    assert "DASHBOARD_AUTH=local-admin" in shown(at) and not at.metric and not at.dataframe


def test_dev_up_asks_for_the_local_admin_only_when_no_sign_in_is_configured():
    assert local_stack_auth({}) == {"DASHBOARD_AUTH": "local-admin"}
    assert local_stack_auth({"DASHBOARD_USERS_FILE": "users.json"}) == {}
    assert local_stack_auth({"DASHBOARD_AUTH": "users-file", "DASHBOARD_USERS_FILE": "users.json"}) == {}


@pytest.mark.parametrize(("env", "message"), [
    ({"DASHBOARD_USERS_FILE": ""}, "DASHBOARD_USERS_FILE is set but empty"),
    ({"DASHBOARD_USERS_FILE": "   "}, "DASHBOARD_USERS_FILE is set but empty"),
    ({"DASHBOARD_USER_FILE": "users.json"}, "DASHBOARD_USER_FILE is not a dashboard setting: did you mean "
                                            "DASHBOARD_USERS_FILE?"),
    ({"DASHBORD_USERS_FILE": "users.json"}, "did you mean DASHBOARD_USERS_FILE?"),
    ({"DASHBOARD_AUTH": "users-file"}, "needs DASHBOARD_USERS_FILE"),
    ({"DASHBOARD_AUTH": "oidc"}, "needs an [auth] section"),
    ({"DASHBOARD_AUTH": "admin"}, "DASHBOARD_AUTH='admin': use one of"),
])  # fmt: skip
def test_an_empty_or_misspelled_sign_in_setting_is_an_error_not_an_admin(env, message):
    with pytest.raises(SettingsError) as raised:
        resolve_auth_mode(env, False)
    assert message in str(raised.value)


@pytest.mark.parametrize("env", [{"DASHBOARD_USERS_FILE": ""}, {"DASHBOARD_USER_FILE": "/tmp/users.json"}])
def test_the_page_with_an_empty_or_misspelled_users_file_setting_shows_no_data(app_env: Path, monkeypatch, env):
    monkeypatch.delenv("DASHBOARD_AUTH")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    at = visit()
    assert "The dashboard's settings cannot be used, so nobody is signed in" in shown(at)
    assert not at.metric and not at.dataframe and not at.sidebar.caption


def test_a_forged_x_forwarded_email_off_databricks_apps_is_refused(app_env: Path, monkeypatch):
    """Asking for the Databricks Apps sign-in on an ordinary server is a settings error, whatever the headers say."""
    monkeypatch.setenv("DASHBOARD_AUTH", "databricks-apps")
    monkeypatch.setattr(auth, "request_headers", lambda: {"X-Forwarded-Email": ADMIN})
    at = visit()
    assert "this process is not a Databricks App" in shown(at)
    assert not at.metric and not at.dataframe and ADMIN not in shown(at)


def test_a_forged_x_forwarded_email_is_ignored_by_the_password_sign_in(users_env, monkeypatch):
    monkeypatch.setattr(auth, "request_headers", lambda: {"X-Forwarded-Email": ADMIN})
    at = visit()
    assert at.title[0].value == "Sign in" and not at.metric and ADMIN not in shown(at)


def test_in_a_fake_databricks_app_the_forwarded_e_mail_must_be_a_policy_member(app_env: Path, monkeypatch):
    """With the Databricks Apps runtime's variables set (a stand-in for the real runtime), the proxy's header is the
    identity: a member gets their role, anyone else nothing."""
    monkeypatch.setenv("DASHBOARD_AUTH", "databricks-apps")
    monkeypatch.setenv("DATABRICKS_APP_NAME", "wearables-test")
    monkeypatch.setenv("DATABRICKS_APP_PORT", "8000")
    monkeypatch.setattr(auth, "request_headers", lambda: {"X-Forwarded-Email": "mallory@evil.example"})
    at = visit()
    assert "mallory@evil.example is not a member of the access policy" in shown(at) and not at.metric
    monkeypatch.setattr(auth, "request_headers", lambda: {"X-Forwarded-Email": "manager.gym3@wearables.example"})
    at = visit()
    assert "Signed in as **manager.gym3@wearables.example (gym_manager, gyms 3)**" in shown(at)


def test_local_admin_is_refused_inside_a_fake_databricks_app():
    env = {"DASHBOARD_AUTH": "local-admin", "DATABRICKS_APP_NAME": "w", "DATABRICKS_APP_PORT": "8000"}
    with pytest.raises(SettingsError, match="not a Databricks App"):
        load_config(env)


@pytest.mark.parametrize(("claims", "refused"), [
    ({"email": ADMIN, "email_verified": False}, "has not verified"),
    ({"email": ADMIN}, "has not verified"),
    ({"email": ADMIN, "email_verified": "no"}, "has not verified"),
    ({"email_verified": True}, "sent no e-mail address"),
])  # fmt: skip
def test_oidc_maps_only_a_verified_e_mail(claims, refused):
    with pytest.raises(auth.SignInRefused, match=refused):
        auth.verified_email(claims)
    assert auth.verified_email({"email": ADMIN, "email_verified": True}) == ADMIN


def test_the_apps_service_role_is_no_ones_identity():
    """The app's own read-everything-unmasked role cannot be given to a person, in the policy or the users file."""
    import yaml

    from governance.policy import POLICY_FILE, PolicyError, parse_policy

    doc = yaml.safe_load(POLICY_FILE.read_text())
    doc["members"].append({"identity": "mallory@evil.example", "role": "dashboard_app"})
    with pytest.raises(PolicyError, match="the dashboard app's own principal, not for people"):
        parse_policy(doc)
