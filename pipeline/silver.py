"""Silver: typed, deduplicated, current tables, built incrementally from bronze (and from each other).

Every step is an availableNow-or-continuous stream with a named foreachBatch function. Writes are insert-only
merges on the table's key, so a replayed micro-batch changes nothing. A step that joins incrementally-built inputs
runs only after the steps that write them have finished, so it always sees the other side's committed rows (no
missed pairs); steps with no table in common run side by side.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import reduce

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from core.contract import (
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
)
from pipeline.parsing import checked, parse_bpm_events, parse_gym_events, parse_workout_events
from pipeline.storage import Lakehouse
from pipeline.streams import append_each_batch_once, run_available_now, run_parallel
from pipeline.transforms import (
    PROFILE_COLUMNS,
    completed_workouts,
    first_by_offset,
    latest_logouts,
    latest_profile_changes,
    tagged,
    user_bins,
    workout_bpm,
)

log = logging.getLogger(__name__)

SESSION_KEY = ["user_id", "workout_id", "session_id"]
WORKOUT_BPM_KEY = [*SESSION_KEY, "time"]
VISIT_KEY = ["mac_address", "gym", "login"]


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


def build_users(lh: Lakehouse) -> int:
    def upsert_users(batch: DataFrame, _batch_id: int) -> None:
        lh.insert_new(USERS, batch.transform(first_registration), ["user_id"])

    return run_available_now(lh, "silver_users", lambda: lh.read_stream(REGISTERED_USERS_BZ),
                             inputs=(REGISTERED_USERS_BZ,), sink=upsert_users)  # fmt: skip


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

    return run_available_now(lh, "silver_user_profile", lambda: lh.read_stream(PROFILE_CHANGES_BZ),
                             inputs=(PROFILE_CHANGES_BZ,), sink=upsert_user_profile)  # fmt: skip


def upsert_heart_rate(lh: Lakehouse, readings: DataFrame) -> None:
    lh.insert_new(HEART_RATE, readings, ["device_id", "time"], bounded_by="time")


def upsert_workouts(lh: Lakehouse, events: DataFrame) -> None:
    """New start/stop records, then the sessions they complete (both inputs of a session are then in silver)."""
    lh.insert_new(WORKOUTS, events, [*SESSION_KEY, "action"])
    touched = events.select(*SESSION_KEY).distinct()
    sessions = lh.read(WORKOUTS).join(touched, SESSION_KEY, "left_semi")
    lh.insert_new(COMPLETED_WORKOUTS, completed_workouts(sessions), SESSION_KEY)


def upsert_gym_logs(lh: Lakehouse, visits: DataFrame) -> None:
    """Visits keyed by (mac_address, gym, login); a later or repeated exit record only ever raises logout."""
    visits = visits.select("mac_address", "gym", "login", "logout").transform(latest_logouts)
    (
        lh.delta(GYM_LOGS).alias("t")
        .merge(visits.alias("s"), " AND ".join(f"t.{k} = s.{k}" for k in VISIT_KEY))
        .whenMatchedUpdate(condition="s.logout > t.logout OR (t.logout IS NULL AND s.logout IS NOT NULL)",
                           set={"logout": "s.logout"})
        .whenNotMatchedInsertAll()
        .execute()
    )  # fmt: skip


@dataclass(frozen=True)
class TopicRoute:
    """How one topic's records become silver: parse, deduplicate on `keys` (lowest offset wins; none: the writer
    merges duplicates itself), write."""

    parse: Callable[[DataFrame], DataFrame]
    keys: tuple[str, ...]
    write: Callable[[Lakehouse, DataFrame], None]


TOPIC_ROUTES: dict[str, TopicRoute] = {
    "bpm": TopicRoute(parse_bpm_events, ("device_id", "time"), upsert_heart_rate),
    "workout": TopicRoute(parse_workout_events, (*SESSION_KEY, "action"), upsert_workouts),
    "gym": TopicRoute(parse_gym_events, (), upsert_gym_logs),
}


def build_from_kafka(lh: Lakehouse) -> int:
    """One stream over the multiplex table: each micro-batch is split by topic; malformed records of all topics go
    to quarantine in one idempotent append (once per batch id), the rest to their silver tables by key."""
    name = "silver_from_kafka"
    quarantine_once = append_each_batch_once(lh, QUARANTINE, name)
    kinds = {lh.settings.topic(kind): kind for kind in TOPIC_ROUTES}

    def upsert_from_kafka(batch: DataFrame, batch_id: int) -> None:
        # the batch is read once (so the query's input row count is right), and each topic's rows are checked once:
        # the quarantine and the topic's writer share them (checking is most of a record's cost)
        batch = batch.where(F.col("topic").isin(*kinds)).select("topic", "value", "partition", "offset").persist()
        rows: dict[str, DataFrame] = {}
        try:
            topics = [r.topic for r in batch.select("topic").distinct().collect()]
            rows = {kinds[t]: batch.where(F.col("topic") == t).transform(checked(kinds[t])).persist() for t in topics}

            def quarantine(lh: Lakehouse) -> int:
                bad = reduce(DataFrame.unionByName, [quarantined(rows[k], lh.settings.topic(k)) for k in rows])
                if not bad.isEmpty():
                    quarantine_once(bad, batch_id)
                return 0

            def write(kind: str) -> Callable[[Lakehouse], int]:
                route = TOPIC_ROUTES[kind]
                good = rows[kind].where(F.col("reason").isNull()).transform(route.parse)
                deduplicated = good.transform(first_by_offset(list(route.keys))) if route.keys else good
                return lambda lh: route.write(lh, deduplicated) or 0

            if rows:  # each topic writes its own tables, the quarantine its own append: side by side
                run_parallel(lh, quarantine, *[write(kind) for kind in rows])
        finally:
            for checked_rows in rows.values():
                checked_rows.unpersist()
            batch.unpersist()

    return run_available_now(lh, name, lambda: lh.read_stream(KAFKA_MULTIPLEX_BZ), inputs=(KAFKA_MULTIPLEX_BZ,),
                             sink=upsert_from_kafka)  # fmt: skip


def build_user_bins(lh: Lakehouse) -> int:
    """Recomputed whole (one row per member, and ages move with the date); only differing rows are written.
    Skipped while neither input has a new version and the date is the same."""
    seen = (lh.version(USERS), lh.version(USER_PROFILE), date.today().toordinal())
    if lh.seen_versions.get("silver_user_bins") != seen:
        lh.sync(USER_BINS, user_bins(lh.read(USERS), lh.read(USER_PROFILE)), ["user_id"])
        lh.seen_versions["silver_user_bins"] = seen
    return 0


_BPM_CHANGE_COLUMNS = {"device_id": "bigint", "time": "timestamp", "heartrate": "double", "valid": "boolean",
                       "user_id": "bigint", "workout_id": "bigint", "session_id": "bigint"}  # fmt: skip
_BPM_SOURCES = (HEART_RATE, COMPLETED_WORKOUTS, USERS)


def new_workout_bpm(lh: Lakehouse, batch: DataFrame) -> DataFrame:
    """The workout_bpm rows one batch of new readings, sessions and members can add: new readings against every
    session, and the readings that were already there, in their time range, against new sessions and the sessions
    of new members."""
    of = {t.name: batch.where(F.col("source") == t.name) for t in _BPM_SOURCES}
    readings = of[HEART_RATE.name].select("device_id", "time", "heartrate", "valid")
    completed, users = lh.read(COMPLETED_WORKOUTS), lh.read(USERS)
    pairs = workout_bpm(completed, users, readings)
    if readings.count() == lh.read(HEART_RATE).count():  # heart_rate only grows: no reading is older than the batch
        return pairs
    touched = (
        of[COMPLETED_WORKOUTS.name]
        .select(*SESSION_KEY)
        .unionByName(completed.join(of[USERS.name].select("user_id"), "user_id", "left_semi").select(*SESSION_KEY))
    )
    sessions = completed.join(touched.distinct(), SESSION_KEY, "left_semi")
    low, high = sessions.agg(F.min(F.unix_micros("start_time")), F.max(F.unix_micros("end_time"))).first()
    if low is not None:  # readings outside every touched session's time range cannot pair: Delta skips their files
        bounds = F.timestamp_micros(F.lit(low)), F.timestamp_micros(F.lit(high))
        around = lh.read(HEART_RATE).where(F.col("time").between(*bounds))
        pairs = pairs.unionByName(workout_bpm(sessions, users, around))
    return pairs.dropDuplicates(WORKOUT_BPM_KEY)


def build_workout_bpm(lh: Lakehouse) -> int:
    """workout_bpm grows from three inputs in one stream: new readings, new completed sessions and new members."""

    def upsert_workout_bpm(batch: DataFrame, _id: int) -> None:
        batch = batch.persist()
        try:
            lh.insert_new(WORKOUT_BPM, new_workout_bpm(lh, batch), WORKOUT_BPM_KEY, bounded_by="time")
        finally:
            batch.unpersist()

    def source() -> DataFrame:
        streams = [tagged(lh.read_stream(t, appends_only=True), t.name, _BPM_CHANGE_COLUMNS) for t in _BPM_SOURCES]
        return reduce(DataFrame.unionByName, streams)

    return run_available_now(lh, "silver_workout_bpm", source, inputs=_BPM_SOURCES, sink=upsert_workout_bpm)


def run_silver(lh: Lakehouse) -> int:
    """One silver pass over everything bronze holds now; order matters (see module docstring)."""
    first = run_parallel(lh, build_from_kafka, build_users, build_user_profile)  # from bronze only
    return first + run_parallel(lh, build_workout_bpm, build_user_bins)  # from the silver tables just written
