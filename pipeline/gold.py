"""Gold: the tables the dashboard reads, recomputed only for the keys that silver changes touch.

Each gold row is a function of current silver rows. Every silver change (new readings, a logout, a profile
change, a new member or workout) marks the gold keys it can affect, and only those are recomputed and upserted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pyspark.sql import DataFrame

from pipeline.silver import SESSION_KEY, VISIT_KEY
from pipeline.storage import Lakehouse
from pipeline.streams import run_available_now
from pipeline.tables import (
    COMPLETED_WORKOUTS,
    GYM_LOGS,
    GYM_SUMMARY,
    USER_BINS,
    USERS,
    WORKOUT_BPM,
    WORKOUT_BPM_SUMMARY,
    Table,
)
from pipeline.transforms import attribute_sessions, gym_summary, workout_bpm_summary

log = logging.getLogger(__name__)


def refresh_sessions(lh: Lakehouse, touched: DataFrame) -> None:
    """Recompute workout_bpm_summary for the touched sessions from current silver and upsert them."""
    readings = lh.read(WORKOUT_BPM).join(touched.select(*SESSION_KEY).distinct(), SESSION_KEY, "left_semi")
    summary = workout_bpm_summary(readings)
    rows = attribute_sessions(summary, lh.read(USERS), lh.read(GYM_LOGS), lh.read(USER_BINS))
    lh.upsert(WORKOUT_BPM_SUMMARY, rows, SESSION_KEY)


def refresh_visits(lh: Lakehouse, touched: DataFrame) -> None:
    """Recompute gym_summary for the touched visits from current silver and upsert them."""
    visits = lh.read(GYM_LOGS).join(touched.select(*VISIT_KEY).distinct(), VISIT_KEY, "left_semi")
    lh.upsert(GYM_SUMMARY, gym_summary(visits, lh.read(USERS), lh.read(COMPLETED_WORKOUTS)), VISIT_KEY)


def _sessions_of_users(lh: Lakehouse, users: DataFrame) -> DataFrame:
    return lh.read(WORKOUT_BPM_SUMMARY).join(users.select("user_id").distinct(), "user_id", "left_semi")


def _users_of_macs(lh: Lakehouse, macs: DataFrame) -> DataFrame:
    return lh.read(USERS).join(macs.select("mac_address").distinct(), "mac_address", "left_semi")


def _visits_of_users(lh: Lakehouse, users: DataFrame) -> DataFrame:
    macs = lh.read(USERS).join(users.select("user_id").distinct(), "user_id", "left_semi").select("mac_address")
    return lh.read(GYM_LOGS).join(macs.distinct(), "mac_address", "left_semi")


def _step(lh: Lakehouse, name: str, table: Table, source: Callable[[], DataFrame],
          refresh: Callable[[DataFrame], None]) -> int:  # fmt: skip
    def sink(batch: DataFrame, _id: int) -> None:
        refresh(batch)

    sink.__name__ = name
    return run_available_now(lh, name, source, inputs=(table,), sink=sink)


def _changed_rows(lh: Lakehouse, table: Table) -> Callable[[], DataFrame]:
    # both pre- and post-images matter (a key can change attribution either way); drop CDF's own columns
    return lambda: lh.read_changes(table).drop("_change_type", "_commit_version", "_commit_timestamp")


def _appended_rows(lh: Lakehouse, table: Table) -> Callable[[], DataFrame]:
    return lambda: lh.read_stream(table, appends_only=True)


def run_gold(lh: Lakehouse) -> int:
    """Both gold tables for everything silver gained or changed since the last run."""
    steps: list[tuple[str, Table, Callable[[], DataFrame], Callable[[DataFrame], None]]] = [
        ("gold_sessions_from_readings", WORKOUT_BPM, _appended_rows(lh, WORKOUT_BPM),
         lambda b: refresh_sessions(lh, b)),
        ("gold_sessions_from_gym_logs", GYM_LOGS, _changed_rows(lh, GYM_LOGS),
         lambda b: refresh_sessions(lh, _sessions_of_users(lh, _users_of_macs(lh, b)))),
        ("gold_sessions_from_user_bins", USER_BINS, _changed_rows(lh, USER_BINS),
         lambda b: refresh_sessions(lh, _sessions_of_users(lh, b))),
        ("gold_visits_from_gym_logs", GYM_LOGS, _changed_rows(lh, GYM_LOGS), lambda b: refresh_visits(lh, b)),
        ("gold_visits_from_workouts", COMPLETED_WORKOUTS, _appended_rows(lh, COMPLETED_WORKOUTS),
         lambda b: refresh_visits(lh, _visits_of_users(lh, b))),
        ("gold_visits_from_users", USERS, _appended_rows(lh, USERS),
         lambda b: refresh_visits(lh, _visits_of_users(lh, b))),
    ]  # fmt: skip
    return sum(_step(lh, *step) for step in steps)
