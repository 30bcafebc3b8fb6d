"""Gym usage: visits per day and gym, when the gyms are busy, who is inside now, and how much of a visit is exercise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from app import charts, plotly_js, ui
from app import queries as q
from app.data import fetch
from app.engines import DataUnavailable

MINUTES_BIN = 10  # minutes per cell of the minutes-in-gym against minutes-exercising heatmap


def _filters(bounds: pd.Series, gyms: list[int]) -> q.GymFilters:
    first, last = bounds["first_day"], bounds["last_day"]
    default_start = max(first, last - timedelta(days=29))
    with st.sidebar:
        st.subheader("Filters")
        picked = st.date_input("Date range", value=(default_start, last), min_value=first, max_value=last,
                               key="gu_dates")  # fmt: skip
        chosen = st.multiselect("Gym", gyms, key="gu_gym", placeholder="all gyms")
    if isinstance(picked, tuple | list) and len(picked) == 2:
        start, end = picked
    elif isinstance(picked, tuple | list) and len(picked) == 1:
        start = end = picked[0]
    else:
        start, end = default_start, last
    return q.GymFilters(start, end, tuple(int(g) for g in chosen))


def _inside_now() -> None:
    now = fetch(q.members_in_gym_now())
    st.subheader(f"In the gym now: {len(now):,}")
    if now.empty:
        st.caption("Nobody is checked in.")
        return
    since = datetime.now(UTC).replace(tzinfo=None)
    now = now.assign(minutes_inside=((since - pd.to_datetime(now["login"])).dt.total_seconds() // 60).astype("Int64"))
    per_gym = now.groupby("gym", dropna=False).size()
    cols = st.columns(min(len(per_gym), 6) or 1)
    for col, (gym, count) in zip(cols, per_gym.items(), strict=False):
        col.metric("unknown gym" if pd.isna(gym) else f"Gym {int(gym)}", f"{count}")
    st.dataframe(now, hide_index=True, height=180, key="gu_inside")


def render() -> None:
    st.title("Gym usage")
    refresh = ui.refresh_controls()
    try:
        bounds = fetch(q.gym_date_bounds()).iloc[0]
        gyms = [int(g) for g in fetch(q.gym_options(), slow_changing=True)["gym"]]
    except DataUnavailable as exc:
        ui.freshness()
        ui.unavailable(exc)
        return
    if int(bounds["visits"]) == 0:
        ui.freshness()
        ui.no_data("gym visits in gold.gym_summary")
        return
    f = _filters(bounds, gyms)

    @ui.live(refresh)
    def body() -> None:
        ui.freshness()
        try:
            per_day = fetch(q.visits_per_day(f))
            if per_day.empty:
                st.info("No visits match these filters.")
                _inside_now()
                return
            per_gym = fetch(q.visits_per_gym(f))
            cols = st.columns(4)
            cols[0].metric("Visits", f"{int(per_day['visits'].sum()):,}")
            cols[1].metric("Gyms", f"{per_gym['gym'].nunique():,}")
            avg_minutes = pd.to_numeric(per_gym["avg_minutes_in_gym"], errors="coerce").fillna(0.0)
            weights = pd.to_numeric(per_gym["visits"], errors="coerce")
            cols[2].metric("Average stay", f"{(avg_minutes * weights).sum() / max(weights.sum(), 1):.0f} min")
            in_gym = pd.to_numeric(per_gym["closed_minutes_in_gym"], errors="coerce").sum()
            exercising = pd.to_numeric(per_gym["closed_minutes_exercising"], errors="coerce").sum()
            cols[3].metric("Exercising share", f"{exercising / in_gym:.0%}" if in_gym else "–")
            left, right = st.columns([2, 1])
            with left:
                plotly_js.chart(charts.visits_per_day(per_day), key="gu_per_day")
            with right:
                plotly_js.chart(charts.visits_per_gym(per_gym), key="gu_per_gym")
            plotly_js.chart(charts.occupancy_heatmap(fetch(q.occupancy(f))), key="gu_occupancy")
            left, right = st.columns([2, 1])
            density = fetch(q.minutes_density(f, MINUTES_BIN))
            with left:
                plotly_js.chart(charts.minutes_density(density, MINUTES_BIN), key="gu_minutes")
            with right:
                plotly_js.chart(charts.exercising_share(per_gym), key="gu_share")
            _inside_now()
        except DataUnavailable as exc:
            ui.unavailable(exc)

    body()


render()
