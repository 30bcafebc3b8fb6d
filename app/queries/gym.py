"""The Gym usage page's queries, over gold.gym_summary."""

from __future__ import annotations

from app.queries.core import BoundQuery, registered
from app.queries.filters import GymFilters, gym_where


@registered
def gym_date_bounds() -> BoundQuery:
    return BoundQuery("gym_date_bounds", """
        SELECT min(date) AS first_day, max(date) AS last_day, count(*) AS visits
        FROM {gold.gym_summary}
    """)  # fmt: skip


@registered
def gym_options() -> BoundQuery:
    return BoundQuery("gym_options", """
        SELECT gym FROM {gold.gym_summary} WHERE gym IS NOT NULL GROUP BY gym ORDER BY gym
    """, ordered=True)  # fmt: skip


@registered
def visits_per_day(f: GymFilters) -> BoundQuery:
    where, params = gym_where(f)
    return BoundQuery("visits_per_day", f"""
        SELECT date AS day, gym, count(*) AS visits
        FROM {{gold.gym_summary}}
        {where}
        GROUP BY date, gym
        ORDER BY day, gym
    """, params, ordered=True)  # fmt: skip


@registered
def visits_per_gym(f: GymFilters) -> BoundQuery:
    """Per gym; the exercising share counts finished visits only (minutes_in_gym is NULL while inside). Members are
    counted by user_id (a role that sees mac_address masked still counts them), by wristband when unregistered: two
    distinct counts added, as a user id and a MAC address are never equal, so that millions of visits are counted by
    integer instead of by a string built from each visit's user id."""
    where, params = gym_where(f)
    return BoundQuery("visits_per_gym", f"""
        SELECT gym, count(*) AS visits,
               count(DISTINCT user_id) + count(DISTINCT CASE WHEN user_id IS NULL THEN mac_address END) AS members,
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


@registered
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


@registered
def members_in_gym_now(limit: int = 500) -> BoundQuery:
    return BoundQuery("members_in_gym_now", f"""
        SELECT gym, mac_address, user_id, login
        FROM {{gold.gym_summary}}
        WHERE logout IS NULL
        ORDER BY gym, login DESC, mac_address
        LIMIT {int(limit)}
    """, ordered=True)  # fmt: skip


@registered
def gym_minutes(f: GymFilters, limit: int = 2000) -> BoundQuery:
    where, params = gym_where(f)
    return BoundQuery("gym_minutes", f"""
        SELECT gym, mac_address, login, minutes_in_gym, minutes_exercising, num_workouts
        FROM {{gold.gym_summary}}
        {where} AND logout IS NOT NULL
        ORDER BY login DESC, mac_address, gym
        LIMIT {int(limit)}
    """, params, ordered=True)  # fmt: skip


@registered
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
