"""Operations: drive the simulator and the pipeline, and see how fresh, how far behind and how clean the data is."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from app import charts, data, kafka_lag, plotly_js, ui
from app import queries as q
from app.data import fetch
from app.engines import DataUnavailable
from app.jobs import JOB_STAGES, RUNNING, JobManager, JobRefused
from core.settings import Settings
from simulator import control
from simulator.config import ConfigError, SimulatorConfig

JOB_POLL_SECONDS = 2
SIMULATOR_STOP_SECONDS = 20.0  # how long a stop from the page waits for the simulator's flush before forcing it


def _jobs() -> JobManager:
    return JobManager(data.config().settings.data_dir / "jobs")


@st.cache_data(ttl=10, show_spinner=False)
def _end_offsets(settings: Settings, topics: tuple[str, ...]) -> tuple[dict[tuple[str, int], int], str | None]:
    try:
        return kafka_lag.end_offsets(settings, topics), None
    except kafka_lag.KafkaUnreachable as exc:
        return {}, str(exc)


# --- simulator ----------------------------------------------------------------------------------------------------


def _simulator(refresh: float | None) -> None:
    st.subheader("Simulator")
    settings = data.config().settings
    c1, c2, c3 = st.columns([1, 1, 2])
    members = c1.number_input("Members", min_value=1, max_value=100_000, value=100, step=50, key="sim_members")
    speed = c2.number_input("Speed (× real time)", min_value=0.1, max_value=10_000.0, value=60.0, step=10.0,
                            key="sim_speed")  # fmt: skip
    with c3:
        st.write("")
        b1, b2 = st.columns(2)
        start = b1.button("Start simulator", key="sim_start", icon=":material/play_arrow:", type="primary")
        stop = b2.button("Stop simulator", key="sim_stop", icon=":material/stop:")
    try:
        if start:
            control.start(settings, SimulatorConfig(members=int(members)), speed=float(speed))
            st.toast("Simulator started")
        if stop:
            stopped = control.stop(settings, timeout=SIMULATOR_STOP_SECONDS)
            st.toast("Simulator stopped" if stopped else "No simulator was running")
    except (control.SimulatorControlError, ConfigError) as exc:
        st.warning(f"The simulator refused: {exc}")

    @ui.live(refresh)
    def sim_status() -> None:
        s = control.status(settings)
        cols = st.columns(4)
        status = str(s.get("status") or "")
        cols[0].metric("State", (status or "running") if s.get("running") else ("failed" if status == "failed" else
                                                                                "stopped"))  # fmt: skip
        cols[1].metric("Rate", f"{float(s.get('rate') or 0):,.1f} /s")
        cols[2].metric("Events sent", f"{int(s.get('events_sent') or 0):,}")
        cols[3].metric("Errors", f"{int(s.get('errors') or 0):,}")
        problem = s.get("error") or s.get("last_error")
        if problem:
            st.caption(f"Last error: {problem}")

    sim_status()


# --- pipeline jobs ------------------------------------------------------------------------------------------------


def _progress(job) -> tuple[float, str]:
    """Share of the job's stages that ops.pipeline_runs shows finished since the job started."""
    try:
        runs = fetch(q.runs_since(job.started.astimezone(UTC).replace(tzinfo=None)))
    except DataUnavailable:
        runs = pd.DataFrame(columns=["stage", "status", "finished_at"])
    done = {s for s in runs.loc[runs["finished_at"].notna(), "stage"] if s in job.stages}
    if job.state != RUNNING:
        return 1.0, job.state
    return len(done) / len(job.stages), f"{len(done)} of {len(job.stages)} stages done"


def _pipeline(refresh: float | None) -> None:
    st.subheader("Pipeline runs")
    manager = _jobs()
    c1, c2 = st.columns([1, 3])
    stage = c1.selectbox("Stage", JOB_STAGES, key="job_stage",
                         format_func=lambda s: "all stages" if s == "all" else s)  # fmt: skip
    with c2:
        st.write("")
        if st.button("Run batch", key="job_run", icon=":material/rocket_launch:"):
            try:
                job = manager.start_pipeline(stage)
                st.toast(f"Started {job.job_id}")
            except JobRefused as exc:
                st.warning(str(exc))
    running = any(j.state == RUNNING for j in manager.jobs(limit=5))

    @ui.live(JOB_POLL_SECONDS if running else refresh)
    def job_status() -> None:
        jobs = manager.jobs(limit=5)
        if not jobs:
            st.caption("No pipeline runs started from the dashboard yet.")
            return
        for job in jobs[:3]:
            ended = job.finished or datetime.now(UTC)
            elapsed = int((ended - job.started).total_seconds())
            share, text = _progress(job)
            label = f"**{job.stage}** · {job.job_id} · {job.state} · {elapsed} s"
            with st.expander(label, expanded=job is jobs[0]):
                st.progress(share, text=text)
                if job.state == RUNNING and st.button("Stop this run", key=f"job_stop_{job.job_id}"):
                    manager.stop(job.job_id)
                tail = manager.log_tail(job.job_id)
                st.code(tail or "(no output yet)", language=None)

    job_status()


# --- health -------------------------------------------------------------------------------------------------------


def _history() -> None:
    st.subheader("Run history")
    runs = fetch(q.pipeline_runs())
    if runs.empty:
        st.caption("ops.pipeline_runs is empty.")
    else:
        st.dataframe(runs, hide_index=True, height=240, key="ops_runs")


def _freshness() -> None:
    st.subheader("Gold freshness")
    times = data.gold_commit_times()
    now = datetime.now(UTC)
    st.dataframe(pd.DataFrame([{"table": name, "last commit (UTC)": when.strftime("%Y-%m-%d %H:%M:%S") if when else "—",
                                "age": ui.ago(when, now) if when else "not built yet"}
                               for name, when in times.items()]), hide_index=True, key="ops_freshness")  # fmt: skip


def _lag() -> None:
    st.subheader("Kafka lag")
    settings = data.config().settings
    names = {full: short for short, full in settings.topics.items()}
    ends, error = _end_offsets(settings, tuple(names))
    if error:
        st.info(f"Lag unknown: {ui.error_text(error, 'Kafka cannot be reached.')}", icon=":material/cloud_off:")
        return
    if not ends:
        st.caption(f"No topics {', '.join(names)} on {settings.kafka_bootstrap_servers} yet.")
        return
    try:
        bronze = fetch(q.bronze_offsets())
    except DataUnavailable:
        bronze = pd.DataFrame(columns=["topic", "partition", "max_offset"])
    lag = kafka_lag.lag_table(ends, bronze, names)
    st.metric("Records not yet in bronze", f"{int(lag['lag'].sum()):,}")
    plotly_js.chart(charts.lag_bars(lag), key="ops_lag")


def _quarantine() -> None:
    st.subheader("Quarantine")
    counts = fetch(q.quarantine_counts())
    if counts.empty:
        st.caption("No rejected records.")
    else:
        st.dataframe(counts, hide_index=True, key="ops_quarantine")


def _section(draw) -> None:
    try:
        draw()
    except DataUnavailable as exc:
        ui.unavailable(exc)


def render() -> None:
    st.title("Operations")
    refresh = ui.refresh_controls()
    if data.access().operations:  # the access policy's `operations: true` (platform admins)
        _simulator(refresh)
        st.divider()
        _pipeline(refresh)
    else:
        st.info("Simulator and pipeline controls are for platform admins; you see the health panels only.",
                icon=":material/lock:")  # fmt: skip
    st.divider()

    @ui.live(refresh)
    def health() -> None:
        ui.freshness()
        left, right = st.columns(2)
        with left:
            _section(_freshness)
            _section(_quarantine)
        with right:
            _section(_lag)
        _section(_history)

    health()


render()
