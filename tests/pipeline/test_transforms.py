"""Pure transforms, 2-5 inline rows per case, whole-DataFrame equality."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from pipeline.transforms import age_bin, completed_workouts, latest_profile_changes


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


def test_latest_profile_change_is_the_greatest_updated_then_change_id_not_the_last_arrived(spark):
    cols = "change_id bigint, user_id bigint, update_type string, updated double, dob string, sex string, " \
           "gender string, first_name string, last_name string, street_address string, city string, state string, " \
           "zip string"  # fmt: skip
    rows = [
        (1, 7, "new", 100.0, "1990-01-01", "F", "f", "A", "B", "s", "Austin", "TX", "73301"),
        (2, 7, "delete", 300.0, None, None, None, None, None, None, None, None, None),
        (3, 7, "update", 200.0, "1990-01-01", "F", "f", "A", "B", "s", "Dallas", "TX", "75001"),  # late, older
        (4, 8, "update", 50.0, "1980-05-05", "M", "m", "C", "D", "t", "Reno", "NV", "89501"),
        (5, 8, "update", 50.0, "1980-05-05", "M", "m", "C", "D", "t", "Elko", "NV", "89801"),  # same time: id wins
    ]
    got = latest_profile_changes(spark.createDataFrame(rows, cols)).select("user_id", "update_type", "city")
    assertDataFrameEqual(got, spark.createDataFrame([(7, "delete", None), (8, "update", "Elko")],
                                                    "user_id bigint, update_type string, city string"))  # fmt: skip


def test_completed_workouts_need_start_before_stop_within_three_hours(spark):
    t = datetime(2026, 1, 1, 10, 0, 0)

    def at(minutes: int) -> datetime:
        return datetime.fromtimestamp(t.timestamp() + minutes * 60)

    rows = [
        (1, 1, 1, "start", t), (1, 1, 1, "stop", at(180)),  # exactly 3 hours: completed
        (1, 2, 1, "start", t), (1, 2, 1, "stop", at(181)),  # longer: not completed
        (1, 3, 1, "start", t), (1, 3, 1, "stop", t),  # zero length: not completed
        (1, 4, 1, "stop", at(5)),  # stop only
    ]  # fmt: skip
    df = spark.createDataFrame(
        rows, "user_id bigint, workout_id bigint, session_id bigint, action string, time timestamp"
    )
    assertDataFrameEqual(completed_workouts(df), spark.createDataFrame(
        [(1, 1, 1, t, at(180))],
        "user_id bigint, workout_id bigint, session_id bigint, start_time timestamp, end_time timestamp"))  # fmt: skip
