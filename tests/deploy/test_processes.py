"""Stopping a background process of the local stack (`./dev down`): the process is asked to stop on its own before
anything else in its process group is signalled, and nothing of the group outlives the stop."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from core.service import Service, group_alive, pid_alive

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
    pid = svc.start([sys.executable, "-c", LEADER, str(out), CHILD, mode])
    deadline = time.monotonic() + 30
    while not {"leader:ready", "child:ready"} <= set(out.read_text().split() if out.exists() else []):
        assert time.monotonic() < deadline, "the probe processes did not start"
        time.sleep(0.05)  # polling for the processes' own "ready" lines, bounded by the deadline
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
