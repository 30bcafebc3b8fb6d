"""Pure chart builders: a query result in, a plotly figure out. No Streamlit, no data access."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_LAYOUT = {"margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "height": 320, "legend_title_text": ""}


def _styled(fig: go.Figure, title: str) -> go.Figure:
    fig.update_layout(title={"text": title, "x": 0, "font": {"size": 15}}, **_LAYOUT)
    return fig


def bpm_by_age_gender(df: pd.DataFrame) -> go.Figure:
    """Average session BPM per age bin, one bar per gender."""
    fig = px.bar(df, x="age", y="avg_bpm", color="gender", barmode="group", hover_data=["sessions", "max_bpm"],
                 labels={"age": "age bin", "avg_bpm": "average BPM"})  # fmt: skip
    return _styled(fig, "Average BPM by age bin and gender")


def avg_bpm_distribution(df: pd.DataFrame, bin_width: int) -> go.Figure:
    """Histogram of sessions' average BPM from pre-binned counts."""
    fig = go.Figure(go.Bar(x=df["bpm_bin"] + bin_width / 2, y=df["sessions"], width=bin_width * 0.95,
                           hovertemplate="%{customdata}: %{y} sessions<extra></extra>",
                           customdata=[f"{int(b)}–{int(b) + bin_width} BPM" for b in df["bpm_bin"]]))  # fmt: skip
    fig.update_xaxes(title_text="session average BPM")
    fig.update_yaxes(title_text="sessions")
    return _styled(fig, "Distribution of session average BPM")


def daily_trend(df: pd.DataFrame) -> go.Figure:
    """Sessions per day (bars) with the day's average BPM (line, right axis)."""
    fig = go.Figure()
    fig.add_bar(x=df["day"], y=df["sessions"], name="sessions", marker_color="#9ecae1")
    fig.add_scatter(x=df["day"], y=df["avg_bpm"], name="average BPM", yaxis="y2", mode="lines+markers",
                    line={"color": "#e6550d"})  # fmt: skip
    fig.update_layout(yaxis={"title": "sessions"}, yaxis2={"title": "average BPM", "overlaying": "y", "side": "right"},
                      legend={"orientation": "h", "y": 1.12, "x": 1, "xanchor": "right"})  # fmt: skip
    return _styled(fig, "Daily trend")


def session_readings(df: pd.DataFrame, title: str) -> go.Figure:
    fig = px.line(df, x="time", y="heartrate", labels={"heartrate": "BPM", "time": ""}, markers=len(df) < 60)
    return _styled(fig, title)


def visits_per_day(df: pd.DataFrame) -> go.Figure:
    data = df.assign(gym=df["gym"].map(lambda g: "unknown" if pd.isna(g) else f"gym {int(g)}"))
    fig = px.bar(data, x="day", y="visits", color="gym", labels={"day": "", "visits": "visits"})
    return _styled(fig, "Visits per day")


def visits_per_gym(df: pd.DataFrame) -> go.Figure:
    data = df.assign(gym=df["gym"].map(lambda g: "unknown" if pd.isna(g) else f"gym {int(g)}"))
    fig = px.bar(data, x="gym", y="visits", hover_data=["members", "avg_minutes_in_gym"], labels={"gym": ""})
    return _styled(fig, "Visits per gym")


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
    fig = px.imshow(matrix, aspect="auto", color_continuous_scale="Blues", labels={"x": "hour of day", "y": "",
                    "color": "avg present"})  # fmt: skip
    fig.update_xaxes(dtick=2)
    return _styled(fig, "Occupancy: average members present by hour and weekday")


def minutes_scatter(df: pd.DataFrame) -> go.Figure:
    data = df.assign(gym=df["gym"].map(lambda g: "unknown" if pd.isna(g) else f"gym {int(g)}"))
    top = float(max(data["minutes_in_gym"].max() if len(data) else 0, 1))
    fig = px.scatter(
        data,
        x="minutes_in_gym",
        y="minutes_exercising",
        color="gym",
        opacity=0.6,
        labels={"minutes_in_gym": "minutes in gym", "minutes_exercising": "minutes exercising"},
    )
    fig.add_scatter(x=[0, top], y=[0, top], mode="lines", line={"dash": "dot", "color": "grey"}, name="all exercise")
    return _styled(fig, "Minutes in gym against minutes exercising (latest visits)")


def exercising_share(df: pd.DataFrame) -> go.Figure:
    data = df.assign(gym=df["gym"].map(lambda g: "unknown" if pd.isna(g) else f"gym {int(g)}"),
                     share=pd.to_numeric(df["exercising_share"], errors="coerce") * 100)  # fmt: skip
    fig = px.bar(data, x="gym", y="share", labels={"gym": "", "share": "% of time in gym spent exercising"},
                 range_y=[0, 100])  # fmt: skip
    return _styled(fig, "Exercising share per gym")


def lag_bars(df: pd.DataFrame) -> go.Figure:
    data = df.assign(label=df["topic"] + "/" + df["partition"].astype(str))
    fig = px.bar(data, x="label", y="lag", labels={"label": "topic/partition", "lag": "records behind"})
    return _styled(fig, "Kafka lag of the pipeline")
