"""Every SQL text the dashboard runs, in the common subset of Spark SQL (Databricks) and DuckDB: one module per page.

Table names are written `{layer.table}` and resolved by the engine from an allow-list; values are always bound
parameters written `:name` (the engine converts the marker style where it has to). Builders return a `BoundQuery`
and are registered in `REGISTRY`, so a test can run every one of them on both engines.
"""

from app.queries.core import (
    ALLOWED_TABLES,
    GOLD_TABLES,
    REGISTRY,
    BoundQuery,
    UnknownTableError,
    param_names,
    referenced_tables,
    registered,
    render,
    to_dollar_params,
)
from app.queries.filters import GymFilters, WorkoutFilters, gym_where, workout_where
from app.queries.gym import (
    gym_date_bounds,
    gym_minutes,
    gym_options,
    members_in_gym_now,
    minutes_density,
    occupancy,
    visits_per_day,
    visits_per_gym,
)
from app.queries.operations import bronze_offsets, pipeline_runs, quarantine_counts, runs_since
from app.queries.workout import (
    SESSION_SORT_COLUMNS,
    avg_bpm_distribution,
    bpm_by_age_gender,
    daily_trend,
    session_readings,
    session_table,
    workout_date_bounds,
    workout_filter_options,
    workout_kpis,
)

__all__ = [
    "ALLOWED_TABLES",
    "GOLD_TABLES",
    "REGISTRY",
    "SESSION_SORT_COLUMNS",
    "BoundQuery",
    "GymFilters",
    "UnknownTableError",
    "WorkoutFilters",
    "avg_bpm_distribution",
    "bpm_by_age_gender",
    "bronze_offsets",
    "daily_trend",
    "gym_date_bounds",
    "gym_minutes",
    "gym_options",
    "gym_where",
    "members_in_gym_now",
    "minutes_density",
    "occupancy",
    "param_names",
    "pipeline_runs",
    "quarantine_counts",
    "referenced_tables",
    "registered",
    "render",
    "runs_since",
    "session_readings",
    "session_table",
    "to_dollar_params",
    "visits_per_day",
    "visits_per_gym",
    "workout_date_bounds",
    "workout_filter_options",
    "workout_kpis",
    "workout_where",
]
