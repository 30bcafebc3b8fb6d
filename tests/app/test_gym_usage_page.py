"""The Gym usage page: visits per day and gym, occupancy, members inside now, minutes in gym against exercising."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from deltalake import DeltaTable

from tests.app.conftest import charts, frame_with, metric, open_page, texts

PAGE = "views/gym_usage.py"


def _visits(lakehouse: Path) -> pd.DataFrame:
    return DeltaTable(str(lakehouse / "gold" / "gym_summary")).to_pandas()


def test_page_shows_visits_charts_and_members_inside(app_env: Path) -> None:
    at = open_page(PAGE)
    visits = _visits(app_env)
    assert at.title[0].value == "Gym usage"
    assert metric(at, "Visits") == f"{len(visits):,}"
    assert len(charts(at)) == 5
    inside = visits[visits["logout"].isna()]
    assert f"In the gym now: {len(inside)}" in texts(at)
    assert len(frame_with(at, "mac_address", "minutes_inside")) == len(inside)
    assert "Gold last updated" in texts(at)


def test_gym_filter_counts_only_that_gym(app_env: Path) -> None:
    at = open_page(PAGE)
    at.multiselect(key="gu_gym").set_value([3]).run()
    assert not at.exception
    visits = _visits(app_env)
    assert metric(at, "Visits") == f"{(visits['gym'] == 3).sum():,}"
    assert metric(at, "Gyms") == "1"


def test_exercising_share_is_minutes_exercising_over_minutes_in_gym(app_env: Path) -> None:
    at = open_page(PAGE)
    closed = _visits(app_env).dropna(subset=["logout"])
    share = closed["minutes_exercising"].sum() / closed["minutes_in_gym"].sum()
    assert metric(at, "Exercising share") == f"{share:.0%}"


def test_date_range_filter(app_env: Path) -> None:
    at = open_page(PAGE)
    visits = _visits(app_env)
    day = sorted(visits["date"].unique())[3]
    at.date_input(key="gu_dates").set_value((day, day)).run()
    assert not at.exception
    assert metric(at, "Visits") == f"{(visits['date'] == day).sum():,}"


def test_refresh_controls_on_every_page(app_env: Path) -> None:
    """ "Refresh now" forgets cached results and redraws; the auto-refresh period can be changed or turned off."""
    for page in (None, PAGE, "views/operations.py"):
        at = open_page(page)
        at.selectbox(key="auto_refresh").set_value("1 min").run()
        at.button(key="refresh_now").click().run()
        at.selectbox(key="auto_refresh").set_value("off").run()
        assert not at.exception
        assert "Gold last updated" in texts(at)
