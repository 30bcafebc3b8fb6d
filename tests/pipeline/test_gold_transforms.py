"""Pure gold transforms and change propagation, 2-5 inline rows per case, whole-DataFrame equality."""

from __future__ import annotations

from pyspark.testing import assertDataFrameEqual

from core.contract import GYM_LOGS, GYM_SUMMARY, USER_BINS, USERS, WORKOUT_BPM_SUMMARY
from pipeline.gold_transforms import gym_summary, sessions_to_refresh, visits_to_refresh, workout_bpm_summary
from tests.pipeline.test_transforms import SESSIONS, WORKOUT_BPM, members, ts

CHANGES = "source string, user_id bigint, workout_id bigint, session_id bigint, mac_address string, gym bigint, " \
          "login timestamp"  # fmt: skip
VISIT = "mac_address string, gym bigint, login timestamp"


def test_workout_bpm_summary_has_the_gym_of_the_latest_visit_around_the_session_and_the_members_bins(spark):
    bpm = spark.createDataFrame([(1, 1, 1, ts(0), ts(60), ts(0), 100.0), (1, 1, 1, ts(0), ts(60), ts(60), 120.0),
                                 (2, 1, 1, ts(0), ts(60), ts(30), 90.0)], WORKOUT_BPM)  # fmt: skip
    logs = spark.createDataFrame([
        ("aa:01", 7, ts(-600), ts(100)),
        ("aa:01", 8, ts(-60), None),  # also around the session, later login: this one
        ("aa:01", 9, ts(10), None),  # entered after the start
    ], GYM_LOGS.ddl)  # fmt: skip
    bins = spark.createDataFrame([(1, "25-35", "F", "Austin", "TX")], USER_BINS.ddl)
    assertDataFrameEqual(workout_bpm_summary(bpm, members(spark), logs, bins), spark.createDataFrame([
        (1, 1, 1, ts(0), ts(60), 8, "25-35", "F", "Austin", "TX", 100.0, 110.0, 120.0, 2),
        (2, 1, 1, ts(0), ts(60), None, None, None, None, None, 90.0, 90.0, 90.0, 1),  # no visit, no bins
    ], WORKOUT_BPM_SUMMARY.ddl))  # fmt: skip


def test_gym_summary_counts_the_members_workouts_inside_each_visit(spark):
    visits = spark.createDataFrame([("aa:01", 7, ts(0), ts(3600)), ("aa:01", 8, ts(7200), None),
                                    ("ff:ff", 7, ts(0), ts(60))], GYM_LOGS.ddl)  # fmt: skip
    completed = spark.createDataFrame([
        (1, 1, 1, ts(600), ts(1800)),  # inside visit 7
        (1, 2, 1, ts(3000), ts(4000)),  # ends after the logout: in no visit
        (1, 3, 1, ts(8000), ts(8600)),  # started after the login of a visit still going on
    ], SESSIONS)  # fmt: skip
    assertDataFrameEqual(gym_summary(visits, members(spark), completed), spark.createDataFrame([
        ("aa:01", 7, ts(0), ts(0).date(), 1, ts(3600), 60.0, 1, 20.0),
        ("aa:01", 8, ts(7200), ts(7200).date(), 1, None, None, 1, 10.0),
        ("ff:ff", 7, ts(0), ts(0).date(), None, ts(60), 1.0, 0, 0.0),  # a stranger: no member, no workouts
    ], GYM_SUMMARY.ddl))  # fmt: skip


def summary_of(spark, sessions: list[tuple[int, int, int]]):
    rows = [(*s, ts(0), ts(60), None, None, None, None, None, 1.0, 1.0, 1.0, 1) for s in sessions]
    return spark.createDataFrame(rows, WORKOUT_BPM_SUMMARY.ddl)


def test_sessions_to_refresh_are_those_with_new_readings_and_all_of_members_whose_bins_or_visits_changed(spark):
    users = spark.createDataFrame([(u, 100 + u, f"aa:0{u}", ts(0)) for u in (1, 2, 3, 4)], USERS.ddl)
    summary = summary_of(spark, [(1, 1, 1), (2, 5, 1), (3, 6, 1), (4, 7, 1)])
    changes = spark.createDataFrame([
        ("workout_bpm", 1, 1, 1, None, None, None),
        ("workout_bpm", 1, 1, 1, None, None, None),  # another reading of the same session
        ("user_bins", 2, None, None, None, None, None),
        ("gym_logs", None, None, None, "aa:03", 7, ts(0)),
    ], CHANGES)  # fmt: skip
    assertDataFrameEqual(sessions_to_refresh(changes, users, summary), spark.createDataFrame(
        [(1, 1, 1), (2, 5, 1), (3, 6, 1)], "user_id bigint, workout_id bigint, session_id bigint"))  # fmt: skip


def test_visits_to_refresh_are_changed_visits_and_all_of_members_with_a_new_workout_or_registration(spark):
    logs = spark.createDataFrame([("aa:01", 7, ts(0), None), ("aa:01", 8, ts(100), None),
                                  ("aa:02", 7, ts(50), None), ("aa:03", 7, ts(0), None)], GYM_LOGS.ddl)  # fmt: skip
    changes = spark.createDataFrame([
        ("gym_logs", None, None, None, "aa:09", 7, ts(0)),
        ("gym_logs", None, None, None, "aa:09", 7, ts(0)),  # the visit's pre- and post-image
        ("completed_workouts", 1, 1, 1, None, None, None),
        ("users", 2, None, None, None, None, None),
    ], CHANGES)  # fmt: skip
    assertDataFrameEqual(visits_to_refresh(changes, members(spark), logs), spark.createDataFrame(
        [("aa:09", 7, ts(0)), ("aa:01", 7, ts(0)), ("aa:01", 8, ts(100)), ("aa:02", 7, ts(50))], VISIT))  # fmt: skip
