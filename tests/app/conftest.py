"""Fixtures of the dashboard tests: a small synthetic lakehouse and an app pointed at it through the environment."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.support.demo_data import DemoSpec, write_demo_lakehouse

APP = str(Path(__file__).resolve().parents[2] / "app" / "streamlit_app.py")
LAST_DAY = date(2026, 11, 20)
UNREACHABLE_KAFKA = "127.0.0.1:9"  # discard port: nothing listens, so lag reports "unreachable" at once


@pytest.fixture(scope="session")
def demo_lakehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Written once per run and only read by the tests."""
    root = tmp_path_factory.mktemp("lakehouse")
    write_demo_lakehouse(root, DemoSpec(last_day=LAST_DAY))
    return root


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, demo_lakehouse: Path) -> Path:
    """Environment of one app test: the demo lakehouse, a fresh data dir, no Databricks, Kafka unreachable, and the
    one local admin of `./dev up`."""
    for name in ("DATABRICKS_SERVER_HOSTNAME", "DATABRICKS_HTTP_PATH", "DATABRICKS_TOKEN", "KAFKA_TOPIC_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LAKEHOUSE_DIR", str(demo_lakehouse))
    monkeypatch.setenv("LAKEHOUSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", UNREACHABLE_KAFKA)
    monkeypatch.setenv("DASHBOARD_REFRESH_SECONDS", "0")
    monkeypatch.setenv("DASHBOARD_AUTH", "local-admin")  # the one local admin is never the default: asked for here
    monkeypatch.delenv("DASHBOARD_USERS_FILE", raising=False)
    return demo_lakehouse


@pytest.fixture(autouse=True)
def fresh_caches() -> Iterator[None]:
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


def open_page(page: str | None = None) -> AppTest:
    """Run the app (and switch to `page`, a path like "views/gym_usage.py"); fails on any uncaught exception."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def texts(at: AppTest) -> str:
    """Every message, caption and markdown shown, as one string for `in` checks."""
    parts = [e.value for kind in ("info", "warning", "error", "success", "caption", "markdown", "subheader", "title")
             for e in getattr(at, kind)]  # fmt: skip
    return "\n".join(str(p) for p in parts)


def frame_with(at: AppTest, *columns: str):
    """The first table shown that has all these columns (plain st.dataframe elements carry no key)."""
    for df in at.dataframe:
        if set(columns) <= set(df.value.columns):
            return df.value
    raise AssertionError(f"no table with columns {columns}")


def plotly_mounts(at: AppTest) -> list[dict]:
    """The data of every mount of app.plotly_js's component (the main area's first, then the sidebar's)."""
    return [json.loads(e.proto.json) for e in at.get("bidi_component") if e.proto.component_name == "lakehouse_plotly"]


def charts(at: AppTest) -> list[dict]:
    """Every chart the run drew, as a plotly figure dict: through app.plotly_js's component (data.figure, JSON) or,
    where the bundle is not served, through st.plotly_chart."""
    drawn = [json.loads(m["figure"]) for m in plotly_mounts(at) if "figure" in m]  # not the sidebar's preload
    return drawn + [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def chart_titles(at: AppTest) -> list[str]:
    return [c["layout"]["title"]["text"] for c in charts(at)]
