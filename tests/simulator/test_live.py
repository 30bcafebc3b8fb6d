"""`live` runs on a clock, keeps a state file, and is started, queried and stopped through `simulator.control`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import replace

import pytest

from core.service import wait_until
from simulator import control
from simulator.config import SimulatorConfig
from simulator.engine import run_live
from simulator.records import BPM, GYM, WORKOUT, malformed_reason
from tests.conftest import free_port
from tests.simulator.helpers import consume_all, db_rows, run


def test_live_emits_records_as_the_clock_reaches_them_and_reports_progress(settings):
    reports: list[dict[str, object]] = []
    stats = run_live(settings, SimulatorConfig(members=60, seed=2, rest_interval=60), speed=3600.0, duration=3.0,
                     report=reports.append, report_every=0.5)  # fmt: skip

    assert stats.total > 100
    final = reports[-1]
    assert final["running"] is False and final["errors"] == 0
    assert final["events_sent"] == final["events_delivered"] == stats.total
    assert any(r["running"] and r["rate"] > 0 for r in reports[:-1])
    for name, topic in (("bpm", BPM), ("workout", WORKOUT), ("gym", GYM)):
        records = consume_all(settings.kafka_bootstrap_servers, settings.topic(name))
        assert len(records) == stats.records[name]
        assert all(malformed_reason(topic, value) is None for _, value in records)
    times = [json.loads(v)["time"] for _, v in consume_all(settings.kafka_bootstrap_servers, settings.topic("bpm"))]
    started = time.mktime(time.strptime(str(final["started_at"])[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    assert min(times) >= started - 1 and max(times) <= started + 3.5 * 3600 + 60  # about an hour per real second
    assert db_rows(settings.source_db_path, "SELECT COUNT(*) FROM registrations")[0][0] == 60


@pytest.fixture
def cleanup(settings):
    yield
    control.stop(settings, timeout=30)


def test_control_starts_queries_refuses_a_second_start_and_stops(settings, cleanup):
    state = control.start(settings, SimulatorConfig(members=50, seed=3, rest_interval=60), speed=600.0)
    assert state["running"] is True and state["pid"]

    running = wait_until(lambda: (s := control.status(settings)).get("events_sent", 0) > 0 and s, 60, "records sent")
    assert running["running"] is True and running["pid"] == state["pid"] and running["errors"] == 0
    assert {"rate", "events_sent", "events_delivered", "started_at", "updated_at"} <= set(running)
    assert control.is_running(settings)
    with pytest.raises(control.SimulatorControlError, match="already running"):
        control.start(settings, SimulatorConfig(members=5))

    assert control.stop(settings, timeout=30) is True
    final = control.status(settings)
    assert final["running"] is False and final["status"] == "stopped"
    assert final["events_sent"] == final["events_delivered"] and final["errors"] == 0
    bootstrap = settings.kafka_bootstrap_servers
    counts = {name: len(consume_all(bootstrap, settings.topic(name))) for name in settings.topics}
    assert counts == final["records"]
    assert control.stop(settings) is False


def test_a_second_live_process_is_refused_even_without_control(settings, cleanup):
    control.start(settings, SimulatorConfig(members=5, rest_interval=60), speed=60.0)
    wait_until(lambda: control.status(settings).get("status") == "running", 60, "the first run")

    result = run(settings, "live", "--members", "5")
    assert result.returncode == 2 and "already running" in result.stderr


def test_a_background_start_with_a_bad_broker_reports_the_error_in_its_status(settings):
    dead = replace(settings, kafka_bootstrap_servers=f"127.0.0.1:{free_port()}")
    control.start(dead, SimulatorConfig(members=5))
    failed = wait_until(lambda: (s := control.status(dead)).get("status") == "failed" and s, 60, "the failure")
    assert failed["running"] is False and "not reachable" in failed["error"]


def test_sigint_stops_a_foreground_live_run_cleanly(settings):
    command = [sys.executable, "-m", "simulator", "live", "--members", "10", "--speed", "600"]
    proc = subprocess.Popen(command, env=control.child_env(settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: control.status(settings).get("events_sent", 0) > 0, 60, "records sent")
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0
    final = control.status(settings)
    assert json.loads(out)["total"] == final["events_delivered"] == final["events_sent"] > 0
