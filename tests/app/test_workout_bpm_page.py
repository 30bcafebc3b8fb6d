"""The Workout BPM page against the small demo lakehouse: KPIs, charts, filters, sorting and the drill-down."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
from deltalake import DeltaTable

from app.gender import gender_group
from app.views.workout_bpm import PAGE_SIZE
from tests.app.conftest import LAST_DAY, chart_titles, charts, metric, open_page, texts


def _sessions(lakehouse: Path) -> pd.DataFrame:
    return DeltaTable(str(lakehouse / "gold" / "workout_bpm_summary")).to_pandas()


def test_page_shows_kpis_charts_and_freshness(app_env: Path) -> None:
    at = open_page()
    gold = _sessions(app_env)
    assert at.title[0].value == "Workout BPM"
    assert metric(at, "Sessions") == f"{len(gold):,}"
    assert metric(at, "Members") == f"{gold['user_id'].nunique():,}"
    assert metric(at, "Average BPM") == f"{gold['avg_bpm'].mean():.1f}"
    assert metric(at, "Maximum BPM") == f"{gold['max_bpm'].max():.0f}"
    assert len(charts(at)) == 4  # age/gender, distribution, trend, drill-down readings
    assert "Gold last updated" in texts(at)


def test_filters_narrow_every_kpi(app_env: Path) -> None:
    at = open_page()
    at.multiselect(key="wb_gender").set_value(["female"]).run()
    at.multiselect(key="wb_gym").set_value(["2"]).run()
    assert not at.exception
    gold = _sessions(app_env)
    expected = gold[(gold["gender"].map(gender_group) == "female") & (gold["gym"] == 2)]
    assert metric(at, "Sessions") == f"{len(expected):,}"
    assert metric(at, "Members") == f"{expected['user_id'].nunique():,}"


def test_date_range_filter(app_env: Path) -> None:
    at = open_page()
    day = date(LAST_DAY.year, LAST_DAY.month, LAST_DAY.day - 2)
    at.date_input(key="wb_dates").set_value((day, day)).run()
    gold = _sessions(app_env)
    expected = gold[gold["start_time"].dt.date == day]
    assert metric(at, "Sessions") == f"{len(expected):,}"


def test_no_match_says_so(app_env: Path) -> None:
    at = open_page()
    at.multiselect(key="wb_age").set_value(["18-25"]).run()
    at.multiselect(key="wb_state").set_value(["WA"]).run()
    at.multiselect(key="wb_city").set_value(["Austin"]).run()  # Austin is in TX: nothing matches
    assert not at.exception
    assert metric(at, "Sessions") == "0"
    assert "No sessions match these filters." in texts(at)


def test_session_table_sorts_and_drills_down(app_env: Path) -> None:
    at = open_page()
    at.selectbox(key="wb_sort").set_value("max_bpm").run()
    table = at.dataframe(key="wb_sessions").value
    gold = _sessions(app_env)
    assert table["max_bpm"].iloc[0] == gold["max_bpm"].max()
    at.toggle(key="wb_desc").set_value(False).run()
    table = at.dataframe(key="wb_sessions").value
    assert table["max_bpm"].iloc[0] == gold["max_bpm"].min()
    inspect = next(s for s in at.selectbox if s.label == "Inspect session")
    inspect.set_value(3).run()
    assert not at.exception
    row = at.dataframe(key="wb_sessions").value.iloc[3]
    assert f"user {row['user_id']} · workout {row['workout_id']}" in inspect.format_func(3)
    assert any(f"session {row['session_id']}" in title for title in chart_titles(at))


def test_session_table_pages_through_every_session(app_env: Path) -> None:
    at = open_page()
    gold = _sessions(app_env)
    assert len(gold) > PAGE_SIZE  # the demo lakehouse has more than one page
    first = at.dataframe(key="wb_sessions").value
    assert len(first) == PAGE_SIZE
    at.number_input(key="wb_page").set_value(2).run()
    second = at.dataframe(key="wb_sessions").value
    keys = ["user_id", "workout_id", "session_id"]
    seen = set(map(tuple, first[keys].to_numpy())) | set(map(tuple, second[keys].to_numpy()))
    assert len(seen) == len(first) + len(second)  # pages never overlap
    assert second["start_time"].max() <= first["start_time"].min()  # newest first, page after page
    assert f"of {len(gold):,}" in texts(at)
