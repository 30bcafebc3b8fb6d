"""The dashboard's configuration: the project's Settings plus the few knobs only the dashboard has.

Built from environment variables and, when present, root-level keys of `.streamlit/secrets.toml` (environment wins).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from lakehouse.settings import Settings


@dataclass(frozen=True)
class DashboardConfig:
    settings: Settings
    refresh_seconds: int = 30  # default auto-refresh period of every page; 0 turns it off

    @property
    def engine_key(self) -> tuple[str, ...]:
        """What identifies the engine to use: the same key gets the same cached engine."""
        s = self.settings
        if s.databricks_configured:
            return ("databricks", s.databricks_server_hostname or "", s.databricks_http_path or "",
                    s.catalog or "")  # fmt: skip
        return ("local", str(s.lakehouse_dir.resolve()))


def _secrets() -> dict[str, str]:
    """Root-level string values of Streamlit's secrets file, or nothing when there is no file."""
    try:
        import streamlit as st

        if not st.secrets.load_if_toml_exists():
            return {}
        return {k: str(v) for k, v in st.secrets.to_dict().items() if not isinstance(v, dict)}
    except Exception:  # noqa: BLE001 - no secrets file is the normal local case
        return {}


def load_config(env: Mapping[str, str] | None = None) -> DashboardConfig:
    merged = {**_secrets(), **(os.environ if env is None else env)}
    return DashboardConfig(
        settings=Settings.from_env(merged),
        refresh_seconds=int(merged.get("DASHBOARD_REFRESH_SECONDS") or 30),
    )
