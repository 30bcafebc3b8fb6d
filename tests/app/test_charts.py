"""Chart builders aggregate nothing the SQL did not: what they draw adds up to the query result."""

from __future__ import annotations

import base64
import io
from datetime import date

import numpy as np
import pandas as pd
from PIL import Image
from plotly.colors import unlabel_rgb

from app import charts


def _image(fig) -> np.ndarray:
    """The heat map's image, decoded: rows top to bottom, RGBA."""
    (image,) = fig.layout.images
    assert image.source.startswith("data:image/png;base64,") and image.layer == "below"
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(image.source.split(",", 1)[1]))))


def _cell(pixels: np.ndarray, shape: tuple[int, int], row: int, col: int) -> tuple[int, ...]:
    """The colour of cell (row, col), from the top left, of an image of `shape` cells."""
    per_row, per_col = pixels.shape[0] // shape[0], pixels.shape[1] // shape[1]
    block = pixels[row * per_row : (row + 1) * per_row, col * per_col : (col + 1) * per_col]
    assert (block == block[0, 0]).all()  # a cell is one colour
    return tuple(int(v) for v in block[0, 0])


def _colour(fraction: float) -> tuple[int, ...]:
    """HEAT_SCALE's colour at `fraction` of the data's range, opaque."""
    stops = [s for s, _ in charts.HEAT_SCALE]
    rgb = np.array([unlabel_rgb(c) for _, c in charts.HEAT_SCALE])
    return (*(int(np.rint(np.interp(fraction, stops, rgb[:, k]))) for k in range(3)), 255)


def test_visits_per_day_is_one_heat_map_row_per_gym_and_a_column_per_day() -> None:
    df = pd.DataFrame({"day": [date(2026, 11, 1), date(2026, 11, 1), date(2026, 11, 3)], "gym": [2, None, 10],
                       "visits": [3, 1, 5]})  # fmt: skip
    fig = charts.visits_per_day(df)
    hover, colour_bar = fig.data
    assert list(fig.layout.yaxis.ticktext) == ["gym 2", "gym 10", "unknown"]
    # Nov 2 had no visit: its column is there, at 0; every (gym, day) cell can be hovered, with its gym and value
    assert len(hover.x) == 9 and sum(hover.customdata) == 9
    nov_1 = pd.Timestamp("2026-11-01").value // 1_000_000  # epoch ms, which plotly.js reads on a date axis
    cells = zip(hover.x, hover.customdata, hover.text, strict=True)
    assert {(v, gym) for x, v, gym in cells if x == nov_1} == {(3, "gym 2"), (0, "gym 10"), (1, "unknown")}
    pixels = _image(fig)
    assert _cell(pixels, (3, 3), 0, 0) == _colour(3 / 5)  # gym 2 on Nov 1: the top left
    assert _cell(pixels, (3, 3), 1, 2) == _colour(1.0)  # gym 10 on Nov 3, the most visits: the darkest
    assert _cell(pixels, (3, 3), 2, 1) == _colour(0.0)  # nobody on Nov 2
    assert list(colour_bar.marker.color) == [0, 5] and colour_bar.marker.showscale
    # the image covers the cells exactly, from half a day before the first to half a day after the last
    assert list(fig.layout.xaxis.range) == ["2026-10-31T12:00:00", "2026-11-03T12:00:00"]
    assert fig.layout.images[0].sizex == 3 * charts.DAY_MS and fig.layout.images[0].sizey == 3


def test_visits_per_day_takes_days_as_dates_or_timestamps() -> None:
    """The local engine returns dates; another engine may return timestamps: the same heat map either way."""
    days = [date(2026, 11, 1), date(2026, 11, 3)]
    as_dates = charts.visits_per_day(pd.DataFrame({"day": days, "gym": [1, 1], "visits": [3, 5]}))
    as_times = charts.visits_per_day(pd.DataFrame({"day": pd.to_datetime(days), "gym": [1, 1], "visits": [3, 5]}))
    assert list(as_dates.data[0].customdata) == list(as_times.data[0].customdata) == [3, 0, 5]
    assert as_dates.layout.images[0].source == as_times.layout.images[0].source


def test_occupancy_is_a_cell_per_weekday_and_hour() -> None:
    df = pd.DataFrame({"day": [date(2026, 11, 2), date(2026, 11, 3)], "hour": [7, 18], "present": [4, 2]})
    fig = charts.occupancy_heatmap(df)
    hover, _ = fig.data
    assert len(hover.x) == 7 * 24 and sum(hover.customdata) == 6
    assert {(x, day) for x, day, v in zip(hover.x, hover.text, hover.customdata, strict=True) if v} == {
        (7, "Mon"), (18, "Tue")}  # fmt: skip
    assert list(fig.layout.yaxis.ticktext) == list(charts.WEEKDAYS)
    pixels = _image(fig)
    assert _cell(pixels, (7, 24), 0, 7) == _colour(1.0)  # Monday 7:00, on the top row
    assert _cell(pixels, (7, 24), 1, 18) == _colour(0.5)  # Tuesday 18:00
    assert _cell(pixels, (7, 24), 6, 0) == _colour(0.0)


def test_minutes_density_draws_every_visit_once_and_leaves_empty_cells_blank() -> None:
    df = pd.DataFrame({"in_gym_bin": [30, 30, 60], "exercising_bin": [0, 20, 40], "visits": [4, 2, 7]})
    fig = charts.minutes_density(df, 10)
    hover, _, diagonal = fig.data
    assert sorted(zip(hover.x, hover.y, hover.customdata, strict=True)) == [
        (35, 5, 4), (35, 25, 2), (65, 45, 7)]  # fmt: skip  # cell centres, every visit once
    assert diagonal.mode == "lines" and list(diagonal.x) == [0, 70]
    pixels = _image(fig)  # 4 columns (30..60 min in gym) by 5 rows (0..40 min exercising), the highest on top
    assert _cell(pixels, (5, 4), 4, 0) == _colour(2 / 5)  # 30 min in gym, 0 exercising: 4 visits of 2..7
    assert _cell(pixels, (5, 4), 0, 3) == _colour(1.0)
    assert _cell(pixels, (5, 4), 2, 1)[3] == 0  # no visit there: transparent
    assert fig.layout.images[0].y == 50 and fig.layout.images[0].x == 30


def test_heat_maps_with_nothing_to_draw_draw_nothing() -> None:
    empty = pd.DataFrame({"in_gym_bin": [], "exercising_bin": [], "visits": []})
    assert [t.name for t in charts.minutes_density(empty, 10).data] == ["all exercise"]
    assert not charts.visits_per_day(pd.DataFrame({"day": [], "gym": [], "visits": []})).data
    pixels = _image(charts.occupancy_heatmap(pd.DataFrame({"day": [], "hour": [], "present": []})))
    assert _cell(pixels, (7, 24), 3, 12) == _colour(0.0)  # no visit at all: every cell at the scale's low end


def test_day_axes_tick_whole_days_and_at_most_twelve_of_them() -> None:
    two = pd.DataFrame({"day": [date(2026, 11, 25), date(2026, 11, 26)], "gym": [1, 1], "visits": [3, 4]})
    axis = charts.visits_per_day(two).layout.xaxis
    assert (axis.dtick, axis.tickformat, axis.tick0) == (charts.DAY_MS, "%b %d", "2026-11-25T00:00:00")
    month = pd.DataFrame({"day": pd.date_range("2026-10-01", periods=30).date, "sessions": 1, "avg_bpm": 120.0})
    assert charts.daily_trend(month).layout.xaxis.dtick == 3 * charts.DAY_MS  # 30 days: every 3rd, 10 ticks
