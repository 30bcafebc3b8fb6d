"""Background processes (`core.service`): a start waits for a health check and names the log file when it fails; a
stop asks the process to stop on its own before anything else in its process group is signalled, and nothing of the
group outlives it; `wait_until` returns what it waited for or says what it was waiting for."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.service import (
    Service,
    ServiceError,
    WaitAborted,
    exited,
    free_port,
    group_alive,
    http_ok,
    pid_alive,
    wait_until,
)

# A leader that, like the pipeline, stops its child itself when asked to stop (the child stands for Spark's JVM).
LEADER = """
import signal, subprocess, sys
log = open(sys.argv[1], "a", buffering=1)
child = subprocess.Popen([sys.executable, "-c", sys.argv[2], sys.argv[1], sys.argv[3]], stdin=subprocess.PIPE)
def term(*_):
    log.write("leader:SIGTERM\\n")
    if sys.argv[3] == "clean":
        child.stdin.close()
        child.wait()
        log.write("leader:done\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, term if sys.argv[3] != "stubborn" else signal.SIG_IGN)
log.write("leader:ready\\n")
while True:
    signal.pause()
"""
CHILD = """
import signal, sys
log = open(sys.argv[1], "a", buffering=1)
signal.signal(signal.SIGTERM, (lambda *_: log.write("child:SIGTERM\\n")) if sys.argv[2] == "clean" else
              signal.SIG_IGN if sys.argv[2] == "stubborn" else signal.SIG_DFL)
log.write("child:ready\\n")
if sys.argv[2] == "clean":
    sys.stdin.read()  # until its parent closes the pipe
    log.write("child:EOF\\n")
else:
    while True:  # runs on after its parent is gone (no pipe to lose)
        signal.pause()
"""


def _start(tmp_path: Path, mode: str) -> tuple[Service, int, Path]:
    out = tmp_path / "events.log"
    svc = Service("probe", tmp_path / "run")
    pid = svc.start(
        [sys.executable, "-c", LEADER, str(out), CHILD, mode],
        ready=lambda: {"leader:ready", "child:ready"} <= set(out.read_text().split()),
        timeout=60,
    )
    return svc, pid, out


def test_the_process_stops_its_children_itself_before_the_group_is_signalled(tmp_path: Path) -> None:
    svc, pid, out = _start(tmp_path, "clean")
    assert svc.stop(timeout=30) is True
    events = out.read_text().split()
    assert "child:SIGTERM" not in events  # the child was never signalled: its parent stopped it
    assert events[events.index("leader:SIGTERM") :] == ["leader:SIGTERM", "child:EOF", "leader:done"]
    assert not pid_alive(pid) and not group_alive(pid)
    assert not svc.pid_file.exists()


def test_children_left_behind_by_an_exiting_process_are_stopped_too(tmp_path: Path) -> None:
    svc, pid, _ = _start(tmp_path, "orphan")  # the leader exits at once; its child would run on
    assert svc.stop(timeout=30, grace=30) is True
    assert not pid_alive(pid) and not group_alive(pid)


def test_a_process_that_ignores_sigterm_is_killed_with_its_group(tmp_path: Path) -> None:
    svc, pid, _ = _start(tmp_path, "stubborn")
    assert svc.stop(timeout=0.5, grace=0.5) is True
    assert not pid_alive(pid) and not group_alive(pid)


def test_stopping_what_is_not_running_says_so(tmp_path: Path) -> None:
    assert Service("probe", tmp_path / "run").stop() is False


def test_a_start_waits_for_the_health_check_and_a_second_start_reuses_the_process(tmp_path: Path) -> None:
    port = free_port()
    svc = Service("web", tmp_path / "run", stop_timeout=30)
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(tmp_path)]
    pid = svc.start(argv, ready=http_ok(f"http://127.0.0.1:{port}/"), timeout=60)
    try:
        assert http_ok(f"http://127.0.0.1:{port}/")()
        assert svc.start(argv) == pid and svc.status() == {"pid": pid, "running": True, "log": str(svc.log_file)}
    finally:
        assert svc.stop() is True
    assert not pid_alive(pid) and svc.status()["running"] is False


def test_a_process_that_exits_during_start_up_is_one_error_naming_its_log(tmp_path: Path) -> None:
    svc = Service("broken", tmp_path / "run")
    with pytest.raises(ServiceError, match=r"broken exited with code 3 during start-up; see .*broken\.log"):
        svc.start([sys.executable, "-c", "raise SystemExit(3)"], ready=lambda: False, timeout=60)
    assert svc.pid() is None


def test_a_process_that_never_answers_is_stopped_and_named_with_its_log(tmp_path: Path) -> None:
    svc = Service("mute", tmp_path / "run")
    seen: list[int | None] = []

    def never_ready() -> bool:
        seen.append(svc.pid())  # the pid file is written before the first check
        return False

    with pytest.raises(ServiceError, match=r"mute did not answer within 1s; see .*mute\.log"):
        svc.start([sys.executable, "-c", "import signal; signal.pause()"], ready=never_ready, timeout=1)
    pid = seen[0]
    assert pid is not None and not pid_alive(pid) and not group_alive(pid)
    assert not svc.pid_file.exists()


def test_a_pid_file_of_a_recycled_pid_is_not_taken_for_the_service(tmp_path: Path) -> None:
    svc = Service("old", tmp_path)
    svc.pid_file.write_text(f"{os.getpid()} 1")  # this live pid, but a start time that is not this process's
    assert svc.pid() is None and svc.stop() is False
    svc.claim()
    assert svc.pid() == os.getpid()


def test_wait_until_returns_the_first_truthy_value() -> None:
    values = iter([0, "", None, "ready"])
    assert wait_until(lambda: next(values), 30, "a value", interval=0) == "ready"


def test_wait_until_says_what_it_waited_for_and_the_last_error() -> None:
    def refused() -> bool:
        raise ConnectionRefusedError("nobody listens")

    with pytest.raises(TimeoutError, match=r"after 0.2s waiting for the moon \(last error: nobody listens\)"):
        wait_until(refused, 0.2, "the moon", interval=0.05, retry_on=(OSError,))


def test_wait_until_fails_at_once_when_a_watched_process_exits() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(4)"])
    with pytest.raises(WaitAborted, match=r"exited with code 4 while waiting for nothing"):
        wait_until(lambda: False, 600, "nothing", abort=exited(proc))
