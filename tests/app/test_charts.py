"""Chart builders aggregate nothing the SQL did not: what they draw adds up to the query result."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from app import charts


def test_visits_per_day_is_one_heatmap_row_per_gym() -> None:
    df = pd.DataFrame({"day": [date(2026, 11, 1), date(2026, 11, 1), date(2026, 11, 2)], "gym": [2, None, 10],
                       "visits": [3, 1, 5]})  # fmt: skip
    fig = charts.visits_per_day(df)
    (heat,) = fig.data
    assert list(heat.y) == ["gym 2", "gym 10", "unknown"]
    assert np.nansum(np.asarray(heat.z, dtype=float)) == 9


def test_minutes_density_draws_every_visit_once() -> None:
    df = pd.DataFrame({"in_gym_bin": [30, 30, 60], "exercising_bin": [0, 20, 40], "visits": [4, 2, 7]})
    heat, diagonal = charts.minutes_density(df, 10).data
    assert np.nansum(np.asarray(heat.z, dtype=float)) == 13
    assert list(heat.x) == [35, 65] and list(heat.y) == [5, 25, 45]  # cell centres
    assert diagonal.mode == "lines"


def test_day_axes_tick_whole_days_and_at_most_twelve_of_them() -> None:
    two = pd.DataFrame({"day": [date(2026, 11, 25), date(2026, 11, 26)], "gym": [1, 1], "visits": [3, 4]})
    axis = charts.visits_per_day(two).layout.xaxis
    assert (axis.dtick, axis.tickformat, axis.tick0) == (charts.DAY_MS, "%b %d", "2026-11-25T00:00:00")
    month = pd.DataFrame({"day": pd.date_range("2026-10-01", periods=30).date, "sessions": 1, "avg_bpm": 120.0})
    assert charts.daily_trend(month).layout.xaxis.dtick == 3 * charts.DAY_MS  # 30 days: every 3rd, 10 ticks
