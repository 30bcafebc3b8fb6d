"""Pure DataFrame -> DataFrame functions of gold: each table's rows from silver, and which gold keys a batch of silver
changes can move (so only those are recomputed)."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from core.contract import COMPLETED_WORKOUTS, GYM_LOGS, USER_BINS, USERS, WORKOUT_BPM
from pipeline.transforms import SESSION_KEY, VISIT_KEY, of_source


def _minutes(start: Column, end: Column) -> Column:
    return (F.unix_micros(end) - F.unix_micros(start)) / F.lit(60_000_000.0)


def _bpm_figures(workout_bpm: DataFrame) -> DataFrame:
    """Per completed session with readings: min/avg/max BPM and the number of readings."""
    return workout_bpm.groupBy(*SESSION_KEY, "start_time", "end_time").agg(
        F.min("heartrate").alias("min_bpm"),
        F.avg("heartrate").alias("avg_bpm"),
        F.max("heartrate").alias("max_bpm"),
        F.count("*").alias("num_recordings"),
    )


def _gyms_of_sessions(summary: DataFrame, users: DataFrame, gym_logs: DataFrame) -> DataFrame:
    """Per session, the gym of the member's visit around it (latest login if several)."""
    s = summary.join(users.select("user_id", "mac_address"), "user_id", "left").alias("s")
    g = gym_logs.alias("g")
    inside = (
        (F.col("s.mac_address") == F.col("g.mac_address"))
        & (F.col("g.login") <= F.col("s.start_time"))
        & (F.col("g.logout").isNull() | (F.col("s.end_time") <= F.col("g.logout")))
    )
    return (
        s.join(g, inside, "left")
        .groupBy(*[F.col(f"s.{k}") for k in SESSION_KEY])
        .agg(F.max_by("g.gym", "g.login").alias("gym"))
    )


def workout_bpm_summary(workout_bpm: DataFrame, users: DataFrame, gym_logs: DataFrame, bins: DataFrame) -> DataFrame:
    """gold.workout_bpm_summary rows: per session with readings, its BPM figures, the gym of the visit around it and
    the member's current bins (NULL where there are none)."""
    summary = _bpm_figures(workout_bpm)
    out = summary.join(_gyms_of_sessions(summary, users, gym_logs), SESSION_KEY, "left").join(
        bins.select("user_id", "age", "gender", "city", "state"), "user_id", "left"
    )
    return out.select(
        *SESSION_KEY, "start_time", "end_time", "gym", "age", "gender", "city", "state",
        "min_bpm", "avg_bpm", "max_bpm", "num_recordings",
    )  # fmt: skip


def gym_summary(visits: DataFrame, users: DataFrame, completed: DataFrame) -> DataFrame:
    """gold.gym_summary rows: per visit, the member, time in the gym, and the completed workouts done during it."""
    v = visits.join(users.select("mac_address", "user_id"), "mac_address", "left").alias("v")
    w = completed.select("user_id", "start_time", "end_time").alias("w")
    during = (
        (F.col("v.user_id") == F.col("w.user_id"))
        & (F.col("w.start_time") >= F.col("v.login"))
        & (F.col("v.logout").isNull() | (F.col("w.end_time") <= F.col("v.logout")))
    )
    joined = v.join(w, during, "left")
    return joined.groupBy("v.mac_address", "v.gym", "v.login", "v.logout", "v.user_id").agg(
        F.count("w.start_time").alias("num_workouts"),
        F.coalesce(F.sum(_minutes(F.col("w.start_time"), F.col("w.end_time"))), F.lit(0.0)).alias(
            "minutes_exercising"
        ),
    ).select(
        "mac_address", "gym", "login", F.to_date("login").alias("date"), "user_id", "logout",
        _minutes(F.col("login"), F.col("logout")).alias("minutes_in_gym"), "num_workouts", "minutes_exercising",
    )  # fmt: skip


# Which gold keys a change moves. `changes` is a `tagged` union of silver rows (source = the table's name) that
# carries user_id, workout_id, session_id, mac_address, gym and login where its table has them.


def sessions_to_refresh(changes: DataFrame, users: DataFrame, summary: DataFrame) -> DataFrame:
    """The workout_bpm_summary keys that `changes` can move: the session of each new reading, and every summarised
    session of a member whose bins or gym visits changed."""
    by_mac = users.join(of_source(changes, GYM_LOGS).select("mac_address").distinct(), "mac_address", "left_semi")
    members = of_source(changes, USER_BINS).select("user_id").unionByName(by_mac.select("user_id")).distinct()
    of_members = summary.join(members, "user_id", "left_semi").select(*SESSION_KEY)
    return of_source(changes, WORKOUT_BPM).select(*SESSION_KEY).unionByName(of_members).distinct()


def visits_to_refresh(changes: DataFrame, users: DataFrame, gym_logs: DataFrame) -> DataFrame:
    """The gym_summary keys that `changes` can move: each visit with a new login or logout, and every visit of a
    member with a new completed workout or a new registration."""
    members = of_source(changes, COMPLETED_WORKOUTS).unionByName(of_source(changes, USERS)).select("user_id")
    macs = users.join(members.distinct(), "user_id", "left_semi").select("mac_address").distinct()
    of_members = gym_logs.join(macs, "mac_address", "left_semi").select(*VISIT_KEY)
    return of_source(changes, GYM_LOGS).select(*VISIT_KEY).unionByName(of_members).distinct()
