"""Every SQL text the dashboard runs, in the common subset of Spark SQL (Databricks) and DuckDB.

Table names are written `{layer.table}` and resolved by the engine from an allow-list; values are always bound
parameters written `:name` (the engine converts the marker style where it has to). Builders return a `BoundQuery`
and are registered in `REGISTRY`, so a test can run every one of them on both engines.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from app.gender import gender_group_sql
from core.contract import (
    GYM_SUMMARY,
    KAFKA_MULTIPLEX_BZ,
    PIPELINE_RUNS,
    QUARANTINE,
    TABLE_REF,
    WORKOUT_BPM,
    WORKOUT_BPM_SUMMARY,
    Table,
    render_refs,
)

# The only tables the dashboard may name; anything else in `{...}` is refused before it reaches an engine.
ALLOWED_TABLES: dict[str, Table] = {
    t.full_name: t
    for t in (WORKOUT_BPM_SUMMARY, GYM_SUMMARY, WORKOUT_BPM, PIPELINE_RUNS, QUARANTINE, KAFKA_MULTIPLEX_BZ)
}
GOLD_TABLES: tuple[Table, ...] = (WORKOUT_BPM_SUMMARY, GYM_SUMMARY)

_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


class UnknownTableError(ValueError):
    """A query names a table outside the allow-list."""


@dataclass(frozen=True)
class BoundQuery:
    """One query ready to run: a name for logs and tests, templated SQL and its bound values."""

    name: str
    sql: str
    params: Mapping[str, Any] = field(default_factory=dict)
    ordered: bool = False  # the result order is part of the answer (ORDER BY over a total order)

    @property
    def tables(self) -> tuple[Table, ...]:
        return referenced_tables(self.sql)


def referenced_tables(sql: str) -> tuple[Table, ...]:
    """The allow-listed tables a templated query names, in order of first appearance."""
    found: list[Table] = []
    for layer, name in TABLE_REF.findall(sql):
        table = ALLOWED_TABLES.get(f"{layer}.{name}")
        if table is None:
            raise UnknownTableError(f"table {layer}.{name} is not one the dashboard may read")
        if table not in found:
            found.append(table)
    return tuple(found)


def render(sql: str, qualify: Callable[[Table], str]) -> str:
    """Replace every `{layer.table}` by the engine's name for it; refuses tables outside the allow-list."""
    referenced_tables(sql)
    return render_refs(sql, qualify)


def to_dollar_params(sql: str) -> str:
    """`:name` markers (Spark, Databricks) as `$name` (DuckDB); the dashboard's SQL has no literals with colons."""
    return _PARAM.sub(r"$\1", sql)


def param_names(sql: str) -> set[str]:
    return set(_PARAM.findall(sql))


REGISTRY: dict[str, Callable[..., BoundQuery]] = {}


def _registered(builder: Callable[..., BoundQuery]) -> Callable[..., BoundQuery]:
    REGISTRY[builder.__name__] = builder
    return builder


# --- filters ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkoutFilters:
    """The Workout BPM page's filters; an empty tuple means "all"."""

    start: date
    end: date  # inclusive
    gyms: tuple[int, ...] = ()
    ages: tuple[str, ...] = ()
    genders: tuple[str | None, ...] = ()  # raw gold values (None: NULL); see app.gender for the display groups
    states: tuple[str, ...] = ()
    cities: tuple[str, ...] = ()


@dataclass(frozen=True)
class GymFilters:
    start: date
    end: date  # inclusive
    gyms: tuple[int, ...] = ()


def _in_list(column: str, prefix: str, values: Iterable[Any], params: dict[str, Any]) -> str:
    """` AND column IN (...)` over bound values; a None among them also matches NULL. Nothing: no condition."""
    names, with_null = [], False
    for value in values:
        if value is None:
            with_null = True
            continue
        name = f"{prefix}_{len(names)}"
        params[name] = value
        names.append(f":{name}")
    conditions = ([f"{column} IN ({', '.join(names)})"] if names else []) + ([f"{column} IS NULL"] if with_null else [])
    if not conditions:
        return ""
    return f" AND {conditions[0]}" if len(conditions) == 1 else f" AND ({' OR '.join(conditions)})"


def _day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, end + 1 day 00:00) as naive UTC timestamps: compares the same way in every engine."""
    return datetime.combine(start, datetime.min.time()), datetime.combine(end + timedelta(days=1), datetime.min.time())


def workout_where(f: WorkoutFilters) -> tuple[str, dict[str, Any]]:
    lo, hi = _day_bounds(f.start, f.end)
    params: dict[str, Any] = {"start_ts": lo, "end_ts": hi}
    clause = "WHERE start_time >= :start_ts AND start_time < :end_ts"
    clause += _in_list("gym", "gym", f.gyms, params)
    clause += _in_list("age", "age", f.ages, params)
    clause += _in_list("gender", "gender", f.genders, params)
    clause += _in_list("state", "state", f.states, params)
    clause += _in_list("city", "city", f.cities, params)
    return clause, params


def gym_where(f: GymFilters, alias: str = "") -> tuple[str, dict[str, Any]]:
    p = f"{alias}." if alias else ""
    params: dict[str, Any] = {"start_date": f.start, "end_date": f.end}
    clause = f"WHERE {p}date >= :start_date AND {p}date <= :end_date"
    clause += _in_list(f"{p}gym", "gym", f.gyms, params)
    return clause, params


# --- Workout BPM page ---------------------------------------------------------------------------------------------

SESSION_SORT_COLUMNS = ("start_time", "avg_bpm", "max_bpm", "min_bpm", "duration_min", "num_recordings", "user_id")


@_registered
def workout_date_bounds() -> BoundQuery:
    return BoundQuery("workout_date_bounds", """
        SELECT CAST(min(start_time) AS DATE) AS first_day, CAST(max(start_time) AS DATE) AS last_day,
               count(*) AS sessions
        FROM {gold.workout_bpm_summary}
    """)  # fmt: skip


@_registered
def workout_filter_options() -> BoundQuery:
    """Values of each filter dimension, one single-column GROUP BY each: over columnar storage with dictionary-encoded
    strings (DuckDB's copies, Delta's Parquet) each reads one column and hashes its few distinct codes, where one
    GROUP BY over all five columns hashes every row's five strings. Gender is the raw text, NULL included (the page
    offers its display groups, see app.gender)."""
    return BoundQuery("workout_filter_options", """
        SELECT 'gym' AS dimension, CAST(gym AS STRING) AS value
        FROM {gold.workout_bpm_summary} WHERE gym IS NOT NULL GROUP BY gym
        UNION ALL SELECT 'age', age FROM {gold.workout_bpm_summary} WHERE age IS NOT NULL GROUP BY age
        UNION ALL SELECT 'gender', gender FROM {gold.workout_bpm_summary} GROUP BY gender
        UNION ALL SELECT 'state', state FROM {gold.workout_bpm_summary} WHERE state IS NOT NULL GROUP BY state
        UNION ALL SELECT 'city', city FROM {gold.workout_bpm_summary} WHERE city IS NOT NULL GROUP BY city
    """)  # fmt: skip


@_registered
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


@_registered
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


@_registered
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


@_registered
def daily_trend(f: WorkoutFilters) -> BoundQuery:
    where, params = workout_where(f)
    return BoundQuery("daily_trend", f"""
        SELECT CAST(start_time AS DATE) AS day, count(*) AS sessions, avg(avg_bpm) AS avg_bpm, max(max_bpm) AS max_bpm
        FROM {{gold.workout_bpm_summary}}
        {where}
        GROUP BY CAST(start_time AS DATE)
        ORDER BY day
    """, params, ordered=True)  # fmt: skip


@_registered
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


@_registered
def session_readings(user_id: int, workout_id: int, session_id: int) -> BoundQuery:
    return BoundQuery("session_readings", """
        SELECT time, heartrate
        FROM {silver.workout_bpm}
        WHERE user_id = :user_id AND workout_id = :workout_id AND session_id = :session_id
        ORDER BY time
    """, {"user_id": int(user_id), "workout_id": int(workout_id), "session_id": int(session_id)},
        ordered=True)  # fmt: skip


# --- Gym usage page -----------------------------------------------------------------------------------------------


@_registered
def gym_date_bounds() -> BoundQuery:
    return BoundQuery("gym_date_bounds", """
        SELECT min(date) AS first_day, max(date) AS last_day, count(*) AS visits
        FROM {gold.gym_summary}
    """)  # fmt: skip


@_registered
def gym_options() -> BoundQuery:
    return BoundQuery("gym_options", """
        SELECT gym FROM {gold.gym_summary} WHERE gym IS NOT NULL GROUP BY gym ORDER BY gym
    """, ordered=True)  # fmt: skip


@_registered
def visits_per_day(f: GymFilters) -> BoundQuery:
    where, params = gym_where(f)
    return BoundQuery("visits_per_day", f"""
        SELECT date AS day, gym, count(*) AS visits
        FROM {{gold.gym_summary}}
        {where}
        GROUP BY date, gym
        ORDER BY day, gym
    """, params, ordered=True)  # fmt: skip


@_registered
def visits_per_gym(f: GymFilters) -> BoundQuery:
    """Per gym; the exercising share counts finished visits only (minutes_in_gym is NULL while inside). Members are
    counted by user_id (a role that sees mac_address masked still counts them), by wristband when unregistered."""
    where, params = gym_where(f)
    return BoundQuery("visits_per_gym", f"""
        SELECT gym, count(*) AS visits, count(DISTINCT coalesce(CAST(user_id AS STRING), mac_address)) AS members,
               avg(minutes_in_gym) AS avg_minutes_in_gym,
               sum(CASE WHEN logout IS NOT NULL THEN minutes_exercising END) AS closed_minutes_exercising,
               sum(minutes_in_gym) AS closed_minutes_in_gym,
               sum(CASE WHEN logout IS NOT NULL THEN minutes_exercising END) / nullif(sum(minutes_in_gym), 0)
                 AS exercising_share
        FROM {{gold.gym_summary}}
        {where}
        GROUP BY gym
        ORDER BY gym
    """, params, ordered=True)  # fmt: skip


_HOURS = ", ".join(f"({h})" for h in range(24))


@_registered
def occupancy(f: GymFilters) -> BoundQuery:
    """Visits present in each (day, hour): a visit counts in every hour from its login hour to its logout hour."""
    where, params = gym_where(f)
    return BoundQuery("occupancy", f"""
        WITH spans AS (
          SELECT date AS day, hour(login) AS hour_in,
                 CASE WHEN logout IS NULL THEN hour(login)
                      WHEN CAST(logout AS DATE) > date THEN 23
                      ELSE hour(logout) END AS hour_out,
                 count(*) AS visits
          FROM {{gold.gym_summary}}
          {where}
          GROUP BY 1, 2, 3
        )
        SELECT s.day AS day, h.hr AS hour, sum(s.visits) AS present
        FROM spans s JOIN (VALUES {_HOURS}) AS h(hr) ON h.hr >= s.hour_in AND h.hr <= s.hour_out
        GROUP BY s.day, h.hr
        ORDER BY day, hour
    """, params, ordered=True)  # fmt: skip


@_registered
def members_in_gym_now(limit: int = 500) -> BoundQuery:
    return BoundQuery("members_in_gym_now", f"""
        SELECT gym, mac_address, user_id, login
        FROM {{gold.gym_summary}}
        WHERE logout IS NULL
        ORDER BY gym, login DESC, mac_address
        LIMIT {int(limit)}
    """, ordered=True)  # fmt: skip


@_registered
def gym_minutes(f: GymFilters, limit: int = 2000) -> BoundQuery:
    where, params = gym_where(f)
    return BoundQuery("gym_minutes", f"""
        SELECT gym, mac_address, login, minutes_in_gym, minutes_exercising, num_workouts
        FROM {{gold.gym_summary}}
        {where} AND logout IS NOT NULL
        ORDER BY login DESC, mac_address, gym
        LIMIT {int(limit)}
    """, params, ordered=True)  # fmt: skip


@_registered
def minutes_density(f: GymFilters, bin_minutes: int = 10) -> BoundQuery:
    """Finished visits counted per (minutes in gym, minutes exercising) cell of `bin_minutes`: every visit of the
    range in a few hundred cells, where a scatter of visits draws one mark per visit."""
    where, params = gym_where(f)
    params["bin"] = int(bin_minutes)
    return BoundQuery("minutes_density", f"""
        SELECT CAST(floor(minutes_in_gym / :bin) AS BIGINT) * :bin AS in_gym_bin,
               CAST(floor(minutes_exercising / :bin) AS BIGINT) * :bin AS exercising_bin, count(*) AS visits
        FROM {{gold.gym_summary}}
        {where} AND logout IS NOT NULL AND minutes_in_gym IS NOT NULL AND minutes_exercising IS NOT NULL
        GROUP BY CAST(floor(minutes_in_gym / :bin) AS BIGINT), CAST(floor(minutes_exercising / :bin) AS BIGINT)
        ORDER BY in_gym_bin, exercising_bin
    """, params, ordered=True)  # fmt: skip


# --- Operations page ----------------------------------------------------------------------------------------------


@_registered
def pipeline_runs(limit: int = 50) -> BoundQuery:
    return BoundQuery("pipeline_runs", f"""
        SELECT run_id, stage, mode, started_at, finished_at, status, rows_in, rows_out, error,
               unix_seconds(finished_at) - unix_seconds(started_at) AS seconds
        FROM {{ops.pipeline_runs}}
        ORDER BY started_at DESC, run_id, stage
        LIMIT {int(limit)}
    """, ordered=True)  # fmt: skip


@_registered
def runs_since(since: datetime) -> BoundQuery:
    return BoundQuery("runs_since", """
        SELECT stage, status, finished_at FROM {ops.pipeline_runs}
        WHERE started_at >= :since
        ORDER BY started_at, stage
    """, {"since": since}, ordered=True)  # fmt: skip


@_registered
def quarantine_counts() -> BoundQuery:
    return BoundQuery("quarantine_counts", """
        SELECT source, reason, count(*) AS records, max(detected_at) AS last_seen
        FROM {ops.quarantine}
        GROUP BY source, reason
        ORDER BY records DESC, source, reason
    """, ordered=True)  # fmt: skip


@_registered
def bronze_offsets() -> BoundQuery:
    """Highest offset read per topic and partition (`offset` is a keyword in DuckDB: always qualify it)."""
    return BoundQuery("bronze_offsets", """
        SELECT k.topic AS topic, k.partition AS partition, max(k.offset) AS max_offset, count(*) AS records
        FROM {bronze.kafka_multiplex_bz} k
        GROUP BY k.topic, k.partition
        ORDER BY topic, partition
    """, ordered=True)  # fmt: skip
