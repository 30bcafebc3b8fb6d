"""Pure bronze and silver transforms, 2-5 inline rows per case, whole-DataFrame equality."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from core.contract import PROFILE_CHANGES_BZ, REGISTERED_USERS_BZ, USER_PROFILE, USERS
from pipeline.transforms import (
    age_bin,
    change_set,
    completed_workouts,
    conform,
    first_registration,
    gym_logs,
    heart_rate,
    latest_profile_changes,
    malformed_values_only,
    new_workout_bpm,
    quarantined,
    sessions_to_pair_again,
    user_bins,
    user_profile_changes,
    workout_bpm,
    workouts,
)

T0 = 1_750_000_000.0
SESSIONS = "user_id bigint, workout_id bigint, session_id bigint, start_time timestamp, end_time timestamp"
READINGS = "device_id bigint, time timestamp, heartrate double, valid boolean"
WORKOUT_BPM = f"{SESSIONS}, time timestamp, heartrate double"
CHECKED = "value string, partition int, offset bigint"  # then the topic's typed fields, then reason


def ts(seconds: float) -> datetime:
    return datetime.fromtimestamp(T0 + seconds, UTC).replace(tzinfo=None)


@pytest.mark.parametrize(
    ("dob", "label"),
    [
        (date(2008, 11, 26), "under 18"),  # turns 18 the day after `today`
        (date(2008, 11, 25), "18-25"),
        (date(2001, 11, 25), "25-35"),  # 25 exactly: lower bound inclusive
        (date(1931, 11, 25), "95+"),
        (date(2030, 1, 1), "invalid age"),
        (None, "invalid age"),
    ],
)
def test_age_bins_use_whole_years_with_inclusive_lower_bounds(spark, dob, label):
    df = spark.createDataFrame([(dob,)], "dob date")
    got = df.select(age_bin(F.col("dob"), F.lit(date(2026, 11, 25))).alias("age")).first().age
    assert got == label


def test_conform_casts_source_rows_to_the_bronze_schema_and_stamps_load_time(spark):
    source = spark.createDataFrame([(1, 11, "aa:bb", 100)], "user_id int, device_id int, mac_address string, "
                                   "registration_timestamp int")  # fmt: skip
    got = conform(source, REGISTERED_USERS_BZ)
    assert got.where("load_time IS NOT NULL").count() == 1
    schema = REGISTERED_USERS_BZ.ddl.removesuffix(", load_time TIMESTAMP")
    expected = spark.createDataFrame([(1, 11, "aa:bb", 100.0)], schema)
    assertDataFrameEqual(got.drop("load_time"), expected)


def test_change_set_lists_only_rows_that_are_new_differ_or_are_gone(spark):
    schema = "k bigint, a string, b double"
    current = spark.createDataFrame([(1, "x", 1.0), (2, "y", None), (3, "z", 3.0)], schema)
    wanted = spark.createDataFrame([(1, "x", 1.0), (2, "y", 2.0), (4, "w", None)], schema)
    expected = [(2, "y", 2.0, "update"), (3, None, None, "delete"), (4, "w", None, "insert")]
    got = change_set(current, wanted, ["k"])
    assertDataFrameEqual(got, spark.createDataFrame(expected, f"{schema}, change string"))


def profile_change(change_id: int, user: int, kind: str, at: float, city: str | None) -> tuple:
    image = ("1990-01-01", "F", "f", "A", "B", "s", city, "TX", "73301") if kind != "delete" else (None,) * 9
    return (change_id, user, kind, at, *image, ts(0))


def bronze_changes(spark, rows: list[tuple]):
    return spark.createDataFrame([profile_change(*r) for r in rows], PROFILE_CHANGES_BZ.ddl)


def test_latest_profile_change_is_the_greatest_updated_then_change_id_not_the_last_arrived(spark):
    changes = bronze_changes(spark, [
        (1, 7, "new", 100.0, "Austin"),
        (2, 7, "delete", 300.0, None),
        (3, 7, "update", 200.0, "Dallas"),  # late, older
        (4, 8, "update", 50.0, "Reno"),
        (5, 8, "update", 50.0, "Elko"),  # same time: change_id wins
    ])  # fmt: skip
    got = latest_profile_changes(changes).select("user_id", "update_type", "city")
    assertDataFrameEqual(got, spark.createDataFrame([(7, "delete", None), (8, "update", "Elko")],
                                                    "user_id bigint, update_type string, city string"))  # fmt: skip


def test_user_profile_changes_upsert_the_latest_image_or_delete_the_profile_whatever_the_arrival_order(spark):
    changes = bronze_changes(spark, [
        (1, 7, "new", 100.0, "Austin"),
        (2, 7, "delete", 300.0, None),
        (3, 7, "update", 200.0, "Dallas"),  # arrived after the delete, older: does not bring the profile back
        (4, 8, "update", 60.0, "Elko"),
        (5, 8, "update", 55.0, "Ely"),  # arrived later, older: loses
    ])  # fmt: skip
    elko = (8, date(1990, 1, 1), "F", "f", "A", "B", "s", "Elko", "TX", "73301", datetime(1970, 1, 1, 0, 1), "upsert")
    deleted = (7, *(None,) * 9, datetime(1970, 1, 1, 0, 5), "delete")
    assertDataFrameEqual(
        user_profile_changes(changes), spark.createDataFrame([elko, deleted], f"{USER_PROFILE.ddl}, change string")
    )


def test_first_registration_wins_and_its_epoch_seconds_become_a_timestamp(spark):
    rows = [(1, 11, "aa:01", T0 + 60, ts(1)), (1, 12, "aa:02", T0, ts(2)), (2, 21, "bb:01", T0 + 5, ts(0))]
    got = first_registration(spark.createDataFrame(rows, REGISTERED_USERS_BZ.ddl))
    assertDataFrameEqual(got, spark.createDataFrame([(1, 12, "aa:02", ts(0)), (2, 21, "bb:01", ts(5))], USERS.ddl))


def test_quarantined_keeps_only_malformed_records_with_their_source_and_reason(spark):
    checked = spark.createDataFrame([("{}", 0, 5, "missing field time"), ('{"ok":1}', 0, 6, None)],
                                    f"{CHECKED}, reason string")  # fmt: skip
    got = quarantined(checked, "p.bpm")
    assert got.where("detected_at IS NOT NULL").count() == 1
    assertDataFrameEqual(got.drop("detected_at"), spark.createDataFrame(
        [("p.bpm", "missing field time", "{}", 0, 5)],
        "source string, reason string, raw_value string, partition int, offset bigint"))  # fmt: skip


def test_only_malformed_records_keep_their_value_and_the_rest_is_untouched(spark):
    checked = spark.createDataFrame([("{}", 0, 5, "missing field time"), ('{"ok":1}', 0, 6, None)],
                                    f"{CHECKED}, reason string")  # fmt: skip
    got = malformed_values_only(checked)
    assert got.columns == checked.columns
    assertDataFrameEqual(got, spark.createDataFrame([("{}", 0, 5, "missing field time"), (None, 0, 6, None)],
                                                    f"{CHECKED}, reason string"))  # fmt: skip


def test_heart_rate_keeps_the_lowest_offset_of_a_repeated_reading_and_flags_invalid_ones(spark):
    checked = spark.createDataFrame([
        ("v", 0, 9, 101, T0, 130.0, None),
        ("v", 0, 3, 101, T0, 120.0, None),  # same (device_id, time), lower offset: wins
        ("v", 1, 0, 101, T0 + 1, 20.0, None),  # too low: kept, not valid
        ("v", 0, 4, 102, T0, 90.0, "negative id device_id"),  # malformed: not here
    ], f"{CHECKED}, device_id bigint, time double, heartrate double, reason string")  # fmt: skip
    assertDataFrameEqual(heart_rate(checked), spark.createDataFrame(
        [(101, ts(0), 120.0, True), (101, ts(1), 20.0, False)], READINGS))  # fmt: skip


def test_workouts_keep_one_record_per_session_action_the_lowest_offset(spark):
    checked = spark.createDataFrame([
        ("v", 0, 7, 1, 1, 1, "start", T0 + 5, None),
        ("v", 0, 2, 1, 1, 1, "start", T0, None),  # delivered twice: the first one wins
        ("v", 0, 8, 1, 1, 1, "stop", T0 + 60, None),
        ("v", 0, 9, 1, 1, 1, "pause", T0 + 9, "action is not start or stop"),
    ], f"{CHECKED}, user_id bigint, workout_id bigint, session_id bigint, action string, time double, "
       "reason string")  # fmt: skip
    assertDataFrameEqual(workouts(checked), spark.createDataFrame(
        [(1, 1, 1, "start", ts(0)), (1, 1, 1, "stop", ts(60))],
        "user_id bigint, workout_id bigint, session_id bigint, action string, time timestamp"))  # fmt: skip


def test_completed_workouts_need_start_before_stop_within_three_hours(spark):
    rows = [
        (1, 1, 1, "start", ts(0)), (1, 1, 1, "stop", ts(3 * 3600)),  # exactly 3 hours: completed
        (1, 2, 1, "start", ts(0)), (1, 2, 1, "stop", ts(3 * 3600 + 60)),  # longer: not completed
        (1, 3, 1, "start", ts(0)), (1, 3, 1, "stop", ts(0)),  # zero length: not completed
        (1, 4, 1, "stop", ts(300)),  # stop only
    ]  # fmt: skip
    df = spark.createDataFrame(rows, "user_id bigint, workout_id bigint, session_id bigint, action string, "
                               "time timestamp")  # fmt: skip
    assertDataFrameEqual(completed_workouts(df), spark.createDataFrame([(1, 1, 1, ts(0), ts(3 * 3600))], SESSIONS))


def test_gym_logs_keep_the_greatest_logout_of_a_visit_and_null_while_inside(spark):
    checked = spark.createDataFrame([
        ("v", 0, 1, "aa:01", 7, T0, None, None),
        ("v", 0, 2, "aa:01", 7, T0, T0 + 600, None),
        ("v", 0, 3, "aa:01", 7, T0, None, None),  # the entry record again, late: logout stays
        ("v", 0, 4, "aa:01", 8, T0 + 900, None, None),  # still inside
        ("v", 0, 5, "aa:02", 7, T0, T0 - 1, "logout is not after login"),
    ], f"{CHECKED}, mac_address string, gym bigint, login double, logout double, reason string")  # fmt: skip
    assertDataFrameEqual(gym_logs(checked), spark.createDataFrame(
        [("aa:01", 7, ts(0), ts(600)), ("aa:01", 8, ts(900), None)],
        "mac_address string, gym bigint, login timestamp, logout timestamp"))  # fmt: skip


def test_user_bins_are_the_members_with_a_current_profile(spark):
    users = spark.createDataFrame([(1, 11, "aa:01", ts(0)), (2, 12, "aa:02", ts(0))], USERS.ddl)
    profiles = spark.createDataFrame([(1, date(2000, 6, 1), "F", "Female", "A", "B", "s", "Austin", "TX", "1", ts(0)),
                                      (3, None, "M", "Male", "C", "D", "t", "Reno", "NV", "2", ts(0))],
                                     USER_PROFILE.ddl)  # fmt: skip
    got = user_bins(users, profiles, F.lit(date(2026, 1, 1)))
    assertDataFrameEqual(got, spark.createDataFrame([(1, "25-35", "Female", "Austin", "TX")],
                                                    "user_id bigint, age string, gender string, city string, "
                                                    "state string"))  # fmt: skip


def members(spark):
    return spark.createDataFrame([(1, 101, "aa:01", ts(0)), (2, 102, "aa:02", ts(0))], USERS.ddl)


def test_workout_bpm_pairs_valid_readings_of_the_members_device_within_the_session_inclusive(spark):
    completed = spark.createDataFrame([(1, 1, 1, ts(0), ts(60))], SESSIONS)
    readings = spark.createDataFrame([(101, ts(0), 100.0, True), (101, ts(60), 110.0, True),
                                      (101, ts(30), 20.0, False), (101, ts(61), 120.0, True),
                                      (102, ts(30), 90.0, True)], READINGS)  # fmt: skip
    assertDataFrameEqual(workout_bpm(completed, members(spark), readings), spark.createDataFrame(
        [(1, 1, 1, ts(0), ts(60), ts(0), 100.0), (1, 1, 1, ts(0), ts(60), ts(60), 110.0)], WORKOUT_BPM))  # fmt: skip


def test_sessions_to_pair_again_are_new_sessions_and_every_session_of_a_new_member(spark):
    completed = spark.createDataFrame([(1, 1, 1, ts(0), ts(60)), (1, 2, 1, ts(100), ts(160)),
                                       (2, 1, 1, ts(0), ts(60)), (2, 2, 1, ts(100), ts(160))], SESSIONS)  # fmt: skip
    new_sessions = spark.createDataFrame([(1, 2, 1, ts(100), ts(160))], SESSIONS)
    new_members = spark.createDataFrame([(2,)], "user_id bigint")
    assertDataFrameEqual(sessions_to_pair_again(completed, new_sessions, new_members), spark.createDataFrame(
        [(1, 2, 1, ts(100), ts(160)), (2, 1, 1, ts(0), ts(60)), (2, 2, 1, ts(100), ts(160))], SESSIONS))  # fmt: skip


def test_new_workout_bpm_pairs_new_readings_with_every_session_and_older_ones_with_the_given_sessions_once(spark):
    completed = spark.createDataFrame([(1, 1, 1, ts(0), ts(60)), (2, 1, 1, ts(0), ts(60))], SESSIONS)
    new_readings = spark.createDataFrame([(101, ts(10), 100.0, True), (102, ts(20), 90.0, True)], READINGS)
    sessions = completed.where("user_id = 1")  # a new session: the readings already there may pair with it
    older = spark.createDataFrame([(101, ts(5), 95.0, True), (101, ts(10), 100.0, True)], READINGS)
    got = new_workout_bpm(completed, members(spark), new_readings, sessions, older)
    assertDataFrameEqual(got, spark.createDataFrame([
        (1, 1, 1, ts(0), ts(60), ts(5), 95.0),
        (1, 1, 1, ts(0), ts(60), ts(10), 100.0),  # paired both ways: once
        (2, 1, 1, ts(0), ts(60), ts(20), 90.0),
    ], WORKOUT_BPM))  # fmt: skip
