"""The dashboard's configuration: the project's Settings plus the few knobs only the dashboard has.

Built from environment variables and, when present, root-level keys of `.streamlit/secrets.toml` (environment wins).
Closed by default: without a sign-in setting nobody is signed in, and a setting that is empty, misspelled or used
where it cannot be trusted is an error, never a fall-back to more access.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from core.settings import Settings, SettingsError

# How the dashboard knows who is looking (app/auth.py). "auto": the Databricks Apps proxy's identity when running as a
# Databricks App, else OIDC when `[auth]` is in secrets.toml, else the users file when DASHBOARD_USERS_FILE is set,
# else nobody ("none": every page says how to configure a sign-in). "local-admin" (one local user, a platform admin,
# served to this machine only) is never chosen by "auto": only DASHBOARD_AUTH=local-admin turns it on (`./dev up`).
AUTH_MODES = ("auto", "local-admin", "users-file", "oidc", "databricks-apps")
NO_SIGN_IN = "none"
SETTINGS = ("DASHBOARD_AUTH", "DASHBOARD_USERS_FILE", "DASHBOARD_REFRESH_SECONDS", "GOVERNANCE_POLICY_FILE")
_DATABRICKS_APP = ("DATABRICKS_APP_NAME", "DATABRICKS_APP_PORT")  # set by Databricks Apps in the app's process


@dataclass(frozen=True)
class DashboardConfig:
    settings: Settings
    refresh_seconds: int = 30  # default auto-refresh period of every page; 0 turns it off
    auth_mode: str = NO_SIGN_IN  # resolved: never "auto"
    users_file: Path | None = None  # DASHBOARD_USERS_FILE: local users and their salted password hashes
    policy_file: Path | None = None  # GOVERNANCE_POLICY_FILE: default governance/policy.yml

    @property
    def engine_key(self) -> tuple[str, ...]:
        """What identifies the engine to use: the same key gets the same cached engine."""
        s = self.settings
        if s.databricks_configured:
            return ("databricks", s.databricks_server_hostname or "", s.databricks_http_path or "",
                    s.catalog or "")  # fmt: skip
        return ("local", str(s.lakehouse_dir.resolve()))


def _secrets() -> tuple[dict[str, str], bool]:
    """Root-level string values of Streamlit's secrets file, and whether it has an `[auth]` (OIDC) section."""
    try:
        import streamlit as st

        if not st.secrets.load_if_toml_exists():
            return {}, False
        found = st.secrets.to_dict()
        return {k: str(v) for k, v in found.items() if not isinstance(v, dict)}, isinstance(found.get("auth"), dict)
    except Exception:  # noqa: BLE001 - no secrets file is the normal local case
        return {}, False


def running_as_databricks_app(merged: Mapping[str, str]) -> bool:
    """Whether this process runs as a Databricks App, the only place a proxy sets X-Forwarded-Email."""
    return all(merged.get(name) for name in _DATABRICKS_APP)


def check_setting_names(merged: Mapping[str, str]) -> None:
    """A misspelled dashboard setting (DASHBOARD_USER_FILE, DASHBORD_AUTH ...) is an error, not silently ignored."""
    for name in merged:
        upper = str(name).upper()
        if upper in SETTINGS or upper.startswith("DATABRICKS_"):
            continue
        close = difflib.get_close_matches(upper, SETTINGS, n=1, cutoff=0.85)
        if upper.startswith("DASHBOARD") or close:
            hint = f"did you mean {close[0]}? " if close else ""
            raise SettingsError(f"{name} is not a dashboard setting: {hint}the settings are {', '.join(SETTINGS)}")


def resolve_auth_mode(merged: Mapping[str, str], oidc_configured: bool) -> str:
    """The sign-in to use; SettingsError when the configuration asks for one that cannot be trusted here."""
    check_setting_names(merged)
    if "DASHBOARD_USERS_FILE" in merged and not str(merged["DASHBOARD_USERS_FILE"]).strip():
        raise SettingsError("DASHBOARD_USERS_FILE is set but empty: give the users file's path, or unset it")
    mode = (merged.get("DASHBOARD_AUTH") or "auto").strip().lower()
    if mode not in AUTH_MODES:
        raise SettingsError(f"DASHBOARD_AUTH={mode!r}: use one of {', '.join(AUTH_MODES)}")
    in_app = running_as_databricks_app(merged)
    if mode == "auto":
        if in_app:
            return "databricks-apps"
        if oidc_configured:
            return "oidc"
        return "users-file" if merged.get("DASHBOARD_USERS_FILE") else NO_SIGN_IN
    if mode == "databricks-apps" and not in_app:
        raise SettingsError("DASHBOARD_AUTH=databricks-apps trusts the X-Forwarded-Email header, which only the "
                            "Databricks Apps proxy sets, but this process is not a Databricks App "
                            "(DATABRICKS_APP_NAME and DATABRICKS_APP_PORT unset)")  # fmt: skip
    if mode == "users-file" and not merged.get("DASHBOARD_USERS_FILE"):
        raise SettingsError("DASHBOARD_AUTH=users-file needs DASHBOARD_USERS_FILE, the users file's path")
    if mode == "oidc" and not oidc_configured:
        raise SettingsError("DASHBOARD_AUTH=oidc needs an [auth] section in .streamlit/secrets.toml")
    if mode == "local-admin" and in_app:
        raise SettingsError("DASHBOARD_AUTH=local-admin is for one user on their own machine, not a Databricks App")
    return mode


def local_stack_auth(env: Mapping[str, str]) -> dict[str, str]:
    """What `./dev up` adds to the dashboard's environment: the one-local-admin mode, when no sign-in is configured
    (a users file, OIDC or an explicit DASHBOARD_AUTH keep theirs)."""
    secrets, oidc = _secrets()
    merged = {**secrets, **env}
    if "DASHBOARD_AUTH" in merged or resolve_auth_mode(merged, oidc) != NO_SIGN_IN:
        return {}
    return {"DASHBOARD_AUTH": "local-admin"}


def _seconds(text: str | None) -> int:
    try:
        return int(text or 30)
    except ValueError as exc:
        raise SettingsError(f"DASHBOARD_REFRESH_SECONDS={text!r}: give whole seconds, e.g. 30 (0: off)") from exc


def load_config(env: Mapping[str, str] | None = None) -> DashboardConfig:
    secrets, oidc = _secrets()
    merged = {**secrets, **(os.environ if env is None else env)}
    mode = resolve_auth_mode(merged, oidc)
    users_file = (merged.get("DASHBOARD_USERS_FILE") or "").strip() or None
    policy_file = merged.get("GOVERNANCE_POLICY_FILE") or None
    return DashboardConfig(
        settings=Settings.from_env(merged),
        refresh_seconds=_seconds(merged.get("DASHBOARD_REFRESH_SECONDS")),
        auth_mode=mode,
        users_file=Path(users_file) if users_file else None,
        policy_file=Path(policy_file) if policy_file else None,
    )
