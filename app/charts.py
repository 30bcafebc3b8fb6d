"""Pure chart builders: a query result in, a plotly figure out. No Streamlit, no data access.

Figures are built from graph_objects traces with an explicit small layout: plotly.express and the default template
cost a page a tenth of a second or more each, on every run, for nothing the dashboard shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

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


def visits_per_day(df: pd.DataFrame) -> go.Figure:
    """Visits per day and gym as one heatmap: a dozen gyms over a month stay readable, and it is one image to draw."""
    table = df.assign(gym=df["gym"].map(_gym_label)).pivot_table(index="gym", columns="day", values="visits",
                                                                 aggfunc="sum", fill_value=0)  # fmt: skip
    table = table.reindex(sorted(table.index, key=lambda g: (g == "unknown", len(g), g)))
    heat = go.Heatmap(z=table.to_numpy(), x=[pd.Timestamp(d) for d in table.columns], y=list(table.index),
                      colorscale="Blues", colorbar={"title": {"text": "visits"}},
                      hovertemplate="%{y}, %{x|%a %Y-%m-%d}: %{z:,} visits<extra></extra>")  # fmt: skip
    return _figure(heat, "Visits per day and gym", xaxis=_day_axis(list(table.columns)),
                   yaxis={"autorange": "reversed", "type": "category"})  # fmt: skip


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
    heat = go.Heatmap(z=matrix.to_numpy(), x=list(matrix.columns), y=list(matrix.index), colorscale="Blues",
                      colorbar={"title": {"text": "avg present"}},
                      hovertemplate="%{y} %{x}:00: %{z:.1f} present on average<extra></extra>")  # fmt: skip
    return _figure(heat, "Occupancy: average members present by hour and weekday",
                   xaxis=_axis("hour of day", dtick=2), yaxis={"autorange": "reversed"})  # fmt: skip


def minutes_density(df: pd.DataFrame, bin_minutes: int) -> go.Figure:
    """How much of a visit is exercise: finished visits per (minutes in gym, minutes exercising) cell."""
    table = df.pivot_table(index="exercising_bin", columns="in_gym_bin", values="visits", aggfunc="sum")
    heat = go.Heatmap(
        z=table.to_numpy(),
        x=[c + bin_minutes / 2 for c in table.columns],
        y=[r + bin_minutes / 2 for r in table.index],
        colorscale="Blues",
        colorbar={"title": {"text": "visits"}},
        hovertemplate="%{z:,} visits: %{x:.0f} min in gym, %{y:.0f} min exercising<extra></extra>",
    )
    top = float(max(max(table.columns, default=0), max(table.index, default=0), 0) + bin_minutes)
    diagonal = go.Scatter(x=[0, top], y=[0, top], mode="lines", line={"dash": "dot", "color": "grey"},
                          name="all exercise", hoverinfo="skip")  # fmt: skip
    return _figure([heat, diagonal], "Minutes in gym against minutes exercising (finished visits)",
                   xaxis=_axis("minutes in gym", range=[0, top]), yaxis=_axis("minutes exercising", range=[0, top]),
                   showlegend=False)  # fmt: skip


def exercising_share(df: pd.DataFrame) -> go.Figure:
    share = pd.to_numeric(df["exercising_share"], errors="coerce") * 100
    bar = go.Bar(x=df["gym"].map(_gym_label), y=share, hovertemplate="%{x}: %{y:.0f}%<extra></extra>")
    return _figure(bar, "Exercising share per gym", xaxis={"type": "category"},
                   yaxis=_axis("% of time in gym spent exercising", range=[0, 100]))  # fmt: skip


def lag_bars(df: pd.DataFrame) -> go.Figure:
    bar = go.Bar(x=df["topic"] + "/" + df["partition"].astype(str), y=df["lag"])
    return _figure(bar, "Kafka lag of the pipeline", xaxis=_axis("topic/partition", type="category"),
                   yaxis=_axis("records behind"))  # fmt: skip
