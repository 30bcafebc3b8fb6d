"""The Operations page: the live simulator on a real broker, background pipeline jobs, health panels."""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import jobs
from app.jobs import JobManager
from core.contract import MAINTAIN, STAGES
from core.kafka_broker import create_topics
from core.service import wait_until
from core.settings import Settings
from pipeline.cli import add_pipeline_parser, run
from simulator import control
from tests.app.conftest import frame_with, metric, open_page, texts

PAGE = "views/operations.py"


@pytest.fixture
def live_kafka(app_env: Path, tmp_path: Path, kafka_bootstrap: str,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:  # fmt: skip
    """The page pointed at the real broker, on topics of its own; no simulator is left running after the test."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    monkeypatch.setenv("KAFKA_TOPIC_PREFIX", f"ops{uuid.uuid4().hex[:6]}.")
    monkeypatch.setenv("SOURCE_DB_URL", str(tmp_path / "source.db"))
    settings = Settings.from_env()
    create_topics(kafka_bootstrap, list(settings.topics.values()))
    yield settings
    control.stop(settings, timeout=30)


def test_simulator_start_stop_and_refused_second_start(live_kafka: Settings) -> None:
    at = open_page(PAGE)
    assert metric(at, "State") == "stopped"
    at.number_input(key="sim_members").set_value(250)
    at.number_input(key="sim_speed").set_value(120.0)
    at.button(key="sim_start").click().run()
    sending = wait_until(lambda: (s := control.status(live_kafka)).get("events_sent", 0) > 0 and s, 120, "records sent")
    assert (sending["members"], sending["speed"]) == (250, 120.0)
    at.run()
    assert metric(at, "State") == "running"
    assert metric(at, "Events sent") != "0"
    at.button(key="sim_start").click().run()
    assert "already running" in texts(at)
    at.button(key="sim_stop").click().run()
    assert metric(at, "State") == "stopped"
    final = control.status(live_kafka)
    assert final["running"] is False and final["events_sent"] == final["events_delivered"] > 0


def _stand_in(monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    monkeypatch.setattr(jobs, "PIPELINE_COMMAND", (sys.executable, "-c", code))


@pytest.mark.parametrize("stage", ["silver", MAINTAIN])
def test_pipeline_stage_runs_in_background_and_shows_its_log(app_env: Path, tmp_path: Path, stage: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    _stand_in(monkeypatch, "import sys; print('stage', sys.argv[1:]); print('all done')")
    at = open_page(PAGE)
    assert at.selectbox(key="job_stage").options == ["all stages", *STAGES, MAINTAIN]
    at.selectbox(key="job_stage").set_value(stage)
    at.button(key="job_run").click().run()
    manager = JobManager(tmp_path / "data" / "jobs")
    [job] = manager.jobs()
    assert job.stage == stage and job.command[-2:] == ("--stage", stage)
    wait_until(lambda: manager.get(job.job_id).state == jobs.SUCCEEDED, 60, "the job to finish")
    at.run()
    assert not at.exception
    assert "succeeded" in at.expander[0].label
    assert "all done" in at.code[0].value
    assert f"['--stage', '{stage}']" in manager.log_tail(job.job_id)


@pytest.mark.parametrize("stage", jobs.JOB_STAGES)
def test_each_offered_stage_is_a_batch_run_the_pipeline_cli_accepts(stage: str) -> None:
    command = jobs.pipeline_command(stage)
    assert command[:4] == (sys.executable, "-m", "pipeline", "run")
    parser = argparse.ArgumentParser()
    add_pipeline_parser(parser.add_subparsers())
    parsed = parser.parse_args(["pipeline", *command[3:]])  # exits on an option the pipeline does not know
    assert (parsed.func, parsed.mode, parsed.stage) == (run, "batch", stage)


def test_an_unknown_stage_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown stage 'setup'; choose one of all, bronze, silver, gold, maintain"):
        JobManager(tmp_path / "jobs").start_pipeline("setup")
    assert not (tmp_path / "jobs").exists()


def test_second_pipeline_run_is_refused_while_one_runs(app_env: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    gate = tmp_path / "gate"
    _stand_in(monkeypatch, f"import pathlib, time\nwhile not pathlib.Path({str(gate)!r}).exists(): time.sleep(0.05)")
    try:
        at = open_page(PAGE)
        at.button(key="job_run").click().run()
        at.button(key="job_run").click().run()
        assert "already in progress" in texts(at)
        manager = JobManager(tmp_path / "data" / "jobs")
        [job] = manager.jobs()
        assert job.stage == "all" and job.state == jobs.RUNNING
        at.button(key=f"job_stop_{job.job_id}").click().run()
        wait_until(lambda: manager.get(job.job_id).state == jobs.STOPPED, 60, "the job to stop")
    finally:
        gate.touch()  # lets the stand-in end even if the test failed before stopping it


def test_failed_job_is_reported_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manager = JobManager(tmp_path / "jobs")
    job = manager.start_pipeline("gold", command=(sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"))
    wait_until(lambda: manager.get(job.job_id).state != jobs.RUNNING, 60, "the job to end")
    done = manager.get(job.job_id)
    assert (done.state, done.returncode) == (jobs.FAILED, 3)
    assert "boom" in manager.log_tail(job.job_id)


def test_health_panels(app_env: Path) -> None:
    at = open_page(PAGE)
    assert len(frame_with(at, "run_id", "rows_out")) == 12
    quarantine = frame_with(at, "reason", "records")
    assert quarantine["records"].sum() == 12
    freshness = frame_with(at, "table", "age")
    assert list(freshness["table"]) == ["gold.workout_bpm_summary", "gold.gym_summary"]
    assert "Lag unknown" in texts(at)
