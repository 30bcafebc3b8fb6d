"""No data yet, a table missing, the warehouse unreachable or starting: each a clear message, never a traceback."""

from __future__ import annotations

import inspect
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from app.engines import DatabricksEngine
from core.contract import GYM_SUMMARY, WORKOUT_BPM_SUMMARY
from tests.app.conftest import open_page, texts
from tests.support.demo_data import arrow_schema

PAGES = (None, "views/gym_usage.py", "views/operations.py")


@pytest.fixture
def empty_env(app_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    lakehouse = tmp_path / "empty-lakehouse"
    monkeypatch.setenv("LAKEHOUSE_DIR", str(lakehouse))
    return lakehouse


@pytest.mark.parametrize("page", PAGES)
def test_no_lakehouse_yet(empty_env: Path, page: str | None) -> None:
    at = open_page(page)
    shown = texts(at)
    assert "does not exist yet" in shown or "simulator" in shown.lower()
    assert "not built yet" in shown  # the freshness line


def test_gold_tables_empty(empty_env: Path) -> None:
    for table in (WORKOUT_BPM_SUMMARY, GYM_SUMMARY):
        write_deltalake(str(empty_env / table.layer / table.name), pa.Table.from_pylist([], schema=arrow_schema(table)))
    assert "No completed workouts" in texts(open_page())
    assert "No gym visits" in texts(open_page("views/gym_usage.py"))


def test_drill_down_without_silver_readings(app_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Gold is there, silver.workout_bpm is not: the page works and the drill-down says why it has no readings."""
    partial = tmp_path / "partial"
    (partial / "gold").mkdir(parents=True)
    (partial / "gold" / "workout_bpm_summary").symlink_to(app_env / "gold" / "workout_bpm_summary")
    monkeypatch.setenv("LAKEHOUSE_DIR", str(partial))
    at = open_page()
    assert "Readings unavailable: Table silver.workout_bpm does not exist yet" in texts(at)


def _databricks(monkeypatch: pytest.MonkeyPatch, error: Exception) -> list[dict]:
    calls: list[dict] = []

    def connect(**kwargs):
        calls.append(kwargs)
        raise error

    monkeypatch.setenv("DATABRICKS_SERVER_HOSTNAME", "adb-1.azuredatabricks.net")
    monkeypatch.setenv("DATABRICKS_HTTP_PATH", "/sql/1.0/warehouses/abc")
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-test")
    monkeypatch.setattr("databricks.sql.connect", connect)
    monkeypatch.setattr(DatabricksEngine, "RETRY_WAIT_SECONDS", 0.0)
    return calls


@pytest.mark.parametrize("page", PAGES)
def test_warehouse_unreachable(app_env: Path, monkeypatch: pytest.MonkeyPatch, page: str | None) -> None:
    calls = _databricks(monkeypatch, ConnectionError("Failed to resolve adb-1.azuredatabricks.net"))
    at = open_page(page)
    assert "cannot be queried" in texts(at)
    assert calls and calls[0]["server_hostname"] == "adb-1.azuredatabricks.net"


def test_warehouse_starting(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _databricks(monkeypatch, RuntimeError("TEMPORARILY_UNAVAILABLE: warehouse is starting"))
    at = open_page()
    assert "warehouse is starting" in texts(at)
    # every request the page made tried once and retried a bounded number of times, then gave up
    attempts = 1 + inspect.signature(DatabricksEngine).parameters["start_retries"].default
    assert calls and len(calls) % attempts == 0 and len(calls) <= 3 * attempts
