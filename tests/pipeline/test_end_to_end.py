"""Known events through Kafka and the source database -> batch pipeline -> exact gold rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pyspark.testing import assertDataFrameEqual

from core.contract import (
    ALL_TABLES,
    COMPLETED_WORKOUTS,
    GYM_SUMMARY,
    HEART_RATE,
    KAFKA_MULTIPLEX_BZ,
    PIPELINE_RUNS,
    PROFILE_CHANGES_BZ,
    QUARANTINE,
    REGISTERED_USERS_BZ,
    USER_PROFILE,
    USERS,
    WORKOUT_BPM_SUMMARY,
)
from pipeline.runner import run_batch
from pipeline.storage import Lakehouse
from tests.helpers import produce, write_profile_changes, write_registrations

T0 = 1_750_000_000.0  # 2025-06-15T15:06:40Z
MAC1, MAC2, MAC3, STRANGER = "aa:bb:cc:dd:ee:01", "aa:bb:cc:dd:ee:02", "aa:bb:cc:dd:ee:03", "ff:ff:ff:ff:ff:ff"


def ts(offset_seconds: float) -> datetime:
    return datetime.fromtimestamp(T0 + offset_seconds, UTC).replace(tzinfo=None)


def workout(user: int, workout_id: int, session: int, action: str, at: float) -> dict:
    return {"user_id": user, "workout_id": workout_id, "session_id": session, "action": action, "time": T0 + at}


def visit(mac: str, gym: int, login: float, logout: float | None) -> dict:
    return {"mac_address": mac, "gym": gym, "login": T0 + login, "logout": None if logout is None else T0 + logout}


def profile(user: int, kind: str, at: float, city: str) -> tuple:
    return (user, kind, T0 + at, "1990-01-01", "F", "Female", "Ann", "Lee", "1 Main St", city, "TX", "73301")


def known_records(settings) -> list[tuple[str, str, object]]:
    bpm, wk, gym = settings.topic("bpm"), settings.topic("workout"), settings.topic("gym")
    return [
        (wk, "1", workout(1, 1, 1, "start", 0)),
        (wk, "1", workout(1, 1, 1, "stop", 1800)),
        (wk, "2", workout(2, 1, 1, "start", 0)),
        (wk, "2", workout(2, 1, 1, "stop", 4 * 3600)),  # longer than 3 hours: not completed
        (wk, "1", workout(1, 2, 1, "start", 3000)),  # never stopped
        (wk, "1", workout(1, 3, 1, "start", 7200)),
        (wk, "1", workout(1, 3, 1, "start", 7200)),  # delivered twice
        (wk, "1", workout(1, 3, 1, "stop", 7800)),
        (bpm, "101", {"device_id": 101, "time": T0 + 0, "heartrate": 100.0}),
        (bpm, "101", {"device_id": 101, "time": T0 + 60, "heartrate": 120.0}),
        (bpm, "101", {"device_id": 101, "time": T0 + 60, "heartrate": 130.0}),  # same key later: loses
        (bpm, "101", {"device_id": 101, "time": T0 + 120, "heartrate": 20.0}),  # invalid reading
        (bpm, "101", {"device_id": 101, "time": T0 + 1800, "heartrate": 140}),  # end is inclusive
        (bpm, "101", {"device_id": 101, "time": T0 + 1801, "heartrate": 150.0}),  # after the end
        (bpm, "101", {"device_id": 101, "time": T0 + 7300, "heartrate": 90.5}),
        (bpm, "102", {"device_id": 102, "time": T0 + 60, "heartrate": 110.0}),  # session not completed
        (bpm, "101", "not json at all"),
        (bpm, "101", {"device_id": -1, "time": T0, "heartrate": 80.0}),
        (gym, MAC1, visit(MAC1, 7, -600, None)),
        (gym, MAC1, visit(MAC1, 7, -600, 2000)),
        (gym, MAC1, visit(MAC1, 8, 7000, None)),  # still inside
        (gym, STRANGER, visit(STRANGER, 7, 0, 60)),
        (gym, MAC2, visit(MAC2, 7, 100, 50)),  # logout before login: malformed
    ]


def load_source_rows(settings) -> None:
    write_registrations(settings.source_db_path, [
        (1, 101, MAC1, T0 - 86400),
        (2, 102, MAC2, T0 - 86400),
        (3, 103, MAC3, T0 - 3600),
    ])  # fmt: skip
    write_profile_changes(settings.source_db_path, [
        profile(1, "new", -1000, "Dallas"),
        profile(1, "update", -500, "Austin"),
        profile(1, "update", -800, "Houston"),  # arrives later but is older: must not win
        profile(2, "new", -1000, "Dallas"),
        profile(2, "delete", -100, "Dallas"),
        profile(2, "update", -200, "Dallas"),  # older than the delete: must not bring the profile back
    ])  # fmt: skip


def expected_workout_bpm_summary(spark):
    attrs = (None, "35-45", "Female", "Austin", "TX")  # born 1990-01-01: 35-45 until 2035
    return spark.createDataFrame(
        [
            (1, 1, 1, ts(0), ts(1800), 7, *attrs[1:], 100.0, 120.0, 140.0, 3),
            (1, 3, 1, ts(7200), ts(7800), 8, *attrs[1:], 90.5, 90.5, 90.5, 1),
        ],
        WORKOUT_BPM_SUMMARY.ddl,
    )


def expected_gym_summary(spark):
    return spark.createDataFrame(
        [
            (MAC1, 7, ts(-600), ts(-600).date(), 1, ts(2000), 2600 / 60, 1, 30.0),
            (MAC1, 8, ts(7000), ts(7000).date(), 1, None, None, 1, 10.0),
            (STRANGER, 7, ts(0), ts(0).date(), None, ts(60), 1.0, 0, 0.0),
        ],
        GYM_SUMMARY.ddl,
    )


@pytest.fixture
def loaded(settings, spark):
    load_source_rows(settings)
    records = known_records(settings)
    produce(settings.kafka_bootstrap_servers, records)
    return Lakehouse(spark, settings), records


def test_batch_pipeline_turns_known_events_into_exact_gold_rows(loaded):
    lh, records = loaded
    run_batch(lh)

    assertDataFrameEqual(lh.read(WORKOUT_BPM_SUMMARY), expected_workout_bpm_summary(lh.spark))
    assertDataFrameEqual(lh.read(GYM_SUMMARY), expected_gym_summary(lh.spark))

    assert lh.read(KAFKA_MULTIPLEX_BZ).count() == len(records)
    reasons = sorted(r.reason for r in lh.read(QUARANTINE).collect())
    assert reasons == ["logout is not after login", "negative id device_id", "value is not valid JSON"]
    hr = {(r.device_id, r.time): r.heartrate for r in lh.read(HEART_RATE).collect()}
    assert hr[(101, ts(60))] == 120.0 and len(hr) == 7
    assert [(r.user_id, r.city) for r in lh.read(USER_PROFILE).collect()] == [(1, "Austin")]
    statuses = {(r.stage, r.status) for r in lh.read(PIPELINE_RUNS).collect()}
    assert statuses == {(stage, "succeeded") for stage in ("setup", "bronze", "silver", "gold")}
    # rows in = every input row each step read once: bronze's Kafka records and source rows, then silver's bronze
    # rows plus the silver rows workout_bpm reads (a step that reads its batch twice would count it twice)
    rows_in = {r.stage: r.rows_in for r in lh.read(PIPELINE_RUNS).collect()}
    source_rows = lh.read(REGISTERED_USERS_BZ).count() + lh.read(PROFILE_CHANGES_BZ).count()
    assert rows_in["bronze"] == len(records) + source_rows
    bpm_inputs = sum(lh.read(t).count() for t in (HEART_RATE, COMPLETED_WORKOUTS, USERS))
    assert rows_in["silver"] == len(records) + source_rows + bpm_inputs


def test_rerunning_the_batch_pipeline_with_no_new_input_changes_no_table(loaded):
    lh, _ = loaded
    run_batch(lh)
    versions = {t.full_name: lh.delta(t).history(1).first().version for t in ALL_TABLES if t != PIPELINE_RUNS}
    run_batch(lh)
    after = {t.full_name: lh.delta(t).history(1).first().version for t in ALL_TABLES if t != PIPELINE_RUNS}
    assert after == versions
