"""Background processes run detached with pid and log files, so `up`, `down` and `status` work across shells; and
`wait_until`, the one way to wait for something with a deadline."""

from __future__ import annotations

import logging
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

# Processes started by this process: polled so that they are reaped (no zombies) once they exit.
_children: dict[int, subprocess.Popen] = {}


class ServiceError(RuntimeError):
    """A background process did not start or did not become ready; the message is one line naming its log file."""


class WaitAborted(RuntimeError):
    """A wait ended early because what it depends on failed, e.g. a watched process exited."""


def wait_until(condition: Callable[[], T], timeout: float, what: str, interval: float = 0.1, *,
               abort: Callable[[], object] | None = None, retry_on: tuple[type[Exception], ...] = ()) -> T:  # fmt: skip
    """Poll `condition()` until it returns something truthy and return that; TimeoutError naming `what` otherwise.

    `abort()`, asked after each unmet try, ends the wait at once with WaitAborted when it returns a reason (a message
    or an exception); exceptions of `retry_on` from `condition()` count as "not yet", the last one quoted on timeout."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            value = condition()
        except retry_on as exc:
            value, last = None, exc
        if value:
            return value
        reason = abort() if abort is not None else None
        if reason:
            raise WaitAborted(f"{reason} while waiting for {what}")
        if time.monotonic() >= deadline:
            detail = f" (last error: {last})" if last is not None else ""
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}{detail}")
        time.sleep(interval)  # the polling interval, bounded by the deadline


def exited(*procs: subprocess.Popen) -> Callable[[], str | None]:
    """An `abort` for wait_until: says which of `procs` has exited, and with which code."""

    def check() -> str | None:
        for proc in procs:
            if proc.poll() is not None:
                argv = [proc.args] if isinstance(proc.args, (str, bytes, os.PathLike)) else list(proc.args)
                return f"`{shlex.join(str(a) for a in argv[:4])}` exited with code {proc.returncode}"
        return None

    return check


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_ok(url: str, timeout: float = 2.0) -> Callable[[], bool]:
    """A readiness check for Service.start: `url` answers 200 (an error while connecting means "not yet")."""

    def check() -> bool:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200

    return check


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), or None if unreadable."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[-1].split()
    except OSError:
        return None


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _stat(pid)
    return fields is None or fields[0] != "Z"


def _start_time(pid: int) -> str | None:
    """When the process started (clock ticks since boot): with the pid, it tells a recycled pid from the original."""
    fields = _stat(pid)
    return fields[19] if fields else None


def read_pid(pid_file: Path) -> int | None:
    """The pid recorded in `pid_file` if that very process is still alive, else None."""
    try:
        pid_text, *started = pid_file.read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    _reap()
    if not pid_alive(pid) or (started and started[0] != _start_time(pid)):
        return None
    return pid


def _write_pid(pid_file: Path, pid: int) -> None:
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(f"{pid} {_start_time(pid) or ''}".strip())


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


def _reap() -> None:
    for pid, proc in list(_children.items()):
        if proc.poll() is not None:
            del _children[pid]


def group_alive(pgid: int) -> bool:
    """Whether any live (not zombie) process is in process group `pgid`."""
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and fields[0] != "Z" and int(fields[2]) == pgid:
                return True
    return False


def _signal(pid: int, sig: int, group: bool = False) -> None:
    try:
        (os.killpg if group else os.kill)(pid, sig)
    except ProcessLookupError:
        pass  # already gone, or nobody left in the group


def _gone(alive: Callable[[], bool], timeout: float, what: str) -> bool:
    """Wait until `alive()` is false, reaping our exited children meanwhile; False if it still holds after `timeout`."""

    def gone() -> bool:
        _reap()
        return not alive()

    try:
        wait_until(gone, timeout, what)
        return True
    except TimeoutError:
        return False


@dataclass(frozen=True)
class Service:
    """One named background process: `<run_dir>/<name>.pid` and `<name>.log`, its own process group."""

    name: str
    run_dir: Path
    stop_timeout: float = 60.0  # how long `stop` waits for the process to stop on its own
    grace: float = 10.0  # then how long the rest of its process group gets after SIGTERM, before SIGKILL

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.run_dir / f"{self.name}.log"

    def pid(self) -> int | None:
        """The running process's pid, or None."""
        return read_pid(self.pid_file)

    def status(self) -> dict[str, object]:
        pid = self.pid()
        return {"pid": pid, "running": pid is not None, "log": str(self.log_file)}

    def start(self, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None,
              ready: Callable[[], object] | None = None, timeout: float = 60.0) -> int:  # fmt: skip
        """Start detached unless already running and return the pid; with `ready`, wait until it returns truthy.

        `env` is the child's whole environment (None: this one's). ServiceError, naming the log file, if the process
        exits or `ready` stays false for `timeout` seconds; a process this call started is stopped first."""
        pid = self.pid()
        started = pid is None
        if pid is None:
            pid = self._spawn(argv, env, cwd)
        else:
            log.info("%s already running (pid %d)", self.name, pid)
        if ready is not None:
            self._wait_ready(pid, ready, timeout, stop_on_failure=started)
        return pid

    def _spawn(self, argv: list[str], env: dict[str, str] | None, cwd: Path | None) -> int:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                    cwd=cwd, start_new_session=True)  # fmt: skip
        _children[proc.pid] = proc
        _write_pid(self.pid_file, proc.pid)
        log.info("%s started (pid %d), log: %s", self.name, proc.pid, self.log_file)
        return proc.pid

    def _wait_ready(self, pid: int, ready: Callable[[], object], timeout: float, stop_on_failure: bool) -> None:
        proc = _children.get(pid)

        def died() -> str | None:
            if proc is not None:
                return None if proc.poll() is None else f"exited with code {proc.returncode}"
            return None if pid_alive(pid) else "exited"

        try:
            wait_until(ready, timeout, f"{self.name} to answer", interval=0.2, abort=died, retry_on=(OSError,))
        except (TimeoutError, WaitAborted) as exc:
            problem = died()
            if stop_on_failure:
                self._end(pid, timeout=5.0, grace=5.0)
                self.pid_file.unlink(missing_ok=True)
            reason = f"{problem} during start-up" if problem else f"did not answer within {timeout:.0f}s"
            raise ServiceError(f"{self.name} {reason}; see {self.log_file}") from exc

    def claim(self) -> None:
        """Record the calling process as this service (a run in the foreground), so `stop` and `status` see it."""
        _write_pid(self.pid_file, os.getpid())

    def request_stop(self) -> bool:
        """Ask the process to stop (SIGTERM to it alone) without waiting; False if it was not running."""
        pid = self.pid()
        if pid is not None:
            _signal(pid, signal.SIGTERM)
        return pid is not None

    def stop(self, timeout: float | None = None, grace: float | None = None) -> bool:
        """Stop the process and everything it started; False if it was not running.

        SIGTERM goes to the process alone first, and it gets `timeout` seconds (default: its `stop_timeout`) to stop
        on its own: the pipeline then finishes the stage it is in and stops Spark itself, so no write is cut off
        mid-way (signalling the whole group would kill the JVM and Spark's Python workers under it). What is left of
        its process group then gets SIGTERM and `grace` seconds, then SIGKILL."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        self._end(pid, self.stop_timeout if timeout is None else timeout, self.grace if grace is None else grace)
        self.pid_file.unlink(missing_ok=True)
        log.info("%s stopped", self.name)
        return True

    def _end(self, pid: int, timeout: float, grace: float) -> None:
        _signal(pid, signal.SIGTERM)
        if not _gone(lambda: pid_alive(pid), timeout, f"{self.name} to stop"):
            log.warning("%s did not stop within %.0fs; stopping its whole process group", self.name, timeout)
        _signal(pid, signal.SIGTERM, group=True)

        def any_left() -> bool:  # a run claimed in the foreground leads no group: then only the process counts
            return pid_alive(pid) or group_alive(pid)

        if not _gone(any_left, grace, f"{self.name}'s process group to stop"):
            log.warning("%s: processes of its group outlived SIGTERM by %.0fs; killing them", self.name, grace)
            _signal(pid, signal.SIGKILL, group=True)
            if pid_alive(pid):
                _signal(pid, signal.SIGKILL)
            if not _gone(any_left, 10.0, f"{self.name}'s process group to die"):
                log.warning("%s: processes of its group are still there after SIGKILL", self.name)

    def tail(self, lines: int = 5) -> list[str]:
        try:
            return self.log_file.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return []


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]
