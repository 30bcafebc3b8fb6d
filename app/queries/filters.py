"""The pages' filters and the WHERE clauses they make, every value a bound parameter."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any


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
