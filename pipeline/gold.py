"""Gold: the tables the dashboard reads, recomputed only for the keys that silver changes touch.

Each gold row is a function of current silver rows (pipeline.gold_transforms). Every silver change (new readings, a
logout, a profile change, a new member or workout) marks the gold keys it can affect, and only those are recomputed
and upserted.
"""

from __future__ import annotations

import logging
from functools import partial, reduce

from pyspark.sql import DataFrame

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
from pipeline.gold_transforms import gym_summary, sessions_to_refresh, visits_to_refresh, workout_bpm_summary
from pipeline.run_state import StageRun
from pipeline.streams import run_available_now, run_parallel
from pipeline.transforms import SESSION_KEY, VISIT_KEY, tagged

log = logging.getLogger(__name__)


def refresh_sessions(run: StageRun, sessions: DataFrame) -> int:
    """Recompute workout_bpm_summary for the given sessions from current silver and upsert them."""
    lh = run.lh
    readings = lh.read(WORKOUT_BPM).join(sessions, SESSION_KEY, "left_semi")
    rows = workout_bpm_summary(readings, lh.read(USERS), lh.read(GYM_LOGS), lh.read(USER_BINS))
    run.stats.add(lh.upsert(WORKOUT_BPM_SUMMARY, rows, SESSION_KEY))
    return 0


def refresh_visits(run: StageRun, visits: DataFrame) -> int:
    """Recompute gym_summary for the given visits from current silver and upsert them."""
    lh = run.lh
    logs = lh.read(GYM_LOGS).join(visits, VISIT_KEY, "left_semi")
    run.stats.add(lh.upsert(GYM_SUMMARY, gym_summary(logs, lh.read(USERS), lh.read(COMPLETED_WORKOUTS)), VISIT_KEY))
    return 0


# Every silver change that can move a gold row, as one stream (see gold_transforms for which keys each one moves)
_CHANGE_COLUMNS = {"user_id": "bigint", "workout_id": "bigint", "session_id": "bigint", "mac_address": "string",
                   "gym": "bigint", "login": "timestamp"}  # fmt: skip
_CHANGE_SOURCES: tuple[tuple[Table, bool], ...] = (  # (table, read its Change Data Feed rather than its appends)
    (WORKOUT_BPM, False), (GYM_LOGS, True), (USER_BINS, True), (COMPLETED_WORKOUTS, False), (USERS, False),
)  # fmt: skip


def gold_changes(run: StageRun) -> DataFrame:
    """One stream over every gold input: appends of the append-only ones, both images of the ones that change."""
    lh = run.lh
    streams = [
        tagged(lh.read_changes(t) if changes else lh.read_stream(t, appends_only=True), t.name, _CHANGE_COLUMNS)
        for t, changes in _CHANGE_SOURCES
    ]
    return reduce(DataFrame.unionByName, streams)


def refresh_gold(run: StageRun, changes: DataFrame) -> None:
    """Both gold tables for one batch of changes: each touched session and visit is recomputed once."""
    lh = run.lh
    changes = changes.persist()
    try:
        sessions = sessions_to_refresh(changes, lh.read(USERS), lh.read(WORKOUT_BPM_SUMMARY))
        visits = visits_to_refresh(changes, lh.read(USERS), lh.read(GYM_LOGS))
        # the two gold tables read silver only and write one each: side by side
        run_parallel(run, partial(refresh_sessions, sessions=sessions), partial(refresh_visits, visits=visits))
    finally:
        changes.unpersist()


def run_gold(run: StageRun) -> int:
    """Both gold tables for everything silver gained or changed since the last run: one query, one pass."""

    def gold_refresh(batch: DataFrame, _id: int) -> None:
        refresh_gold(run, batch)

    return run_available_now(run, "gold_refresh", lambda: gold_changes(run),
                             inputs=tuple(t for t, _ in _CHANGE_SOURCES), sink=gold_refresh)  # fmt: skip
