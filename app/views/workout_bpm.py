"""Workout BPM: how hard members train, filtered by date, gym and member profile, down to one session."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import streamlit as st

from app import charts, plotly_js, ui
from app import queries as q
from app.data import fetch
from app.engines import DataUnavailable
from app.gender import groups_present, raw_values_in

BIN_WIDTH = 5
PAGE_SIZE = 100  # sessions per page of the table: the browser draws a page, never the whole filtered set


def _filters(bounds: pd.Series, options: pd.DataFrame) -> q.WorkoutFilters:
    first, last = bounds["first_day"], bounds["last_day"]
    first = first.date() if hasattr(first, "date") else first
    last = last.date() if hasattr(last, "date") else last
    default_start = max(first, last - timedelta(days=29))

    def values(dimension: str) -> list[str]:
        return sorted(v for v in options.loc[options["dimension"] == dimension, "value"] if v is not None)

    raw_genders = [None if pd.isna(v) else v for v in options.loc[options["dimension"] == "gender", "value"]]

    with st.sidebar:
        st.subheader("Filters")
        picked = st.date_input("Date range", value=(default_start, last), min_value=first, max_value=last,
                               key="wb_dates")  # fmt: skip
        gyms = st.multiselect("Gym", sorted(values("gym"), key=int), key="wb_gym", placeholder="all gyms")
        ages = st.multiselect("Age bin", values("age"), key="wb_age", placeholder="all ages")
        genders = st.multiselect(
            "Gender",
            groups_present(raw_genders),
            key="wb_gender",
            placeholder="all genders",
            help="Groups of the free text members entered, e.g. 'F', 'Woman' and 'female'.",
        )
        states = st.multiselect("State", values("state"), key="wb_state", placeholder="all states")
        cities = st.multiselect("City", values("city"), key="wb_city", placeholder="all cities")
    start, end = _date_range(picked, default_start, last)
    return q.WorkoutFilters(start, end, tuple(int(g) for g in gyms), tuple(ages), raw_values_in(genders, raw_genders),
                            tuple(states), tuple(cities))  # fmt: skip


def _date_range(picked: object, default_start: date, last: date) -> tuple[date, date]:
    """A half-picked range (one date chosen so far) means that single day."""
    if isinstance(picked, tuple | list):
        if len(picked) == 2:
            return picked[0], picked[1]
        if len(picked) == 1:
            return picked[0], picked[0]
        return default_start, last
    return picked, picked  # type: ignore[return-value]


def _kpis(f: q.WorkoutFilters) -> int:
    k = fetch(q.workout_kpis(f)).iloc[0]
    cols = st.columns(5)
    sessions = int(k["sessions"])
    cols[0].metric("Sessions", f"{sessions:,}")
    cols[1].metric("Members", f"{int(k['members']):,}")
    cols[2].metric("Average BPM", "–" if pd.isna(k["avg_bpm"]) else f"{k['avg_bpm']:.1f}")
    cols[3].metric("Maximum BPM", "–" if pd.isna(k["max_bpm"]) else f"{k['max_bpm']:.0f}")
    cols[4].metric("Average duration", "–" if pd.isna(k["avg_duration_min"]) else f"{k['avg_duration_min']:.0f} min")
    return sessions


def _sessions(f: q.WorkoutFilters, total: int) -> None:
    st.subheader("Sessions")
    pages = max(1, -(-total // PAGE_SIZE))
    c1, c2, c3 = st.columns([3, 1, 1])
    sort_by = c1.selectbox("Sort by", q.SESSION_SORT_COLUMNS, key="wb_sort")
    descending = c2.toggle("Descending", value=True, key="wb_desc")
    if st.session_state.get("wb_page", 1) > pages:  # the filters shrank the result under the page shown
        st.session_state["wb_page"] = pages
    page = int(c3.number_input("Page", min_value=1, max_value=pages, value=1, key="wb_page"))
    table = fetch(q.session_table(f, sort_by, descending, PAGE_SIZE, (page - 1) * PAGE_SIZE))
    first = (page - 1) * PAGE_SIZE + 1
    st.caption(f"Sessions {first:,}–{first + len(table) - 1:,} of {total:,} by {sort_by.replace('_', ' ')} "
               f"(page {page:,} of {pages:,}). Select a row to see its readings.")  # fmt: skip
    event = st.dataframe(
        table,
        hide_index=True,
        height=280,
        key="wb_sessions",
        on_select="rerun",
        selection_mode="single-row",
        column_config={
            "avg_bpm": st.column_config.NumberColumn("avg_bpm", format="%.1f"),
            "duration_min": st.column_config.NumberColumn("minutes", format="%.0f"),
        },
    )
    rows = list(getattr(getattr(event, "selection", None), "rows", []) or [])
    labels = [f"user {r.user_id} · workout {r.workout_id} · session {r.session_id} · {r.start_time:%Y-%m-%d %H:%M}"
              for r in table.itertuples()]  # fmt: skip
    if not labels:
        return
    choice = st.selectbox("Inspect session", range(len(labels)), index=rows[0] if rows else 0,
                          format_func=labels.__getitem__)  # fmt: skip
    _drill_down(table.iloc[choice], labels[choice])


def _drill_down(row: pd.Series, label: str) -> None:
    c1, c2 = st.columns([1, 3])
    with c1:
        st.metric("Average BPM", f"{row['avg_bpm']:.1f}")
        st.metric("Min / max BPM", f"{row['min_bpm']:.0f} / {row['max_bpm']:.0f}")
        st.metric("Readings", f"{int(row['num_recordings']):,}")
    with c2:
        try:
            readings = fetch(q.session_readings(row["user_id"], row["workout_id"], row["session_id"]))
        except DataUnavailable as exc:
            st.info(f"Readings unavailable: {ui.error_text(exc)}")
            return
        if readings.empty:
            st.info("No readings for this session in silver.workout_bpm.")
        else:
            plotly_js.chart(charts.session_readings(readings, label), key="wb_readings")


def render() -> None:
    st.title("Workout BPM")
    refresh = ui.refresh_controls()
    try:
        bounds = fetch(q.workout_date_bounds()).iloc[0]
        options = fetch(q.workout_filter_options(), slow_changing=True)
    except DataUnavailable as exc:
        ui.freshness()
        ui.unavailable(exc)
        return
    if int(bounds["sessions"]) == 0:
        ui.freshness()
        ui.no_data("completed workouts in gold.workout_bpm_summary")
        return
    f = _filters(bounds, options)

    @ui.live(refresh)
    def body() -> None:
        ui.freshness()
        try:
            sessions = _kpis(f)
            if not sessions:
                st.info("No sessions match these filters.")
                return
            left, right = st.columns(2)
            with left:
                plotly_js.chart(charts.bpm_by_age_gender(fetch(q.bpm_by_age_gender(f))), key="wb_age_gender")
            with right:
                plotly_js.chart(charts.avg_bpm_distribution(fetch(q.avg_bpm_distribution(f, BIN_WIDTH)), BIN_WIDTH),
                                key="wb_distribution")  # fmt: skip
            plotly_js.chart(charts.daily_trend(fetch(q.daily_trend(f))), key="wb_trend")
            _sessions(f, sessions)
        except DataUnavailable as exc:
            ui.unavailable(exc)

    body()


render()
