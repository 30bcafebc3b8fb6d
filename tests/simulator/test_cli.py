"""The command line: `--help` for every command, and bad configuration as one line on stderr with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import replace

import pytest

from simulator.control import child_env
from tests.conftest import free_port
from tests.simulator.helpers import run

COMMANDS = ["history", "live", "status", "stop"]


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_of_each_command(settings, command):
    result = run(settings, *([command] if command else []), "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m simulator")
    for word in COMMANDS if command is None else [command]:
        assert word in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_help_through_the_project_cli(settings, command):
    result = subprocess.run([sys.executable, "-m", "lakehouse", "simulator", command, "--help"],
                            env=child_env(settings), capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: lakehouse simulator {command}")


def assert_one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert all(word in lines[0] for word in words), lines[0]


def test_unreachable_broker_is_a_quick_one_line_error(settings):
    dead = replace(settings, kafka_bootstrap_servers=f"127.0.0.1:{free_port()}")
    started = time.monotonic()
    assert_one_line_error(run(dead, "history", "--members", "5", "--no-progress"), "not reachable")
    assert_one_line_error(run(dead, "live", "--members", "5"), "not reachable")
    assert time.monotonic() - started < 40


def test_unwritable_database_is_a_one_line_error(settings, tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("a file where a directory should be")
    bad = replace(settings, source_db_url=str(blocked / "source.db"))
    assert_one_line_error(run(bad, "history", "--days", "1", "--members", "5"), "not writable")


@pytest.mark.parametrize(
    "flags",
    [["--dup-rate", "-0.1"], ["--malformed-rate", "1.5"], ["--late-rate", "nan"], ["--outlier-rate", "2"],
     ["--ooo-profile-rate", "-1"], ["--late-max-minutes", "0"], ["--members", "0"], ["--bpm-interval", "0"]],
)  # fmt: skip
def test_nonsense_settings_are_a_one_line_error(settings, flags):
    assert_one_line_error(run(settings, "history", "--days", "1", *flags), flags[0])
    assert_one_line_error(run(settings, "live", *flags), flags[0])


def test_nonsense_days_and_speed_are_one_line_errors(settings):
    assert_one_line_error(run(settings, "history", "--days", "-2"), "--days")
    assert_one_line_error(run(settings, "live", "--speed", "0"), "--speed")


def test_status_and_stop_when_nothing_runs(settings):
    status = run(settings, "status")
    assert status.returncode == 3
    assert json.loads(status.stdout)["running"] is False
    stop = run(settings, "stop")
    assert stop.returncode == 0 and "no simulator" in stop.stdout


def test_history_command_prints_what_it_sent(settings):
    result = run(settings, "history", "--days", "0.25", "--members", "5", "--end", "2025-11-24T12:00:00",
                 "--no-progress")  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["registrations"] == 5 and report["total"] == sum(report["records"].values()) > 0
