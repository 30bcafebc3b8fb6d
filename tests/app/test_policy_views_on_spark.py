"""The policy views the dashboard wraps around each table are valid Spark SQL (the Databricks dialect) too: every
dashboard query, as a gym manager and as an analyst sees it, gives the same answer on Spark and on the local engine."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from app import queries as q
from app.data import secure
from app.engines import AccessDenied, LocalEngine, local_view_name
from core.settings import Settings
from governance.policy import load_policy
from tests.app.test_data_layer import example_queries
from tests.app.test_query_equivalence import _normalise, _spark_param
from tests.support.demo_data import DemoSpec, write_demo_lakehouse

LAST_DAY = date(2026, 11, 20)
POLICY = load_policy()
WHO = {"manager": POLICY.access("m@x", "gym_manager", (2, 3)), "analyst": POLICY.access("a@x", "analyst")}
QUERIES = example_queries(q.WorkoutFilters(LAST_DAY - timedelta(days=9), LAST_DAY, gyms=(1, 2)),
                          q.GymFilters(LAST_DAY - timedelta(days=9), LAST_DAY, (1, 2)))  # fmt: skip
# the analyst's view differs from the plain table only where a column is masked: gold.gym_summary's mac_address
CASES = [("manager", b) for b in QUERIES] + [("analyst", b) for b in QUERIES if b.tables[0].name == "gym_summary"]


@pytest.fixture(scope="module")
def lakehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("policy-views")
    write_demo_lakehouse(root, DemoSpec(sessions=80, members=15, days=10, last_day=LAST_DAY))
    return root


@pytest.fixture(scope="module")
def spark_views(spark, lakehouse: Path):
    for table in q.ALLOWED_TABLES.values():
        spark.read.format("delta").load(str(lakehouse / table.layer / table.name)).createOrReplaceTempView(
            local_view_name(table)
        )
    yield spark
    for table in q.ALLOWED_TABLES.values():
        spark.catalog.dropTempView(local_view_name(table))


@pytest.fixture(scope="module")
def local(lakehouse: Path) -> LocalEngine:
    engine = LocalEngine(Settings.from_env({}, lakehouse_dir=lakehouse))
    yield engine
    engine.close()


@pytest.mark.parametrize(("who", "bound"), CASES, ids=[f"{w}-{b.name}" for w, b in CASES])
def test_secured_query_same_on_spark_and_local_engine(who, bound, spark_views, local):
    try:
        safe = secure(bound, WHO[who])
    except AccessDenied:
        assert not all(WHO[who].may_read(t.full_name) for t in bound.tables), bound.name
        return
    mine = local.query(safe).to_pandas()
    result = spark_views.sql(q.render(safe.sql, local_view_name), args={k: _spark_param(v) for k, v in
                                                                         safe.params.items()})  # fmt: skip
    theirs = pd.DataFrame([r.asDict() for r in result.collect()], columns=result.columns)
    assert list(mine.columns) == list(theirs.columns)
    mine, theirs = _normalise(mine), _normalise(theirs)
    if not safe.ordered:
        mine = mine.sort_values(list(mine.columns)).reset_index(drop=True)
        theirs = theirs.sort_values(list(theirs.columns)).reset_index(drop=True)
    pd.testing.assert_frame_equal(mine, theirs, check_dtype=False, rtol=1e-9)
    if who == "manager" and "gym" in mine:
        assert set(mine["gym"].dropna()) <= {2.0, 3.0}
