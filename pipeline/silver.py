"""Silver: typed, deduplicated, current tables, built incrementally from bronze (and from each other).

Every step is an availableNow-or-continuous stream with a named foreachBatch function. Writes are insert-only
merges on the table's key, so a replayed micro-batch changes nothing. Steps run one after another, so a join
between two incrementally-built inputs always sees the other side's committed rows (no missed pairs).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import reduce

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pipeline.storage import Lakehouse
from pipeline.streams import run_available_now
from pipeline.tables import (
    COMPLETED_WORKOUTS,
    GYM_LOGS,
    HEART_RATE,
    KAFKA_MULTIPLEX_BZ,
    PROFILE_CHANGES_BZ,
    QUARANTINE,
    REGISTERED_USERS_BZ,
    USER_BINS,
    USER_PROFILE,
    USERS,
    WORKOUT_BPM,
    WORKOUTS,
    Table,
)
from pipeline.transforms import (
    PROFILE_COLUMNS,
    completed_workouts,
    first_by_offset,
    latest_logouts,
    latest_profile_changes,
    parse_bpm_events,
    parse_gym_events,
    parse_workout_events,
    rejection_reason,
    user_bins,
    workout_bpm,
)

log = logging.getLogger(__name__)

SESSION_KEY = ["user_id", "workout_id", "session_id"]
WORKOUT_BPM_KEY = [*SESSION_KEY, "time"]


def first_registration(df: DataFrame) -> DataFrame:
    """One row per user: the earliest registration; epoch seconds become a timestamp."""
    order = F.struct("registration_timestamp", "load_time")
    return df.groupBy("user_id").agg(
        F.min_by("device_id", order).alias("device_id"),
        F.min_by("mac_address", order).alias("mac_address"),
        F.timestamp_seconds(F.min("registration_timestamp")).alias("registration_timestamp"),
    )


def quarantined(df: DataFrame, source: str) -> DataFrame:
    """Rejected records in the shape of ops.quarantine."""
    return df.where(F.col("reason").isNotNull()).select(
        F.lit(source).alias("source"),
        "reason",
        F.col("value").alias("raw_value"),
        "partition",
        "offset",
        F.current_timestamp().alias("detected_at"),
    )


def _topic_batch_sink(
    lh: Lakehouse, name: str, kind: str, parse: Callable[[DataFrame], DataFrame], target: Table, keys: list[str],
    after: Callable[[DataFrame], None] | None = None,
):  # fmt: skip
    """foreachBatch for one topic: malformed -> quarantine (once per batch id), the rest -> target by key."""
    writer_id = lh.writer_id(name)
    topic = lh.settings.topic(kind)

    def sink(batch: DataFrame, batch_id: int) -> None:
        checked = batch.transform(rejection_reason(kind)).persist()
        try:
            bad = quarantined(checked, topic)
            if not bad.isEmpty():
                lh.append_once(QUARANTINE, bad, writer_id, batch_id)
            good = checked.where(F.col("reason").isNull()).transform(parse).transform(first_by_offset(keys))
            lh.insert_new(target, good, keys)
            if after is not None:
                after(good)
        finally:
            checked.unpersist()

    sink.__name__ = f"upsert_{target.name}"
    return sink


def _topic_stream(lh: Lakehouse, kind: str) -> DataFrame:
    return lh.read_stream(KAFKA_MULTIPLEX_BZ).where(F.col("topic") == lh.settings.topic(kind))


def build_users(lh: Lakehouse) -> int:
    def upsert_users(batch: DataFrame, _batch_id: int) -> None:
        lh.insert_new(USERS, batch.transform(first_registration), ["user_id"])

    return run_available_now(lh, "silver_users", lh.read_stream(REGISTERED_USERS_BZ), sink=upsert_users)


def build_heart_rate(lh: Lakehouse) -> int:
    sink = _topic_batch_sink(lh, "silver_heart_rate", "bpm", parse_bpm_events, HEART_RATE, ["device_id", "time"])
    return run_available_now(lh, "silver_heart_rate", _topic_stream(lh, "bpm"), sink=sink)


def build_workouts(lh: Lakehouse) -> int:
    def complete_sessions(new_workouts: DataFrame) -> None:
        touched = new_workouts.select(*SESSION_KEY).distinct()
        sessions = lh.read(WORKOUTS).join(touched, SESSION_KEY, "left_semi")
        lh.insert_new(COMPLETED_WORKOUTS, completed_workouts(sessions), SESSION_KEY)

    sink = _topic_batch_sink(lh, "silver_workouts", "workout", parse_workout_events, WORKOUTS,
                             [*SESSION_KEY, "action"], after=complete_sessions)  # fmt: skip
    return run_available_now(lh, "silver_workouts", _topic_stream(lh, "workout"), sink=sink)


def build_user_profile(lh: Lakehouse) -> int:
    """SCD type 1 with deletes: per touched user, the greatest (updated, change_id) over all bronze changes."""

    def upsert_user_profile(batch: DataFrame, _id: int) -> None:
        touched = batch.select("user_id").distinct()
        latest = latest_profile_changes(lh.read(PROFILE_CHANGES_BZ).join(touched, "user_id", "left_semi"))
        values = ["dob", *[c for c in PROFILE_COLUMNS if c != "dob"], "updated"]
        changed = " OR ".join(f"NOT (t.`{c}` <=> s.`{c}`)" for c in values)
        (
            lh.delta(USER_PROFILE).alias("t")
            .merge(latest.alias("s"), "t.user_id = s.user_id")
            .whenMatchedDelete(condition="s.update_type = 'delete'")
            .whenMatchedUpdate(condition=changed, set={c: f"s.`{c}`" for c in values})
            .whenNotMatchedInsert(condition="s.update_type <> 'delete'",
                                  values={c: f"s.`{c}`" for c in ["user_id", *values]})
            .execute()
        )  # fmt: skip

    return run_available_now(lh, "silver_user_profile", lh.read_stream(PROFILE_CHANGES_BZ), sink=upsert_user_profile)


def build_gym_logs(lh: Lakehouse) -> int:
    """Visits keyed by (mac_address, gym, login); a later or repeated exit record only ever raises logout."""
    keys = ["mac_address", "gym", "login"]
    writer_id = lh.writer_id("silver_gym_logs")
    topic = lh.settings.topic("gym")

    def upsert_gym_logs(batch: DataFrame, batch_id: int) -> None:
        checked = batch.transform(rejection_reason("gym")).persist()
        try:
            bad = quarantined(checked, topic)
            if not bad.isEmpty():
                lh.append_once(QUARANTINE, bad, writer_id, batch_id)
            visits = checked.where(F.col("reason").isNull()).transform(parse_gym_events).transform(latest_logouts)
            (
                lh.delta(GYM_LOGS).alias("t")
                .merge(visits.alias("s"), " AND ".join(f"t.{k} = s.{k}" for k in keys))
                .whenMatchedUpdate(condition="s.logout > t.logout OR (t.logout IS NULL AND s.logout IS NOT NULL)",
                                   set={"logout": "s.logout"})
                .whenNotMatchedInsertAll()
                .execute()
            )  # fmt: skip
        finally:
            checked.unpersist()

    return run_available_now(lh, "silver_gym_logs", _topic_stream(lh, "gym"), sink=upsert_gym_logs)


def build_user_bins(lh: Lakehouse) -> int:
    """Recomputed whole (one row per member, and ages move with the date); only differing rows are written."""
    lh.sync(USER_BINS, user_bins(lh.read(USERS), lh.read(USER_PROFILE)), ["user_id"])
    return 0


def build_workout_bpm(lh: Lakehouse) -> int:
    """workout_bpm grows from three inputs; each new row of one is joined with the current other two."""

    def from_heart_rate(batch: DataFrame, _id: int) -> None:
        lh.insert_new(WORKOUT_BPM, workout_bpm(lh.read(COMPLETED_WORKOUTS), lh.read(USERS), batch), WORKOUT_BPM_KEY)

    def from_completed(batch: DataFrame, _id: int) -> None:
        lh.insert_new(WORKOUT_BPM, workout_bpm(batch, lh.read(USERS), lh.read(HEART_RATE)), WORKOUT_BPM_KEY)

    def from_users(batch: DataFrame, _id: int) -> None:
        lh.insert_new(WORKOUT_BPM, workout_bpm(lh.read(COMPLETED_WORKOUTS), batch, lh.read(HEART_RATE)),
                      WORKOUT_BPM_KEY)  # fmt: skip

    steps = [
        ("silver_workout_bpm_from_heart_rate", HEART_RATE, from_heart_rate),
        ("silver_workout_bpm_from_completed", COMPLETED_WORKOUTS, from_completed),
        ("silver_workout_bpm_from_users", USERS, from_users),
    ]
    return reduce(
        lambda n, s: n + run_available_now(lh, s[0], lh.read_stream(s[1], appends_only=True), sink=s[2]), steps, 0
    )


def run_silver(lh: Lakehouse) -> int:
    """One silver pass over everything bronze holds now; order matters (see module docstring)."""
    steps = (build_users, build_user_profile, build_heart_rate, build_workouts, build_gym_logs, build_workout_bpm,
             build_user_bins)  # fmt: skip
    return sum(step(lh) for step in steps)
