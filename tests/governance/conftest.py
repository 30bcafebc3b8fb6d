"""A small demo lakehouse and the principals of the policy's four roles."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from deltalake import DeltaTable

from app.engines import LocalEngine
from core.settings import Settings
from governance.policy import Access, load_policy
from tests.support.demo_data import DemoSpec, write_demo_lakehouse

POLICY = load_policy()
PRINCIPALS: dict[str, Access] = {
    "admin": POLICY.access("admin@wearables.example", "platform_admin"),
    "engineer": POLICY.access("engineer@wearables.example", "data_engineer"),
    "analyst": POLICY.access("analyst@wearables.example", "analyst"),
    "manager3": POLICY.access("manager.gym3@wearables.example", "gym_manager", (3,)),
}
TABLES = ("gold.workout_bpm_summary", "gold.gym_summary", "silver.workout_bpm", "ops.pipeline_runs", "ops.quarantine",
          "bronze.kafka_multiplex_bz")  # fmt: skip


@pytest.fixture(scope="session")
def lakehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("governed")
    write_demo_lakehouse(root, DemoSpec(sessions=120, members=20, gyms=4, days=6, last_day=date(2026, 11, 20)))
    return root


@pytest.fixture(scope="session")
def engine(lakehouse: Path) -> LocalEngine:
    eng = LocalEngine(Settings.from_env({}, lakehouse_dir=lakehouse))
    yield eng
    eng.close()


def delta(lakehouse: Path, table: str) -> pd.DataFrame:
    layer, name = table.split(".")
    return DeltaTable(str(lakehouse / layer / name)).to_pandas()
