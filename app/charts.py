"""Pure chart builders: a query result in, a plotly figure out. No Streamlit, no data access.

Figures are built from graph_objects traces with an explicit small layout: plotly.express and the default template
cost a page a tenth of a second or more each, on every run, for nothing the dashboard shows.

Every figure uses only the trace types of plotly.js's basic bundle (`app.plotly_js.TRACE_TYPES`: bars, lines, pies),
the smallest the browser has to load and evaluate before any chart of a page draws. Heat maps (`_heat_map`) are drawn
as plotly's heatmap trace draws them, as an image of the cells, but made here.
"""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import get_colorscale, unlabel_rgb

from app.gender import GENDER_GROUPS

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# Streamlit's theme styles the chart in the browser; "none" spares building and sending plotly's default template.
_LAYOUT = {"template": "none", "margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "height": 320,
           "legend": {"title": {"text": ""}}}  # fmt: skip


def _figure(traces: Sequence[go.BaseTraceType] | go.BaseTraceType, title: str, **layout: Any) -> go.Figure:
    return go.Figure(traces, layout={**_LAYOUT, "title": {"text": title, "x": 0, "font": {"size": 15}}, **layout})


def _gym_label(g: object) -> str:
    return "unknown" if pd.isna(g) else f"gym {int(g)}"


def _axis(title: str, **more: Any) -> Mapping[str, Any]:
    return {"title": {"text": title}, **more}


DAY_MS = 86_400_000
MAX_DAY_TICKS = 12


def _day_axis(days: Sequence[object]) -> Mapping[str, Any]:
    """A date axis ticking whole days, every n-th day so that there are at most MAX_DAY_TICKS: plotly's own ticks put
    hours between the days of a short range."""
    if not len(days):
        return {"type": "date"}
    step = -(-len(set(days)) // MAX_DAY_TICKS)
    return {"type": "date", "tickformat": "%b %d", "dtick": step * DAY_MS, "tick0": pd.Timestamp(min(days)).isoformat()}


def bpm_by_age_gender(df: pd.DataFrame) -> go.Figure:
    """Average session BPM per age bin, one bar per gender group (female, male, non-binary, other, not stated)."""
    order = [g for g in GENDER_GROUPS if g in set(df["gender"])] + sorted(set(df["gender"]) - set(GENDER_GROUPS))
    traces = []
    for gender in order:
        part = df[df["gender"] == gender]
        traces.append(go.Bar(x=part["age"], y=part["avg_bpm"], name=gender, customdata=part[["sessions", "max_bpm"]],
                             hovertemplate=f"{gender}, %{{x}}: %{{y:.1f}} BPM average, %{{customdata[1]:.0f}} max"
                                           "<br>%{customdata[0]:,} sessions<extra></extra>"))  # fmt: skip
    ages = sorted(set(df["age"]))
    return _figure(traces, "Average BPM by age bin and gender", barmode="group",
                   xaxis=_axis("age bin", type="category", categoryorder="array", categoryarray=ages),
                   yaxis=_axis("average BPM"))  # fmt: skip


def avg_bpm_distribution(df: pd.DataFrame, bin_width: int) -> go.Figure:
    """Histogram of sessions' average BPM from pre-binned counts."""
    bar = go.Bar(x=df["bpm_bin"] + bin_width / 2, y=df["sessions"], width=bin_width * 0.95,
                 hovertemplate="%{customdata}: %{y:,} sessions<extra></extra>",
                 customdata=[f"{int(b)}–{int(b) + bin_width} BPM" for b in df["bpm_bin"]])  # fmt: skip
    return _figure(bar, "Distribution of session average BPM", xaxis=_axis("session average BPM"),
                   yaxis=_axis("sessions"))  # fmt: skip


def daily_trend(df: pd.DataFrame) -> go.Figure:
    """Sessions per day (bars) with the day's average BPM (line, right axis)."""
    traces = [go.Bar(x=df["day"], y=df["sessions"], name="sessions", marker_color="#9ecae1"),
              go.Scatter(x=df["day"], y=df["avg_bpm"], name="average BPM", yaxis="y2", mode="lines+markers",
                         line={"color": "#e6550d"})]  # fmt: skip
    return _figure(traces, "Daily trend", xaxis=_day_axis(list(df["day"])), yaxis=_axis("sessions"),
                   yaxis2=_axis("average BPM", overlaying="y", side="right"),
                   legend={"orientation": "h", "y": 1.12, "x": 1, "xanchor": "right"})  # fmt: skip


def session_readings(df: pd.DataFrame, title: str) -> go.Figure:
    line = go.Scatter(x=df["time"], y=df["heartrate"], mode="lines+markers" if len(df) < 60 else "lines",
                      name="BPM", hovertemplate="%{x}: %{y} BPM<extra></extra>")  # fmt: skip
    return _figure(line, title, yaxis=_axis("BPM"))


HEAT_SCALE = get_colorscale("Blues")  # light to dark, the scale every heat map of the dashboard uses
MAX_IMAGE_SIDE = 1024  # pixels: a heat map's image is at most this wide or high, whatever the number of cells


def _rgba(z: np.ndarray, low: float, high: float) -> np.ndarray:
    """Colour of every cell on HEAT_SCALE from `low` to `high` (the data's range, as a heatmap trace colours it); NaN
    is transparent."""
    stops = np.array([s for s, _ in HEAT_SCALE])
    rgb = np.array([unlabel_rgb(c) for _, c in HEAT_SCALE], dtype=float)
    finite = np.isfinite(z)
    t = np.where(finite, (np.nan_to_num(z, nan=low) - low) / (high - low) if high > low else 0.0, 0.0)
    out = np.zeros((*z.shape, 4), dtype=np.uint8)
    for channel in range(3):
        out[..., channel] = np.rint(np.interp(t, stops, rgb[:, channel]))
    out[..., 3] = np.where(finite, 255, 0)
    return out


def _png(rgba: np.ndarray) -> bytes:
    """An 8-bit RGBA PNG of the array (rows top to bottom)."""
    height, width, _ = rgba.shape
    raw = b"".join(b"\x00" + row.tobytes() for row in rgba)  # filter type 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _heat_map(
    z: np.ndarray,
    x: Sequence[float],
    y: Sequence[float],
    *,
    dx: float,
    dy: float,
    scale: str,
    hover: str,
    labels: Sequence[str] | None = None,
    dates: bool = False,
    rows_down: bool = False,
) -> dict[str, Any]:
    """A heat map over a regular grid: z[i, j] is the cell centred on (x[j], y[i]), dx by dy (x in epoch ms when
    `dates`); NaN cells stay blank. Drawn the way plotly's heatmap trace draws one, as an image of the cells, here made
    on the server, so that the browser needs no more than plotly.js's basic bundle: the image under the axes, an
    invisible line through the cell centres for the hover, and a colour bar. `hover` may use %{x}, %{customdata} (the
    value) and %{text} (the row's label from `labels`, else its y). Rows run up the y axis, or down it when
    `rows_down` (an axis with autorange "reversed"). Returns the figure's traces and layout."""
    z = np.asarray(z, dtype=float)
    rows, cols = z.shape
    i, j = np.nonzero(np.isfinite(z))  # the cells drawn
    bounds = [float(z[i, j].min()), float(z[i, j].max())] if len(i) else [0.0, 0.0]  # the image's and colour bar's
    per_cell = max(1, min(16, MAX_IMAGE_SIDE // max(rows, cols, 1)))  # sharp edges where the browser smooths
    top_first = z if rows_down else z[::-1]
    pixels = np.repeat(np.repeat(_rgba(top_first, *bounds), per_cell, axis=0), per_cell, axis=1)
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    left, right = xs[0] - dx / 2, xs[-1] + dx / 2
    low, high = ys[0] - dy / 2, ys[-1] + dy / 2
    edges = [float(left), float(right)]
    x_range = list(pd.to_datetime(edges, unit="ms").strftime("%Y-%m-%dT%H:%M:%S")) if dates else edges
    image = {"source": "data:image/png;base64," + base64.b64encode(_png(pixels)).decode(), "xref": "x", "yref": "y",
             "x": x_range[0], "y": float(low if rows_down else high), "sizex": float(right - left),
             "sizey": float(high - low), "xanchor": "left", "yanchor": "top", "sizing": "stretch",
             "layer": "below"}  # fmt: skip
    names = np.asarray(labels if labels is not None else ys, dtype=object)
    # plotly.js reads epoch ms on a date axis; 4-byte numbers keep a big grid's JSON small (typed arrays)
    centres = go.Scatter(x=xs[j], y=ys[i].astype(np.float32), customdata=z[i, j].astype(np.float32), text=names[i],
                         mode="lines", line={"width": 0, "color": "rgba(0,0,0,0)"},
                         hovertemplate=hover + "<extra></extra>", showlegend=False)  # fmt: skip
    scale_marker = {"color": bounds, "colorscale": HEAT_SCALE, "showscale": True, "opacity": 0,
                    "colorbar": {"title": {"text": scale}}}  # fmt: skip
    colour_bar = go.Scatter(x=xs[:1].repeat(2), y=ys[:1].repeat(2), mode="markers", hoverinfo="skip",
                            showlegend=False, marker=scale_marker)  # fmt: skip
    y_range = [float(high), float(low)] if rows_down else [float(low), float(high)]
    return {"traces": [centres, colour_bar], "image": image, "x_range": x_range, "y_range": y_range}


def _rows_axis(labels: Sequence[str], y_range: list[float]) -> Mapping[str, Any]:
    """A y axis of named rows 0, 1, ... from the top, for a `_heat_map` drawn at those positions."""
    return {"tickvals": list(range(len(labels))), "ticktext": list(labels), "range": y_range, "showgrid": False,
            "zeroline": False}  # fmt: skip


def visits_per_day(df: pd.DataFrame) -> go.Figure:
    """Visits per day and gym as one heat map: a dozen gyms over a month stay readable. A day without visits is 0."""
    # days as timestamps, whether the engine returned dates or timestamps, so that the missing ones can be added
    by_day = df.assign(gym=df["gym"].map(_gym_label), day=pd.to_datetime(df["day"]).dt.normalize())
    table = by_day.pivot_table(index="gym", columns="day", values="visits", aggfunc="sum", fill_value=0)
    table = table.reindex(sorted(table.index, key=lambda g: (g == "unknown", len(g), g)))
    if table.empty:
        return _figure([], "Visits per day and gym")
    days = pd.date_range(table.columns.min(), table.columns.max(), freq="D")
    table = table.reindex(columns=days, fill_value=0)
    gyms = list(table.index)
    heat = _heat_map(table.to_numpy(dtype=float), [d.value // 1_000_000 for d in days], list(range(len(gyms))),
                     dx=DAY_MS, dy=1, scale="visits", labels=gyms, dates=True, rows_down=True,
                     hover="%{text}, %{x|%a %Y-%m-%d}: %{customdata:,} visits")  # fmt: skip
    return _figure(heat["traces"], "Visits per day and gym", images=[heat["image"]],
                   xaxis={**_day_axis(list(table.columns)), "range": heat["x_range"], "showgrid": False},
                   yaxis=_rows_axis(gyms, heat["y_range"]))  # fmt: skip


def visits_per_gym(df: pd.DataFrame) -> go.Figure:
    bar = go.Bar(x=df["gym"].map(_gym_label), y=df["visits"], customdata=df[["members", "avg_minutes_in_gym"]],
                 hovertemplate="%{x}: %{y:,} visits, %{customdata[0]:,} members, "
                               "%{customdata[1]:.0f} min average stay<extra></extra>")  # fmt: skip
    return _figure(bar, "Visits per gym", yaxis=_axis("visits"), xaxis={"type": "category"})


def occupancy_matrix(df: pd.DataFrame) -> pd.DataFrame:
    """Average visits present per (weekday, hour), over every day of the range (days without visits count as 0)."""
    index = pd.Index(WEEKDAYS, name="weekday")
    if df.empty:
        return pd.DataFrame(0.0, index=index, columns=range(24))
    days = pd.to_datetime(df["day"])
    all_days = pd.date_range(days.min(), days.max(), freq="D")
    days_per_weekday = pd.Series(all_days.day_of_week).value_counts().reindex(range(7), fill_value=0)
    totals = df.assign(weekday=days.dt.day_of_week).pivot_table(index="weekday", columns="hour", values="present",
                                                              aggfunc="sum", fill_value=0)  # fmt: skip
    totals = totals.reindex(index=range(7), columns=range(24), fill_value=0)
    avg = totals.astype(float).div(days_per_weekday.astype(float).replace(0.0, float("nan")), axis=0).fillna(0.0)
    avg.index = index
    return avg


def occupancy_heatmap(df: pd.DataFrame) -> go.Figure:
    matrix = occupancy_matrix(df)
    heat = _heat_map(matrix.to_numpy(dtype=float), list(matrix.columns), list(range(len(matrix.index))), dx=1, dy=1,
                     scale="avg present", labels=list(matrix.index), rows_down=True,
                     hover="%{text} %{x}:00: %{customdata:.1f} present on average")  # fmt: skip
    return _figure(heat["traces"], "Occupancy: average members present by hour and weekday", images=[heat["image"]],
                   xaxis=_axis("hour of day", dtick=2, range=heat["x_range"], showgrid=False, zeroline=False),
                   yaxis=_rows_axis(list(matrix.index), heat["y_range"]))  # fmt: skip


def minutes_density(df: pd.DataFrame, bin_minutes: int) -> go.Figure:
    """How much of a visit is exercise: finished visits per (minutes in gym, minutes exercising) cell."""
    top = float(max(df["in_gym_bin"].max(), df["exercising_bin"].max(), 0) + bin_minutes) if len(df) else bin_minutes
    diagonal = go.Scatter(x=[0, top], y=[0, top], mode="lines", line={"dash": "dot", "color": "grey"},
                          name="all exercise", hoverinfo="skip")  # fmt: skip
    traces: list[go.Scatter] = []
    images = []
    if len(df):
        xs = np.arange(df["in_gym_bin"].min(), df["in_gym_bin"].max() + bin_minutes, bin_minutes)
        ys = np.arange(df["exercising_bin"].min(), df["exercising_bin"].max() + bin_minutes, bin_minutes)
        table = df.pivot_table(index="exercising_bin", columns="in_gym_bin", values="visits", aggfunc="sum")
        z = table.reindex(index=ys, columns=xs).to_numpy(dtype=float)  # NaN: no visit in the cell, left blank
        half = bin_minutes / 2
        hover = "%{customdata:,} visits: %{x:.0f} min in gym, %{y:.0f} min exercising"
        heat = _heat_map(z, list(xs + half), list(ys + half), dx=bin_minutes, dy=bin_minutes, scale="visits",
                         hover=hover)  # fmt: skip
        traces, images = heat["traces"], [heat["image"]]
    return _figure([*traces, diagonal], "Minutes in gym against minutes exercising (finished visits)", images=images,
                   xaxis=_axis("minutes in gym", range=[0, top], showgrid=False),
                   yaxis=_axis("minutes exercising", range=[0, top], showgrid=False), showlegend=False)  # fmt: skip


def exercising_share(df: pd.DataFrame) -> go.Figure:
    share = pd.to_numeric(df["exercising_share"], errors="coerce") * 100
    bar = go.Bar(x=df["gym"].map(_gym_label), y=share, hovertemplate="%{x}: %{y:.0f}%<extra></extra>")
    return _figure(bar, "Exercising share per gym", xaxis={"type": "category"},
                   yaxis=_axis("% of time in gym spent exercising", range=[0, 100]))  # fmt: skip


def lag_bars(df: pd.DataFrame) -> go.Figure:
    bar = go.Bar(x=df["topic"] + "/" + df["partition"].astype(str), y=df["lag"])
    return _figure(bar, "Kafka lag of the pipeline", xaxis=_axis("topic/partition", type="category"),
                   yaxis=_axis("records behind"))  # fmt: skip
