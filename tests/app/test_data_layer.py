"""Queries, engines, chart builders and the lag computation, without Streamlit."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from app import charts, kafka_lag
from app import queries as q
from app.engines import DatabricksEngine, LocalEngine, TableMissing, WarehouseStarting, WarehouseUnreachable
from app.queries import BoundQuery
from core.contract import GYM_SUMMARY, WORKOUT_BPM_SUMMARY
from core.service import wait_until
from core.settings import Settings

DATABRICKS = {"DATABRICKS_SERVER_HOSTNAME": "h", "DATABRICKS_HTTP_PATH": "/sql/1.0/warehouses/w",
              "DATABRICKS_TOKEN": "t", "LAKEHOUSE_CATALOG": "wearables"}  # fmt: skip


def test_render_resolves_allow_listed_tables_and_refuses_others() -> None:
    sql = "SELECT 1 FROM {gold.workout_bpm_summary} JOIN {gold.gym_summary}"
    assert q.render(sql, lambda t: f"<{t.name}>") == "SELECT 1 FROM <workout_bpm_summary> JOIN <gym_summary>"
    with pytest.raises(q.UnknownTableError):
        q.render("SELECT * FROM {silver.users}", lambda t: t.name)


def test_params_convert_to_duckdb_markers_only_outside_casts() -> None:
    assert (
        q.to_dollar_params("a = :x AND b IN (:y_0, :y_1) AND c::INT = 1")
        == "a = $x AND b IN ($y_0, $y_1) AND c::INT = 1"
    )


def test_filters_become_bound_parameters_never_sql_text() -> None:
    f = q.WorkoutFilters(date(2026, 1, 1), date(2026, 1, 31), gyms=(1, 2), genders=("F'; DROP TABLE x; --",))
    bound = q.workout_kpis(f)
    assert "DROP" not in bound.sql
    assert bound.params["gender_0"] == "F'; DROP TABLE x; --"
    assert bound.params["end_ts"] == datetime(2026, 2, 1)
    assert q.param_names(bound.sql) == set(bound.params)


def test_every_registered_query_binds_exactly_its_parameters() -> None:
    f, g = (
        q.WorkoutFilters(date(2026, 1, 1), date(2026, 1, 2), ages=("25-35",)),
        q.GymFilters(date(2026, 1, 1), date(2026, 1, 2), (1,)),
    )
    for bound in example_queries(f, g):
        assert q.param_names(bound.sql) == set(bound.params), bound.name
        assert bound.tables, bound.name


def test_sort_column_comes_from_the_allow_list() -> None:
    with pytest.raises(ValueError, match="cannot sort"):
        q.session_table(q.WorkoutFilters(date(2026, 1, 1), date(2026, 1, 2)), sort_by="1; DROP TABLE x")


def example_queries(f: q.WorkoutFilters, g: q.GymFilters) -> list[BoundQuery]:
    """One call of every registered builder; fails when a builder is added without an example here."""
    examples = {
        "workout_date_bounds": q.workout_date_bounds(),
        "workout_filter_options": q.workout_filter_options(),
        "workout_kpis": q.workout_kpis(f),
        "bpm_by_age_gender": q.bpm_by_age_gender(f),
        "avg_bpm_distribution": q.avg_bpm_distribution(f, 5),
        "daily_trend": q.daily_trend(f),
        "session_table": q.session_table(f, "avg_bpm", True, 50),
        "session_readings": q.session_readings(3, 2, 1),
        "gym_date_bounds": q.gym_date_bounds(),
        "gym_options": q.gym_options(),
        "visits_per_day": q.visits_per_day(g),
        "visits_per_gym": q.visits_per_gym(g),
        "occupancy": q.occupancy(g),
        "members_in_gym_now": q.members_in_gym_now(),
        "gym_minutes": q.gym_minutes(g),
        "minutes_density": q.minutes_density(g, 10),
        "pipeline_runs": q.pipeline_runs(),
        "runs_since": q.runs_since(datetime(2026, 1, 1)),
        "quarantine_counts": q.quarantine_counts(),
        "bronze_offsets": q.bronze_offsets(),
    }
    assert set(examples) == set(q.REGISTRY), "add an example for every registered query"
    return list(examples.values())


def test_local_engine_reports_a_missing_table(tmp_path: Path) -> None:
    engine = LocalEngine(Settings.from_env({}, lakehouse_dir=tmp_path))
    with pytest.raises(TableMissing, match="gold.workout_bpm_summary does not exist yet"):
        engine.query(q.workout_date_bounds())


def test_local_engine_sees_a_new_delta_version(tmp_path: Path) -> None:
    from tests.support.demo_data import DemoSpec, write_demo_lakehouse

    write_demo_lakehouse(tmp_path, DemoSpec(sessions=20, readings=False))
    engine = LocalEngine(Settings.from_env({}, lakehouse_dir=tmp_path), recheck_seconds=0)
    assert engine.query(q.workout_date_bounds()).to_pylist()[0]["sessions"] == 20
    write_demo_lakehouse(tmp_path, DemoSpec(sessions=30, readings=False))
    # the new version is copied in the background; until then queries keep answering from the previous one
    wait_until(lambda: engine.query(q.workout_date_bounds()).to_pylist()[0]["sessions"] == 30, 30, "version 1")
    assert engine.last_commit(WORKOUT_BPM_SUMMARY) is not None


def test_gym_members_count_registered_members_once_and_unregistered_wristbands_by_mac(tmp_path: Path) -> None:
    from tests.support.demo_data import write_table

    day, at = date(2026, 1, 1), datetime(2026, 1, 1, 9)
    visits = [  # (gym, mac_address, user_id): member 7 with two wristbands, member 8, two unregistered wristbands
        (1, "aa:00", 7), (1, "aa:01", 7), (1, "aa:02", 8), (1, "bb:00", None), (1, "bb:00", None), (1, "bb:01", None),
        (2, "aa:00", 7), (2, "bb:00", None),
    ]  # fmt: skip
    write_table(tmp_path, GYM_SUMMARY, {
        "gym": [v[0] for v in visits], "mac_address": [v[1] for v in visits], "user_id": [v[2] for v in visits],
        "login": [at] * len(visits), "date": [day] * len(visits), "logout": [None] * len(visits),
        "minutes_in_gym": [None] * len(visits), "num_workouts": [0] * len(visits),
        "minutes_exercising": [None] * len(visits),
    })  # fmt: skip
    engine = LocalEngine(Settings.from_env({}, lakehouse_dir=tmp_path))
    try:
        rows = engine.query(q.visits_per_gym(q.GymFilters(day, day))).to_pylist()
    finally:
        engine.close()
    assert [(r["gym"], r["visits"], r["members"]) for r in rows] == [(1, 6, 4), (2, 2, 2)]


class FakeCursor:
    def __init__(self, conn: FakeConnection) -> None:
        self.conn = conn

    def __enter__(self) -> FakeCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def execute(self, sql: str, parameters: dict) -> None:
        self.conn.executed.append((sql, parameters))
        if self.conn.errors:
            raise self.conn.errors.pop(0)

    def fetchall_arrow(self) -> pa.Table:
        return pa.table({"x": [1]})


class FakeConnection:
    def __init__(self, errors: list[Exception]) -> None:
        self.errors, self.executed, self.closed = errors, [], False

    def cursor(self) -> FakeCursor:
        return FakeCursor(self)

    def close(self) -> None:
        self.closed = True


def _engine(errors: list[Exception]) -> tuple[DatabricksEngine, list[FakeConnection], list[float]]:
    conns: list[FakeConnection] = []
    waits: list[float] = []

    def connect(**kwargs: object) -> FakeConnection:
        conns.append(FakeConnection(errors))
        return conns[-1]

    engine = DatabricksEngine(Settings.from_env(DATABRICKS), catalog="wearables", connect=connect,
                              retry_wait_seconds=1.0, sleep=waits.append)  # fmt: skip
    return engine, conns, waits


def test_databricks_engine_binds_parameters_and_qualifies_tables() -> None:
    engine, conns, _ = _engine([])
    f = q.WorkoutFilters(date(2026, 1, 1), date(2026, 1, 2), gyms=(4,))
    assert engine.query(q.workout_kpis(f)).num_rows == 1
    sql, params = conns[0].executed[0]
    assert "FROM `wearables`.`gold`.`workout_bpm_summary`" in sql
    assert ":start_ts" in sql and params["gym_0"] == 4


def test_databricks_engine_reconnects_once_when_the_session_expired() -> None:
    engine, conns, _ = _engine([RuntimeError("Invalid SessionHandle: session expired")])
    assert engine.query(q.workout_date_bounds()).num_rows == 1
    assert len(conns) == 2 and conns[0].closed


def test_databricks_engine_gives_up_on_a_second_expired_session() -> None:
    engine, conns, _ = _engine([RuntimeError("Invalid SessionHandle"), RuntimeError("Invalid SessionHandle")])
    with pytest.raises(WarehouseUnreachable):
        engine.query(q.workout_date_bounds())
    assert len(conns) == 2


def test_databricks_engine_waits_a_bounded_time_for_a_starting_warehouse() -> None:
    engine, conns, waits = _engine([RuntimeError("TEMPORARILY_UNAVAILABLE")] * 10)
    with pytest.raises(WarehouseStarting):
        engine.query(q.workout_date_bounds())
    assert waits == [1.0, 2.0, 3.0] and len(conns) == 4


def test_databricks_engine_recovers_when_the_warehouse_has_started() -> None:
    engine, _, waits = _engine([RuntimeError("SQL warehouse is starting")])
    assert engine.query(q.workout_date_bounds()).num_rows == 1
    assert waits == [1.0]


def test_occupancy_matrix_averages_over_every_day_of_the_range() -> None:
    # 2026-11-16 and 2026-11-23 are Mondays; the second Monday had nobody at 9
    df = pd.DataFrame({"day": [date(2026, 11, 16), date(2026, 11, 23)], "hour": [9, 10], "present": [4, 2]})
    m = charts.occupancy_matrix(df)
    assert m.loc["Mon", 9] == 2.0 and m.loc["Mon", 10] == 1.0 and m.loc["Tue"].sum() == 0


def test_occupancy_matrix_of_a_single_day() -> None:
    m = charts.occupancy_matrix(pd.DataFrame({"day": [date(2026, 11, 18)], "hour": [7], "present": [3]}))
    assert m.loc["Wed", 7] == 3.0 and m.to_numpy().sum() == 3.0


def test_lag_is_end_offset_minus_next_offset_in_bronze() -> None:
    bronze = pd.DataFrame({"topic": ["p.bpm"], "partition": [0], "max_offset": [9]})
    lag = kafka_lag.lag_table({("p.bpm", 0): 15, ("p.bpm", 1): 4}, bronze, {"p.bpm": "bpm"})
    assert lag[["partition", "lag"]].values.tolist() == [[0, 5], [1, 4]]


def test_kafka_unreachable_fails_fast() -> None:
    with pytest.raises(kafka_lag.KafkaUnreachable):
        kafka_lag.end_offsets(Settings.from_env({}, kafka_bootstrap_servers="127.0.0.1:9"), ["bpm"], timeout=5)
