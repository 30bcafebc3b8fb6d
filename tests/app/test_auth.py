"""Which sign-in the dashboard uses, and how e-mail identities become roles."""

from __future__ import annotations

import pytest

from app.auth import SignInRefused, from_identity, local_admin
from app.config import load_config, resolve_auth_mode
from core.settings import SettingsError
from governance.policy import load_policy

POLICY = load_policy()


APP_ENV = {"DATABRICKS_APP_NAME": "wearables-prod", "DATABRICKS_APP_PORT": "8000"}


@pytest.mark.parametrize(("env", "oidc", "mode"), [
    ({}, False, "none"),
    ({"DASHBOARD_USERS_FILE": "u.json"}, False, "users-file"),
    ({"DASHBOARD_USERS_FILE": "u.json"}, True, "oidc"),
    ({**APP_ENV, "DASHBOARD_USERS_FILE": "u.json"}, True, "databricks-apps"),
    ({"DASHBOARD_AUTH": "users-file", "DASHBOARD_USERS_FILE": "u.json"}, True, "users-file"),
    ({"DASHBOARD_AUTH": "local-admin"}, False, "local-admin"),
])  # fmt: skip
def test_auto_picks_the_first_sign_in_that_applies_and_never_the_local_admin(env, oidc, mode):
    """Behaviour changed on purpose (issue 22): with nothing configured nobody is signed in, instead of an admin."""
    assert resolve_auth_mode(env, oidc) == mode


def test_forwarded_headers_are_not_trusted_off_databricks_apps():
    """A browser can send X-Forwarded-Email anywhere; only the Apps runtime (DATABRICKS_APP_NAME and _PORT) makes it
    the identity, and asking for it elsewhere is an error."""
    assert resolve_auth_mode({"DATABRICKS_APP_NAME": "x"}, False) != "databricks-apps"
    with pytest.raises(SettingsError, match="this process is not a Databricks App"):
        resolve_auth_mode({"DASHBOARD_AUTH": "databricks-apps"}, False)


def test_unknown_auth_mode_is_one_line():
    with pytest.raises(SettingsError, match="DASHBOARD_AUTH='magic': use one of"):
        load_config({"DASHBOARD_AUTH": "magic"})


def test_an_e_mail_gets_its_role_and_gyms_from_the_policy_members():
    who = from_identity(POLICY, "MANAGER.NORTH@wearables.example", "databricks-apps")
    assert (who.role, who.gyms) == ("gym_manager", (1, 2))
    with pytest.raises(SignInRefused, match="stranger@example.com is not a member of the access policy"):
        from_identity(POLICY, "stranger@example.com", "oidc")


def test_the_local_admin_is_the_policys_managing_role():
    assert local_admin(POLICY).role == "platform_admin"
