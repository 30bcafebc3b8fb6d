"""Detached background processes with pid and log files, so `up`, `down` and `status` work across shells."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def read_pid(pid_file: Path) -> int | None:
    """The pid recorded in `pid_file` if that process is still alive, else None."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def free_port_pair(host: str = "127.0.0.1") -> int:
    """A port p such that p and p+1 are both free (a broker's client and controller listeners)."""
    for _ in range(50):
        port = free_port(host)
        with socket.socket() as a, socket.socket() as b:
            try:
                a.bind((host, port))
                b.bind((host, port + 1))
                return port
            except OSError:
                continue
    raise RuntimeError(f"no two adjacent free ports on {host}")


def reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


@dataclass(frozen=True)
class Service:
    """One named background process of the local stack."""

    name: str
    run_dir: Path
    stop_timeout: float = 60.0  # how long `stop` waits for the process to stop on its own

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.run_dir / f"{self.name}.log"

    def pid(self) -> int | None:
        return read_pid(self.pid_file)

    def start(self, argv: list[str], env: dict[str, str] | None = None) -> int:
        """Start detached unless already running; return the pid."""
        running = self.pid()
        if running:
            log.info("%s already running (pid %d)", self.name, running)
            return running
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env={**os.environ, **(env or {})}, start_new_session=True)  # fmt: skip
        self.pid_file.write_text(str(proc.pid))
        log.info("%s started (pid %d), log: %s", self.name, proc.pid, self.log_file)
        return proc.pid

    def stop(self, timeout: float | None = None, grace: float = 10.0) -> bool:
        """Stop the process and everything it started; False if it was not running.

        SIGTERM goes to the process alone first, and it gets `timeout` seconds (default: its `stop_timeout`) to stop
        on its own: the pipeline then finishes the stage it is in and stops Spark itself, so no write is cut off
        mid-way (signalling the whole group would kill the JVM and Spark's Python workers under it). What is left of
        its process group then gets SIGTERM and `grace` seconds, then SIGKILL."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        timeout = self.stop_timeout if timeout is None else timeout
        _signal(pid, signal.SIGTERM)
        if not _wait(lambda: pid_alive(pid), timeout, reap_pid=pid):
            log.warning("%s did not stop within %.0fs; stopping its whole process group", self.name, timeout)
        _signal_group(pid, signal.SIGTERM)
        if not _wait(lambda: group_alive(pid), grace, reap_pid=pid):
            log.warning("%s: processes of its group outlived SIGTERM by %.0fs; killing them", self.name, grace)
            _signal_group(pid, signal.SIGKILL)
            if not _wait(lambda: group_alive(pid), 10.0, reap_pid=pid):  # SIGKILL takes effect, but not at once
                log.warning("%s: processes of its group are still there after SIGKILL", self.name)
        self.pid_file.unlink(missing_ok=True)
        log.info("%s stopped", self.name)
        return True

    def tail(self, lines: int = 5) -> list[str]:
        try:
            return self.log_file.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return []


def group_alive(pgid: int) -> bool:
    """Whether any live (not zombie) process is in process group `pgid`."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[-1].split()
        except OSError:
            continue  # it exited while we looked
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass  # nobody left in the group


def _wait(alive, timeout: float, reap_pid: int) -> bool:
    """Poll `alive()` until it is false or `timeout` passes; True if it became false."""
    deadline = time.monotonic() + timeout
    while True:
        reap(reap_pid)
        if not alive():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)  # waiting for other processes to exit, bounded by the deadline


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]
