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

    def stop(self, timeout: float = 60.0) -> bool:
        """SIGTERM the process group, wait up to `timeout`, then SIGKILL; False if it was not running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while pid_alive(pid) and time.monotonic() < deadline:
            reap(pid)
            time.sleep(0.1)  # waiting for another process to exit, bounded by the deadline
        if pid_alive(pid):
            log.warning("%s did not stop within %.0fs; killing it", self.name, timeout)
            os.killpg(pid, signal.SIGKILL)
            reap(pid)
        self.pid_file.unlink(missing_ok=True)
        log.info("%s stopped", self.name)
        return True

    def tail(self, lines: int = 5) -> list[str]:
        try:
            return self.log_file.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return []


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]
