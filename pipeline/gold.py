"""Gold: the tables the dashboard reads, recomputed only for the keys that silver changes touch.

Each gold row is a function of current silver rows. Every silver change (new readings, a logout, a profile
change, a new member or workout) marks the gold keys it can affect, and only those are recomputed and upserted.
"""

from __future__ import annotations

import logging
from functools import reduce

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from core.contract import (
    COMPLETED_WORKOUTS,
    GYM_LOGS,
    GYM_SUMMARY,
    USER_BINS,
    USERS,
    WORKOUT_BPM,
    WORKOUT_BPM_SUMMARY,
    Table,
)
from pipeline.silver import SESSION_KEY, VISIT_KEY
from pipeline.storage import Lakehouse
from pipeline.streams import run_available_now, run_parallel
from pipeline.transforms import attribute_sessions, gym_summary, tagged, workout_bpm_summary

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


# Every silver change that can move a gold row, as one stream of keys: (source table, key columns it carries).
# Sessions: new readings (their session); a visit's login or logout, or a member's bins (all sessions of the member).
# Visits: a logout (that visit); a completed workout or a new member (all visits of the member).
_CHANGE_COLUMNS = {"user_id": "bigint", "workout_id": "bigint", "session_id": "bigint", "mac_address": "string",
                   "gym": "bigint", "login": "timestamp"}  # fmt: skip
_CHANGE_SOURCES: tuple[tuple[Table, bool], ...] = (  # (table, read its Change Data Feed rather than its appends)
    (WORKOUT_BPM, False), (GYM_LOGS, True), (USER_BINS, True), (COMPLETED_WORKOUTS, False), (USERS, False),
)  # fmt: skip


def gold_changes(lh: Lakehouse) -> DataFrame:
    """One stream over every gold input: appends of the append-only ones, both images of the ones that change."""
    streams = [
        tagged(lh.read_changes(t) if changes else lh.read_stream(t, appends_only=True), t.name, _CHANGE_COLUMNS)
        for t, changes in _CHANGE_SOURCES
    ]
    return reduce(DataFrame.unionByName, streams)


def refresh_gold(lh: Lakehouse, changes: DataFrame) -> None:
    """Both gold tables for one batch of changes: each touched session and visit is recomputed once."""
    changes = changes.persist()
    try:
        of = {t.name: changes.where(F.col("source") == t.name) for t, _ in _CHANGE_SOURCES}
        member_changes = (
            of[USER_BINS.name].select("user_id").unionByName(_users_of_macs(lh, of[GYM_LOGS.name]).select("user_id"))
        )
        sessions = (
            of[WORKOUT_BPM.name].select(*SESSION_KEY)
            .unionByName(_sessions_of_users(lh, member_changes).select(*SESSION_KEY))
        )  # fmt: skip
        visits = (
            of[GYM_LOGS.name]
            .select(*VISIT_KEY)
            .unionByName(
                _visits_of_users(lh, of[COMPLETED_WORKOUTS.name].unionByName(of[USERS.name])).select(*VISIT_KEY)
            )
        )
        # the two gold tables read silver only and write one each: side by side
        run_parallel(lh, lambda _: refresh_sessions(lh, sessions) or 0, lambda _: refresh_visits(lh, visits) or 0)
    finally:
        changes.unpersist()


def run_gold(lh: Lakehouse) -> int:
    """Both gold tables for everything silver gained or changed since the last run: one query, one pass."""

    def gold_refresh(batch: DataFrame, _id: int) -> None:
        refresh_gold(lh, batch)

    return run_available_now(lh, "gold_refresh", lambda: gold_changes(lh),
                             inputs=tuple(t for t, _ in _CHANGE_SOURCES), sink=gold_refresh)  # fmt: skip
