"""Every dashboard query gives the same answer on Spark SQL (the Databricks dialect) and on the local engine.

All Spark comparisons live in this module: the session is slow to start. Both engines read the same Delta tables.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from app import queries as q
from app.engines import LocalEngine, local_view_name
from app.gender import gender_group, gender_group_sql
from core.settings import Settings
from tests.app.test_data_layer import example_queries
from tests.support.demo_data import DemoSpec, write_demo_lakehouse

LAST_DAY = date(2026, 11, 20)
FULL = q.WorkoutFilters(LAST_DAY - timedelta(days=30), LAST_DAY)
GYMS = q.GymFilters(LAST_DAY - timedelta(days=30), LAST_DAY)
NARROW = q.WorkoutFilters(LAST_DAY - timedelta(days=3), LAST_DAY - timedelta(days=1), gyms=(1, 3),
                          ages=("25-35", "35-45", "45-55"), genders=("F", "M"), states=("CA", "NY", "TX"))  # fmt: skip
NARROW_GYMS = q.GymFilters(LAST_DAY - timedelta(days=5), LAST_DAY - timedelta(days=2), gyms=(2,))
UNSTATED = q.WorkoutFilters(LAST_DAY - timedelta(days=30), LAST_DAY, genders=(None, "Non-binary"))  # NULL or one value

CASES = (
    example_queries(FULL, GYMS)
    + example_queries(NARROW, NARROW_GYMS)
    + [q.session_table(FULL, col, desc, 40) for col, desc in (("duration_min", True), ("min_bpm", False))]
    + [q.avg_bpm_distribution(NARROW, 2), q.runs_since(datetime(2026, 11, 20, 7, 45))]
    + [q.session_table(FULL, "avg_bpm", True, 25, 50), q.workout_kpis(UNSTATED), q.bpm_by_age_gender(UNSTATED)]
)


@pytest.fixture(scope="module")
def lakehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("equivalence")
    write_demo_lakehouse(root, DemoSpec(sessions=150, members=25, days=10, last_day=LAST_DAY))
    return root


@pytest.fixture(scope="module")
def spark_views(spark, lakehouse: Path):
    """Spark temp views named like the local engine's, over the same Delta tables (cached: read the log once)."""
    for table in q.ALLOWED_TABLES.values():
        view = local_view_name(table)
        spark.read.format("delta").load(str(lakehouse / table.layer / table.name)).createOrReplaceTempView(view)
        spark.catalog.cacheTable(view)
    yield spark
    for table in q.ALLOWED_TABLES.values():
        spark.catalog.dropTempView(local_view_name(table))


@pytest.fixture(scope="module")
def local(lakehouse: Path) -> LocalEngine:
    engine = LocalEngine(Settings.from_env({}, lakehouse_dir=lakehouse))
    yield engine
    engine.close()


def _spark_param(value: object) -> object:
    # the dashboard binds naive datetimes meaning UTC; an aware one keeps that meaning whatever the machine's zone
    return value.replace(tzinfo=UTC) if isinstance(value, datetime) and value.tzinfo is None else value


def _normalise(df: pd.DataFrame) -> pd.DataFrame:
    out = {}
    for col in df.columns:
        s = df[col]
        sample = next((v for v in s if v is not None and not (isinstance(v, float) and math.isnan(v))), None)
        if isinstance(sample, datetime | date) or pd.api.types.is_datetime64_any_dtype(s):
            out[col] = pd.to_datetime(s).astype("datetime64[us]")
        elif isinstance(sample, int | float) or pd.api.types.is_numeric_dtype(s):
            out[col] = pd.to_numeric(s.astype(object).where(s.notna(), None), errors="coerce").astype("float64")
        else:
            out[col] = s.astype(object).where(s.notna(), None)
    return pd.DataFrame(out, columns=list(df.columns))


@pytest.mark.parametrize("bound", CASES, ids=[f"{i:02d}-{b.name}" for i, b in enumerate(CASES)])
def test_same_result_on_spark_and_local_engine(bound: q.BoundQuery, spark_views, local: LocalEngine) -> None:
    if bound.name == "session_readings":  # a session that has readings
        first = local.query(q.session_table(FULL, limit=1)).to_pylist()[0]
        bound = q.session_readings(first["user_id"], first["workout_id"], first["session_id"])
    mine = local.query(bound).to_pandas()
    sql = q.render(bound.sql, local_view_name)
    result = spark_views.sql(sql, args={k: _spark_param(v) for k, v in bound.params.items()})
    theirs = pd.DataFrame([r.asDict() for r in result.collect()], columns=result.columns)
    assert list(mine.columns) == list(theirs.columns)
    assert len(mine) > 0 or bound.name in {"members_in_gym_now"}, f"{bound.name}: make the case return rows"
    mine, theirs = _normalise(mine), _normalise(theirs)
    if not bound.ordered:
        mine = mine.sort_values(list(mine.columns)).reset_index(drop=True)
        theirs = theirs.sort_values(list(theirs.columns)).reset_index(drop=True)
    pd.testing.assert_frame_equal(mine, theirs, check_dtype=False, rtol=1e-9)


def test_gender_groups_alike_on_spark_and_duckdb(spark) -> None:
    """The display groups of free-text gender, computed by the SQL both engines run, match app.gender."""
    values = ["F", "female", "Woman", "F ", " m", "MALE", "Nonbinary", "non binary", "", "  ", "prefer not to say",
              "Two-spirit", "f\t", None]  # fmt: skip
    rows = ", ".join("(NULL)" if v is None else "('" + v.replace("'", "''") + "')" for v in values)
    sql = f"SELECT raw, {gender_group_sql('raw')} AS grp FROM (VALUES {rows}) AS v(raw)"
    expected = {v: gender_group(v) for v in values}
    assert {r["raw"]: r["grp"] for r in spark.sql(sql).collect()} == expected
    local = duckdb.connect()
    assert dict(local.sql(sql).fetchall()) == expected
