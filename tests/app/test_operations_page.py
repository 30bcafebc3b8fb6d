"""The Operations page: simulator controls through the adapter, background pipeline jobs, health panels."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from app import jobs
from app.jobs import JobManager
from tests.app.conftest import frame_with, metric, open_page, texts
from tests.app.polling import wait_until

PAGE = "views/operations.py"


class FakeControl(types.ModuleType):
    """Stands in for simulator.control with its real signatures: start(settings, config, speed), stop, status."""

    def __init__(self) -> None:
        super().__init__("simulator.control")
        self.running = False
        self.calls: list[tuple] = []

    def start(self, settings, config=None, speed: float = 1.0, duration: float | None = None) -> dict:
        if self.running:
            raise RuntimeError("a live simulator is already running (pid 1); stop it first")
        self.calls.append(("start", settings.lakehouse_dir, config.members, speed))
        self.running = True
        return {"running": True, "status": "starting"}

    def stop(self, settings, timeout: float = 60.0) -> bool:
        self.calls.append(("stop",))
        was, self.running = self.running, False
        return was

    def status(self, settings) -> dict:
        return {"running": self.running, "status": "running" if self.running else "stopped", "rate": 12.5,
                "events_sent": 1234 if self.running else 0, "errors": 0}  # fmt: skip


@pytest.fixture
def fake_control(monkeypatch: pytest.MonkeyPatch) -> FakeControl:
    fake = FakeControl()
    monkeypatch.setitem(sys.modules, "simulator.control", fake)
    return fake


def test_simulator_start_stop_and_refused_second_start(app_env: Path, fake_control: FakeControl) -> None:
    at = open_page(PAGE)
    assert metric(at, "State") == "stopped"
    at.number_input(key="sim_members").set_value(250)
    at.number_input(key="sim_speed").set_value(120.0)
    at.button(key="sim_start").click().run()
    assert fake_control.calls == [("start", app_env, 250, 120.0)]
    assert metric(at, "State") == "running"
    assert metric(at, "Events sent") == "1,234"
    at.button(key="sim_start").click().run()
    assert "already running" in texts(at)
    at.button(key="sim_stop").click().run()
    assert fake_control.calls[-1] == ("stop",)
    assert metric(at, "State") == "stopped"


def test_simulator_controls_unavailable_without_the_module(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "simulator.control", None)  # import raises ImportError
    at = open_page(PAGE)
    assert "Simulator controls unavailable" in texts(at)
    assert not [b for b in at.button if b.key == "sim_start"]


def test_simulator_controls_unavailable_without_a_function(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "simulator.control", types.ModuleType("simulator.control"))
    at = open_page(PAGE)
    assert "has no start()" in texts(at)


def _stand_in(monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    monkeypatch.setattr(jobs, "PIPELINE_COMMAND", (sys.executable, "-c", code))


def test_pipeline_stage_runs_in_background_and_shows_its_log(app_env: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    _stand_in(monkeypatch, "import sys; print('stage', sys.argv[1:]); print('all done')")
    at = open_page(PAGE)
    at.selectbox(key="job_stage").set_value("silver")
    at.button(key="job_run").click().run()
    manager = JobManager(tmp_path / "data" / "jobs")
    [job] = manager.jobs()
    assert job.stage == "silver" and job.command[-2:] == ("--stage", "silver")
    wait_until(lambda: manager.get(job.job_id).state == jobs.SUCCEEDED, what="the job to finish")
    at.run()
    assert not at.exception
    assert "succeeded" in at.expander[0].label
    assert "all done" in at.code[0].value
    assert "['--stage', 'silver']" in manager.log_tail(job.job_id)


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
        wait_until(lambda: manager.get(job.job_id).state == jobs.STOPPED, what="the job to stop")
    finally:
        gate.touch()  # lets the stand-in end even if the test failed before stopping it


def test_failed_job_is_reported_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manager = JobManager(tmp_path / "jobs")
    job = manager.start_pipeline("gold", command=(sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"))
    wait_until(lambda: manager.get(job.job_id).state != jobs.RUNNING, what="the job to end")
    done = manager.get(job.job_id)
    assert (done.state, done.returncode) == (jobs.FAILED, 3)
    assert "boom" in manager.log_tail(job.job_id)


def test_health_panels(app_env: Path, fake_control: FakeControl) -> None:
    at = open_page(PAGE)
    assert len(frame_with(at, "run_id", "rows_out")) == 12
    quarantine = frame_with(at, "reason", "records")
    assert quarantine["records"].sum() == 12
    freshness = frame_with(at, "table", "age")
    assert list(freshness["table"]) == ["gold.workout_bpm_summary", "gold.gym_summary"]
    assert "Lag unknown" in texts(at)
