"""The Workout BPM page's queries, over gold.workout_bpm_summary and silver.workout_bpm."""

from __future__ import annotations

from app.gender import gender_group_sql
from app.queries.core import BoundQuery, registered
from app.queries.filters import WorkoutFilters, workout_where

SESSION_SORT_COLUMNS = ("start_time", "avg_bpm", "max_bpm", "min_bpm", "duration_min", "num_recordings", "user_id")


@registered
def workout_date_bounds() -> BoundQuery:
    return BoundQuery("workout_date_bounds", """
        SELECT CAST(min(start_time) AS DATE) AS first_day, CAST(max(start_time) AS DATE) AS last_day,
               count(*) AS sessions
        FROM {gold.workout_bpm_summary}
    """)  # fmt: skip


@registered
def workout_filter_options() -> BoundQuery:
    """Values of each filter dimension: one scan grouped by five grouping sets, one per dimension (a UNION ALL of five
    GROUP BYs scans the table five times). Gender is the raw text, NULL included (the page offers its display
    groups, see app.gender); the other dimensions leave NULL out."""
    return BoundQuery("workout_filter_options", """
        SELECT dimension, value FROM (
          SELECT CASE WHEN grouping(gym) = 0 THEN 'gym' WHEN grouping(age) = 0 THEN 'age'
                      WHEN grouping(gender) = 0 THEN 'gender' WHEN grouping(state) = 0 THEN 'state' ELSE 'city' END
                   AS dimension,
                 coalesce(CAST(gym AS STRING), age, gender, state, city) AS value
          FROM {gold.workout_bpm_summary}
          GROUP BY GROUPING SETS ((gym), (age), (gender), (state), (city))
        ) AS options
        WHERE value IS NOT NULL OR dimension = 'gender'
    """)  # fmt: skip


@registered
def workout_kpis(f: WorkoutFilters) -> BoundQuery:
    where, params = workout_where(f)
    return BoundQuery("workout_kpis", f"""
        SELECT count(*) AS sessions, count(DISTINCT user_id) AS members,
               avg(avg_bpm) AS avg_bpm, max(max_bpm) AS max_bpm,
               avg(unix_seconds(end_time) - unix_seconds(start_time)) / 60 AS avg_duration_min
        FROM {{gold.workout_bpm_summary}}
        {where}
    """, params)  # fmt: skip


_GENDER_GROUP = gender_group_sql("gender")


@registered
def bpm_by_age_gender(f: WorkoutFilters) -> BoundQuery:
    """Per age bin and gender group (app.gender): grouped by the raw text first, so the mapping runs on few rows."""
    where, params = workout_where(f)
    return BoundQuery("bpm_by_age_gender", f"""
        WITH raw AS (
          SELECT coalesce(age, 'unknown') AS age, gender, count(*) AS sessions, sum(avg_bpm) AS bpm_sum,
                 count(avg_bpm) AS bpm_count, max(max_bpm) AS max_bpm
          FROM {{gold.workout_bpm_summary}}
          {where}
          GROUP BY coalesce(age, 'unknown'), gender
        )
        SELECT age, {_GENDER_GROUP} AS gender, sum(sessions) AS sessions,
               sum(bpm_sum) / nullif(sum(bpm_count), 0) AS avg_bpm, max(max_bpm) AS max_bpm
        FROM raw
        GROUP BY age, {_GENDER_GROUP}
        ORDER BY age, gender
    """, params, ordered=True)  # fmt: skip


@registered
def avg_bpm_distribution(f: WorkoutFilters, bin_width: int = 5) -> BoundQuery:
    where, params = workout_where(f)
    params["bin_width"] = int(bin_width)
    return BoundQuery("avg_bpm_distribution", f"""
        SELECT CAST(floor(avg_bpm / :bin_width) AS BIGINT) * :bin_width AS bpm_bin, count(*) AS sessions
        FROM {{gold.workout_bpm_summary}}
        {where}
        GROUP BY CAST(floor(avg_bpm / :bin_width) AS BIGINT)
        ORDER BY bpm_bin
    """, params, ordered=True)  # fmt: skip


@registered
def daily_trend(f: WorkoutFilters) -> BoundQuery:
    where, params = workout_where(f)
    return BoundQuery("daily_trend", f"""
        SELECT CAST(start_time AS DATE) AS day, count(*) AS sessions, avg(avg_bpm) AS avg_bpm, max(max_bpm) AS max_bpm
        FROM {{gold.workout_bpm_summary}}
        {where}
        GROUP BY CAST(start_time AS DATE)
        ORDER BY day
    """, params, ordered=True)  # fmt: skip


@registered
def session_table(f: WorkoutFilters, sort_by: str = "start_time", descending: bool = True,
                  limit: int = 100, offset: int = 0) -> BoundQuery:  # fmt: skip
    """One page of sessions: `limit` rows from row `offset` of the sort order (a total order: pages never overlap)."""
    if sort_by not in SESSION_SORT_COLUMNS:
        raise ValueError(f"cannot sort sessions by {sort_by!r}; choose one of {', '.join(SESSION_SORT_COLUMNS)}")
    where, params = workout_where(f)
    direction = "DESC" if descending else "ASC"
    return BoundQuery("session_table", f"""
        SELECT user_id, workout_id, session_id, start_time, end_time,
               (unix_seconds(end_time) - unix_seconds(start_time)) / 60 AS duration_min,
               gym, age, gender, city, state, min_bpm, avg_bpm, max_bpm, num_recordings
        FROM {{gold.workout_bpm_summary}}
        {where}
        ORDER BY {sort_by} {direction} NULLS LAST, user_id, workout_id, session_id
        LIMIT {int(limit)}{f" OFFSET {int(offset)}" if offset else ""}
    """, params, ordered=True)  # fmt: skip


@registered
def session_readings(user_id: int, workout_id: int, session_id: int) -> BoundQuery:
    return BoundQuery("session_readings", """
        SELECT time, heartrate
        FROM {silver.workout_bpm}
        WHERE user_id = :user_id AND workout_id = :workout_id AND session_id = :session_id
        ORDER BY time
    """, {"user_id": int(user_id), "workout_id": int(workout_id), "session_id": int(session_id)},
        ordered=True)  # fmt: skip
