"""Silver: typed, deduplicated, current tables, built incrementally from bronze (and from each other).

Every step is an availableNow-or-continuous stream with a named foreachBatch function that reads, calls the table's
pure transform (pipeline.transforms) and writes one table. Writes are merges on the table's key, so a replayed
micro-batch changes nothing. A step that joins incrementally-built inputs runs only after the steps that write them
have finished, so it always sees the other side's committed rows (no missed pairs); steps with no table in common run
side by side.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import partial, reduce

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
from pipeline.parsing import checked
from pipeline.run_state import StageRun
from pipeline.streams import append_each_batch_once, run_available_now, run_parallel
from pipeline.transforms import (
    HEART_RATE_KEY,
    SESSION_KEY,
    VISIT_KEY,
    WORKOUT_BPM_KEY,
    WORKOUT_KEY,
    change_set,
    completed_workouts,
    first_registration,
    gym_logs,
    heart_rate,
    malformed_values_only,
    new_workout_bpm,
    of_source,
    quarantined,
    sessions_to_pair_again,
    tagged,
    user_bins,
    user_profile_changes,
    workout_bpm,
    workouts,
)

log = logging.getLogger(__name__)


def build_users(run: StageRun) -> int:
    lh = run.lh

    def upsert_users(batch: DataFrame, _batch_id: int) -> None:
        run.stats.add(lh.insert_new(USERS, first_registration(batch), ["user_id"]))

    return run_available_now(run, "silver_users", lambda: lh.read_stream(REGISTERED_USERS_BZ),
                             inputs=(REGISTERED_USERS_BZ,), sink=upsert_users)  # fmt: skip


def build_user_profile(run: StageRun) -> int:
    """SCD type 1 with deletes: each touched user's profile follows the greatest (updated, change_id) of all their
    bronze changes."""
    lh = run.lh

    def upsert_user_profile(batch: DataFrame, _id: int) -> None:
        changes = lh.read(PROFILE_CHANGES_BZ).join(batch.select("user_id").distinct(), "user_id", "left_semi")
        run.stats.add(lh.apply_changes(USER_PROFILE, user_profile_changes(changes), ["user_id"]))

    return run_available_now(run, "silver_user_profile", lambda: lh.read_stream(PROFILE_CHANGES_BZ),
                             inputs=(PROFILE_CHANGES_BZ,), sink=upsert_user_profile)  # fmt: skip


# --- from Kafka: each writer writes one table of a topic's rows ---------------------------------------------------


def upsert_heart_rate(run: StageRun, readings: DataFrame) -> None:
    run.stats.add(run.lh.insert_new(HEART_RATE, readings, HEART_RATE_KEY, bounded_by="time"))


def upsert_workouts(run: StageRun, events: DataFrame) -> None:
    run.stats.add(run.lh.insert_new(WORKOUTS, events, WORKOUT_KEY))


def upsert_completed_workouts(run: StageRun, events: DataFrame) -> None:
    """The sessions that new start/stop records complete: after upsert_workouts, both records are in silver."""
    sessions = run.lh.read(WORKOUTS).join(events.select(*SESSION_KEY).distinct(), SESSION_KEY, "left_semi")
    run.stats.add(run.lh.insert_new(COMPLETED_WORKOUTS, completed_workouts(sessions), SESSION_KEY))


def upsert_gym_logs(run: StageRun, visits: DataFrame) -> None:
    """A later or repeated exit record only ever raises a visit's logout."""
    run.stats.add(run.lh.upsert_max(GYM_LOGS, visits, VISIT_KEY, "logout"))


@dataclass(frozen=True)
class TopicRoute:
    """How one topic's checked records become silver: its table's rows, then the writers of its tables in order."""

    rows: Callable[[DataFrame], DataFrame]
    writers: tuple[Callable[[StageRun, DataFrame], None], ...]


TOPIC_ROUTES: dict[str, TopicRoute] = {
    "bpm": TopicRoute(heart_rate, (upsert_heart_rate,)),
    "workout": TopicRoute(workouts, (upsert_workouts, upsert_completed_workouts)),
    "gym": TopicRoute(gym_logs, (upsert_gym_logs,)),
}


def _write_route(route: TopicRoute, checked_rows: DataFrame, run: StageRun) -> int:
    rows = route.rows(checked_rows)
    for write in route.writers:
        write(run, rows)
    return 0


def build_from_kafka(run: StageRun) -> int:
    """One stream over the multiplex table: each micro-batch is split by topic; malformed records of all topics go
    to quarantine in one idempotent append (once per batch id), the rest to their silver tables by key."""
    lh = run.lh
    name = "silver_from_kafka"
    quarantine_once = append_each_batch_once(lh, QUARANTINE, name)
    kinds = {lh.settings.topic(kind): kind for kind in TOPIC_ROUTES}

    def upsert_from_kafka(batch: DataFrame, batch_id: int) -> None:
        # the batch is read once (so the query's input row count is right), and each topic's rows are checked once:
        # the quarantine and the topic's writers share them (checking is most of a record's cost)
        batch = batch.where(F.col("topic").isin(*kinds)).select("topic", "value", "partition", "offset").persist()
        rows: dict[str, DataFrame] = {}
        try:
            topics = [r.topic for r in batch.select("topic").distinct().collect()]
            rows = {kinds[t]: batch.where(F.col("topic") == t).transform(checked(kinds[t]))
                    .transform(malformed_values_only).persist() for t in topics}  # fmt: skip

            def quarantine(_run: StageRun) -> int:
                bad = reduce(DataFrame.unionByName, [quarantined(rows[k], lh.settings.topic(k)) for k in rows])
                if not bad.isEmpty():
                    quarantine_once(bad, batch_id)
                return 0

            if rows:  # each topic writes its own tables, the quarantine its own append: side by side
                run_parallel(run, quarantine, *[partial(_write_route, TOPIC_ROUTES[k], rows[k]) for k in rows])
        finally:
            for checked_rows in rows.values():
                checked_rows.unpersist()
            batch.unpersist()

    return run_available_now(run, name, lambda: lh.read_stream(KAFKA_MULTIPLEX_BZ), inputs=(KAFKA_MULTIPLEX_BZ,),
                             sink=upsert_from_kafka)  # fmt: skip


# --- from silver ----------------------------------------------------------------------------------------------------


def build_user_bins(run: StageRun) -> int:
    """Recomputed whole (one row per member, and ages move with the date); only differing rows are written.
    Skipped while neither input has a new version and the date is the same."""
    lh = run.lh
    seen = (lh.version(USERS), lh.version(USER_PROFILE), date.today().toordinal())
    if not run.state.is_caught_up("silver_user_bins", seen):
        wanted = user_bins(lh.read(USERS), lh.read(USER_PROFILE))
        run.stats.add(lh.apply_changes(USER_BINS, change_set(lh.read(USER_BINS), wanted, ["user_id"]), ["user_id"]))
        run.state.caught_up("silver_user_bins", seen)
    return 0


_BPM_CHANGE_COLUMNS = {"device_id": "bigint", "time": "timestamp", "heartrate": "double", "valid": "boolean",
                       "user_id": "bigint", "workout_id": "bigint", "session_id": "bigint"}  # fmt: skip
_BPM_SOURCES = (HEART_RATE, COMPLETED_WORKOUTS, USERS)


def read_new_workout_bpm(run: StageRun, batch: DataFrame) -> DataFrame:
    """The workout_bpm rows one batch of new readings, sessions and members adds. The readings already in silver are
    read only within the time range of the sessions they may pair with for the first time (Delta skips the other
    files), and not at all when the batch holds every reading there is."""
    lh = run.lh
    readings = of_source(batch, HEART_RATE).select("device_id", "time", "heartrate", "valid")
    completed, users = lh.read(COMPLETED_WORKOUTS), lh.read(USERS)
    if readings.count() == lh.read(HEART_RATE).count():  # heart_rate only grows: no reading is older than the batch
        return workout_bpm(completed, users, readings)
    sessions = sessions_to_pair_again(completed, of_source(batch, COMPLETED_WORKOUTS), of_source(batch, USERS))
    low, high = sessions.agg(F.min(F.unix_micros("start_time")), F.max(F.unix_micros("end_time"))).first()
    if low is None:
        return workout_bpm(completed, users, readings)
    around = lh.read(HEART_RATE).where(F.col("time").between(F.timestamp_micros(F.lit(low)),
                                                             F.timestamp_micros(F.lit(high))))  # fmt: skip
    return new_workout_bpm(completed, users, readings, sessions, around)


def build_workout_bpm(run: StageRun) -> int:
    """workout_bpm grows from three inputs in one stream: new readings, new completed sessions and new members."""
    lh = run.lh

    def upsert_workout_bpm(batch: DataFrame, _id: int) -> None:
        batch = batch.persist()
        try:
            rows = read_new_workout_bpm(run, batch)
            run.stats.add(lh.insert_new(WORKOUT_BPM, rows, WORKOUT_BPM_KEY, bounded_by="time"))
        finally:
            batch.unpersist()

    def source() -> DataFrame:
        streams = [tagged(lh.read_stream(t, appends_only=True), t.name, _BPM_CHANGE_COLUMNS) for t in _BPM_SOURCES]
        return reduce(DataFrame.unionByName, streams)

    return run_available_now(run, "silver_workout_bpm", source, inputs=_BPM_SOURCES, sink=upsert_workout_bpm)


def run_silver(run: StageRun) -> int:
    """One silver pass over everything bronze holds now; order matters (see module docstring)."""
    first = run_parallel(run, build_from_kafka, build_users, build_user_profile)  # from bronze only
    return first + run_parallel(run, build_workout_bpm, build_user_bins)  # from the silver tables just written
