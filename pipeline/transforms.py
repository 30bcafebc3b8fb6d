"""Pure DataFrame -> DataFrame functions of bronze and silver, one per table, and the helpers they share; reading,
writing and stream wiring live elsewhere (gold's functions are in pipeline.gold_transforms)."""

from __future__ import annotations

from collections.abc import Callable
from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from core.contract import Table
from pipeline.parsing import parse_bpm_events, parse_gym_events, parse_workout_events

HEART_RATE_KEY = ["device_id", "time"]
SESSION_KEY = ["user_id", "workout_id", "session_id"]
WORKOUT_KEY = [*SESSION_KEY, "action"]
WORKOUT_BPM_KEY = [*SESSION_KEY, "time"]
VISIT_KEY = ["mac_address", "gym", "login"]

# --- shared -----------------------------------------------------------------------------------------------------------


def first_by_offset(keys: list[str]) -> Callable[[DataFrame], DataFrame]:
    """Keep one row per key: the one with the lowest (partition, offset); drop the lineage columns."""

    def transform(df: DataFrame) -> DataFrame:
        others = [c for c in df.columns if c not in keys and c not in ("partition", "offset")]
        order = F.struct("partition", "offset")
        return df.groupBy(*keys).agg(*[F.min_by(c, order).alias(c) for c in others])

    return transform


def change_set(current: DataFrame, wanted: DataFrame, keys: list[str]) -> DataFrame:
    """The rows that turn `current` into `wanted` (for `Lakehouse.apply_changes`): the key, `wanted`'s values (NULL
    for a delete) and `change`, one of insert, update or delete. Rows already equal are left out."""
    values = [c for c in wanted.columns if c not in keys]
    w = wanted.select(*keys, *[F.col(c).alias(f"w_{c}") for c in values], F.lit(True).alias("in_wanted"))
    c = current.select(*keys, *[F.col(c).alias(f"c_{c}") for c in values], F.lit(True).alias("in_current"))
    differs = reduce(Column.__or__, [~F.col(f"w_{v}").eqNullSafe(F.col(f"c_{v}")) for v in values], F.lit(False))
    change = (
        F.when(F.col("in_current").isNull(), F.lit("insert"))
        .when(F.col("in_wanted").isNull(), F.lit("delete"))
        .when(differs, F.lit("update"))
    )
    joined = w.join(c, keys, "full_outer").select(*keys, *[F.col(f"w_{v}").alias(v) for v in values],
                                                  change.alias("change"))  # fmt: skip
    return joined.where(F.col("change").isNotNull())


def tagged(df: DataFrame, tag: str, columns: dict[str, str]) -> DataFrame:
    """`df` in a common shape for a union of streams: a `source` column holding `tag`, then `columns` (name -> type),
    NULL where `df` has no such column."""
    return df.select(
        F.lit(tag).alias("source"),
        *[(F.col(c) if c in df.columns else F.lit(None)).cast(t).alias(c) for c, t in columns.items()],
    )


def of_source(changes: DataFrame, table: Table) -> DataFrame:
    """The rows of a `tagged` union that came from `table`."""
    return changes.where(F.col("source") == table.name)


# --- bronze -----------------------------------------------------------------------------------------------------------


def conform(df: DataFrame, table: Table) -> DataFrame:
    """Source rows cast to a bronze table's schema, load_time stamped."""
    cols = [F.current_timestamp().alias(n) if n == "load_time" else F.col(n).cast(t).alias(n) for n, t in table.columns]
    return df.select(*cols)


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


# --- silver -----------------------------------------------------------------------------------------------------------


def first_registration(registrations: DataFrame) -> DataFrame:
    """silver.users rows: per user the earliest registration; epoch seconds become a timestamp."""
    order = F.struct("registration_timestamp", "load_time")
    return registrations.groupBy("user_id").agg(
        F.min_by("device_id", order).alias("device_id"),
        F.min_by("mac_address", order).alias("mac_address"),
        F.timestamp_seconds(F.min("registration_timestamp")).alias("registration_timestamp"),
    )


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


def user_profile_changes(changes: DataFrame) -> DataFrame:
    """SCD type 1 with deletes, as a change set for `Lakehouse.apply_changes`: per user of `changes`, the latest one as
    silver.user_profile columns and `change`: `delete` (the user has no row) or `upsert` (the profile is its image)."""
    latest = latest_profile_changes(changes)
    change = F.when(F.col("update_type") == "delete", F.lit("delete")).otherwise(F.lit("upsert"))
    return latest.select(*[c for c in latest.columns if c != "update_type"], change.alias("change"))


def well_formed(checked: DataFrame) -> DataFrame:
    """Checked Kafka records (pipeline.parsing.checked) that are not malformed."""
    return checked.where(F.col("reason").isNull())


def quarantined(checked: DataFrame, source: str) -> DataFrame:
    """ops.quarantine rows: the malformed ones of checked records from `source`."""
    return checked.where(F.col("reason").isNotNull()).select(
        F.lit(source).alias("source"),
        "reason",
        F.col("value").alias("raw_value"),
        "partition",
        "offset",
        F.current_timestamp().alias("detected_at"),
    )


def malformed_values_only(checked: DataFrame) -> DataFrame:
    """Checked records with `value` kept only where the record is malformed (for its quarantine row): a well-formed
    record's value is spent once its fields are read, and a copy of checked records kept for several writers holds
    far less without it."""
    return checked.withColumn("value", F.when(F.col("reason").isNotNull(), F.col("value")))


def heart_rate(checked: DataFrame) -> DataFrame:
    """silver.heart_rate rows from checked `bpm` records: one per (device_id, time), the lowest (partition, offset)."""
    return well_formed(checked).transform(parse_bpm_events).transform(first_by_offset(HEART_RATE_KEY))


def workouts(checked: DataFrame) -> DataFrame:
    """silver.workouts rows from checked `workout` records: one per start or stop of a session, the lowest offset."""
    return well_formed(checked).transform(parse_workout_events).transform(first_by_offset(WORKOUT_KEY))


def completed_workouts(workouts: DataFrame) -> DataFrame:
    """Sessions with a start and a stop where start_time < end_time <= start_time + 3 hours."""
    sessions = workouts.groupBy(*SESSION_KEY).agg(
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
    return joined.select(*SESSION_KEY, "start_time", "end_time", "time", "heartrate")


def sessions_to_pair_again(completed: DataFrame, new_sessions: DataFrame, new_members: DataFrame) -> DataFrame:
    """The completed sessions that readings already in silver may pair with for the first time: new sessions, and
    every session of a new member."""
    of_members = completed.join(new_members.select("user_id"), "user_id", "left_semi").select(*SESSION_KEY)
    touched = new_sessions.select(*SESSION_KEY).unionByName(of_members).distinct()
    return completed.join(touched, SESSION_KEY, "left_semi")


def new_workout_bpm(completed: DataFrame, users: DataFrame, new_readings: DataFrame, sessions: DataFrame,
                    readings: DataFrame) -> DataFrame:  # fmt: skip
    """The silver.workout_bpm rows new input adds: new readings against every completed session, and `readings`
    (those already there) against the `sessions` they may pair with for the first time."""
    pairs = workout_bpm(completed, users, new_readings).unionByName(workout_bpm(sessions, users, readings))
    return pairs.dropDuplicates(WORKOUT_BPM_KEY)


def latest_logouts(visits: DataFrame) -> DataFrame:
    """One row per visit (mac_address, gym, login) with the greatest logout seen, NULL while inside."""
    return visits.groupBy(*VISIT_KEY).agg(F.max("logout").alias("logout"))


def gym_logs(checked: DataFrame) -> DataFrame:
    """silver.gym_logs rows from checked `gym` records: one per visit with the greatest logout of its records."""
    return well_formed(checked).transform(parse_gym_events).select(*VISIT_KEY, "logout").transform(latest_logouts)


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
    """silver.user_bins rows: members with a current profile, their age bin on the current UTC date, gender, city,
    state."""
    today = F.current_date() if today is None else today
    joined = users.select("user_id").join(profiles, "user_id")
    return joined.select("user_id", age_bin(F.col("dob"), today).alias("age"), "gender", "city", "state")
