"""The dashboard's configuration: the project's Settings plus the few knobs only the dashboard has.

Built from environment variables and, when present, root-level keys of `.streamlit/secrets.toml` (environment wins).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from core.settings import Settings, SettingsError

# How the dashboard knows who is looking (app/auth.py). "auto": the Databricks Apps proxy's identity when running as a
# Databricks App, else OIDC when `[auth]` is in secrets.toml, else the users file when DASHBOARD_USERS_FILE is set,
# else one local admin (the local default: `./dev up` on your own machine).
AUTH_MODES = ("auto", "local-admin", "users-file", "oidc", "databricks-apps")


@dataclass(frozen=True)
class DashboardConfig:
    settings: Settings
    refresh_seconds: int = 30  # default auto-refresh period of every page; 0 turns it off
    auth_mode: str = "local-admin"  # resolved: never "auto"
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


def resolve_auth_mode(merged: Mapping[str, str], oidc_configured: bool) -> str:
    mode = (merged.get("DASHBOARD_AUTH") or "auto").strip().lower()
    if mode not in AUTH_MODES:
        raise SettingsError(f"DASHBOARD_AUTH={mode!r}: use one of {', '.join(AUTH_MODES)}")
    if mode != "auto":
        return mode
    if merged.get("DATABRICKS_APP_NAME"):  # set by Databricks Apps in the app's process
        return "databricks-apps"
    if oidc_configured:
        return "oidc"
    if merged.get("DASHBOARD_USERS_FILE"):
        return "users-file"
    return "local-admin"


def load_config(env: Mapping[str, str] | None = None) -> DashboardConfig:
    secrets, oidc = _secrets()
    merged = {**secrets, **(os.environ if env is None else env)}
    users_file = merged.get("DASHBOARD_USERS_FILE") or None
    policy_file = merged.get("GOVERNANCE_POLICY_FILE") or None
    return DashboardConfig(
        settings=Settings.from_env(merged),
        refresh_seconds=int(merged.get("DASHBOARD_REFRESH_SECONDS") or 30),
        auth_mode=resolve_auth_mode(merged, oidc),
        users_file=Path(users_file) if users_file else None,
        policy_file=Path(policy_file) if policy_file else None,
    )
