"""Pure DataFrame -> DataFrame functions of the pipeline; reading, writing and stream wiring live elsewhere."""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F


def first_by_offset(keys: list[str]) -> Callable[[DataFrame], DataFrame]:
    """Keep one row per key: the one with the lowest (partition, offset); drop the lineage columns."""

    def transform(df: DataFrame) -> DataFrame:
        others = [c for c in df.columns if c not in keys and c not in ("partition", "offset")]
        order = F.struct("partition", "offset")
        return df.groupBy(*keys).agg(*[F.min_by(c, order).alias(c) for c in others])

    return transform


def kafka_to_multiplex(df: DataFrame) -> DataFrame:
    """Raw Kafka source rows -> bronze.kafka_multiplex_bz columns (week_part is `YYYY-WW`)."""
    ts = F.col("timestamp")
    return df.select(
        F.col("key").cast("string").alias("key"),
        F.col("value").cast("string").alias("value"),
        "topic",
        F.col("partition").cast("int").alias("partition"),
        F.col("offset").cast("bigint").alias("offset"),
        ts.alias("timestamp"),
        F.to_date(ts).alias("date"),
        F.concat(F.year(ts).cast("string"), F.lit("-"), F.lpad(F.weekofyear(ts).cast("string"), 2, "0")).alias(
            "week_part"
        ),
        F.current_timestamp().alias("load_time"),
    )


def completed_workouts(workouts: DataFrame) -> DataFrame:
    """Sessions with a start and a stop where start_time < end_time <= start_time + 3 hours."""
    keys = ["user_id", "workout_id", "session_id"]
    sessions = workouts.groupBy(*keys).agg(
        F.min(F.when(F.col("action") == "start", F.col("time"))).alias("start_time"),
        F.min(F.when(F.col("action") == "stop", F.col("time"))).alias("end_time"),
    )
    return sessions.where(
        (F.col("start_time") < F.col("end_time"))
        & (F.col("end_time") <= F.col("start_time") + F.expr("INTERVAL 3 HOURS"))
    )


def workout_bpm(completed: DataFrame, users: DataFrame, heart_rate: DataFrame) -> DataFrame:
    """Valid readings of the member's device taken between the session's start and end (inclusive)."""
    sessions = completed.join(users.select("user_id", "device_id"), "user_id")
    readings = heart_rate.where("valid").select("device_id", "time", "heartrate")
    joined = sessions.join(
        readings,
        (sessions.device_id == readings.device_id) & readings.time.between(sessions.start_time, sessions.end_time),
    )
    return joined.select("user_id", "workout_id", "session_id", "start_time", "end_time", "time", "heartrate")


def workout_bpm_summary(bpm: DataFrame) -> DataFrame:
    """Per completed session with readings: min/avg/max BPM and the number of readings."""
    summary = bpm.groupBy("user_id", "workout_id", "session_id", "start_time", "end_time").agg(
        F.min("heartrate").alias("min_bpm"),
        F.avg("heartrate").alias("avg_bpm"),
        F.max("heartrate").alias("max_bpm"),
        F.count("*").alias("num_recordings"),
    )
    return summary


PROFILE_COLUMNS = ["dob", "sex", "gender", "first_name", "last_name", "street_address", "city", "state", "zip"]


def latest_profile_changes(changes: DataFrame) -> DataFrame:
    """Per user, the change with the greatest (updated, change_id), typed: a full profile image or a delete."""
    latest = changes.groupBy("user_id").agg(
        F.max_by(F.struct("update_type", "updated", *PROFILE_COLUMNS), F.struct("updated", "change_id")).alias("c")
    )
    return latest.select(
        "user_id",
        F.col("c.update_type").alias("update_type"),
        F.to_date("c.dob").alias("dob"),
        *[F.col(f"c.{c}").alias(c) for c in PROFILE_COLUMNS if c != "dob"],
        F.timestamp_seconds("c.updated").alias("updated"),
    )


AGE_BINS = ((18, "under 18"), (25, "18-25"), (35, "25-35"), (45, "35-45"), (55, "45-55"), (65, "55-65"),
            (75, "65-75"), (85, "75-85"), (95, "85-95"))  # fmt: skip


def age_bin(dob: Column, today: Column) -> Column:
    """Whole years on `today`, binned (lower bound inclusive); `invalid age` when dob is missing or in the future."""
    age = F.floor(F.months_between(today, dob) / 12)
    binned = F.when(dob.isNull() | (dob > today), F.lit("invalid age"))
    for upper, label in AGE_BINS:
        binned = binned.when(age < upper, F.lit(label))
    return binned.otherwise(F.lit("95+"))


def user_bins(users: DataFrame, profiles: DataFrame, today: Column | None = None) -> DataFrame:
    """Members with a current profile: age bin on the current UTC date, gender, city, state."""
    today = F.current_date() if today is None else today
    joined = users.select("user_id").join(profiles, "user_id")
    return joined.select("user_id", age_bin(F.col("dob"), today).alias("age"), "gender", "city", "state")


def latest_logouts(visits: DataFrame) -> DataFrame:
    """One row per visit (mac_address, gym, login) with the greatest logout seen, NULL while inside."""
    return visits.groupBy("mac_address", "gym", "login").agg(F.max("logout").alias("logout"))


def _minutes(start: Column, end: Column) -> Column:
    return (F.unix_micros(end) - F.unix_micros(start)) / F.lit(60_000_000.0)


def attribute_sessions(summary: DataFrame, users: DataFrame, gym_logs: DataFrame, bins: DataFrame) -> DataFrame:
    """Add the gym of the visit around each session (latest login if several) and the member's current bins."""
    keys = ["user_id", "workout_id", "session_id"]
    s = summary.join(users.select("user_id", "mac_address"), "user_id", "left").alias("s")
    g = gym_logs.alias("g")
    inside = (
        (F.col("s.mac_address") == F.col("g.mac_address"))
        & (F.col("g.login") <= F.col("s.start_time"))
        & (F.col("g.logout").isNull() | (F.col("s.end_time") <= F.col("g.logout")))
    )
    gyms = (
        s.join(g, inside, "left")
        .groupBy(*[F.col(f"s.{k}") for k in keys])
        .agg(F.max_by("g.gym", "g.login").alias("gym"))
    )
    out = summary.join(gyms, keys, "left").join(bins.select("user_id", "age", "gender", "city", "state"), "user_id",
                                                "left")  # fmt: skip
    return out.select(
        *keys, "start_time", "end_time", "gym", "age", "gender", "city", "state",
        "min_bpm", "avg_bpm", "max_bpm", "num_recordings",
    )  # fmt: skip


def gym_summary(visits: DataFrame, users: DataFrame, completed: DataFrame) -> DataFrame:
    """One row per visit: member, time in the gym, and the completed workouts done during it."""
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


def tagged(df: DataFrame, tag: str, columns: dict[str, str]) -> DataFrame:
    """`df` in a common shape for a union of streams: a `source` column holding `tag`, then `columns` (name -> type),
    NULL where `df` has no such column."""
    return df.select(
        F.lit(tag).alias("source"),
        *[(F.col(c) if c in df.columns else F.lit(None)).cast(t).alias(c) for c, t in columns.items()],
    )
