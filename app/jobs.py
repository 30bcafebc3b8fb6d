"""Background pipeline runs started from the dashboard, surviving page reruns and dashboard restarts.

Each job is a directory `<data_dir>/jobs/<job_id>/` with `job.json` (command, pid, state) and `output.log`. The job
runs under a small supervisor (`python -m app.jobs supervise DIR`, a `core.service.Service` with `supervisor.pid` and
`supervisor.log` in that directory) that records the exit code, so the state is known even when the dashboard that
started it is gone.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from core.contract import MAINTAIN, STAGES
from core.service import Service

log = logging.getLogger(__name__)

START_GRACE_SECONDS = 30  # a supervisor that has not recorded its pid by then never started
RUNNING, SUCCEEDED, FAILED, STOPPED, LOST = "running", "succeeded", "failed", "stopped", "lost"

# The command a pipeline job runs; the stage flag is appended. Tests swap it for a stand-in.
PIPELINE_COMMAND: tuple[str, ...] = (sys.executable, "-m", "pipeline", "run", "--mode", "batch")
# What a user can run from the dashboard: every stage in order ("all", which never includes maintenance), one of
# them, or one maintenance pass (compaction, retention, VACUUM).
JOB_STAGES: tuple[str, ...] = ("all", *STAGES, MAINTAIN)


class JobRefused(RuntimeError):
    """A job cannot start now (one is already running)."""


@dataclass(frozen=True)
class Job:
    job_id: str
    stage: str  # one of JOB_STAGES
    command: tuple[str, ...]
    started_at: str  # ISO 8601 UTC
    pid: int | None = None
    state: str = RUNNING
    returncode: int | None = None
    finished_at: str | None = None

    @property
    def started(self) -> datetime:
        return datetime.fromisoformat(self.started_at)

    @property
    def finished(self) -> datetime | None:
        return datetime.fromisoformat(self.finished_at) if self.finished_at else None

    @property
    def stages(self) -> tuple[str, ...]:
        return STAGES if self.stage == "all" else (self.stage,)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _write(path: Path, job: Job) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(job), indent=2))
    tmp.replace(path)


def _read(path: Path) -> Job:
    raw = json.loads(path.read_text())
    raw["command"] = tuple(raw["command"])
    return Job(**raw)


def pipeline_command(stage: str, command: Sequence[str] | None = None) -> tuple[str, ...]:
    """The command a job of `stage` (one of JOB_STAGES) runs: `command` (default PIPELINE_COMMAND) and its stage."""
    if stage not in JOB_STAGES:
        raise ValueError(f"unknown stage {stage!r}; choose one of {', '.join(JOB_STAGES)}")
    return tuple(command or PIPELINE_COMMAND) + (() if stage == "all" else ("--stage", stage))


def supervisor(directory: Path) -> Service:
    """The job's supervisor process: `supervisor.pid` and `supervisor.log` in the job's directory."""
    return Service("supervisor", directory)


class JobManager:
    """Start, list, inspect and stop the dashboard's background pipeline jobs under one directory."""

    def __init__(self, jobs_dir: Path, cwd: Path | None = None) -> None:
        self.jobs_dir = jobs_dir
        self.cwd = cwd or Path.cwd()

    def _dir(self, job_id: str) -> Path:
        return self.jobs_dir / job_id

    def start_pipeline(self, stage: str = "all", command: Sequence[str] | None = None) -> Job:
        cmd = pipeline_command(stage, command)
        if any(j.state == RUNNING for j in self.jobs()):
            raise JobRefused("A pipeline run is already in progress; wait for it or stop it first.")
        job = Job(job_id=f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{stage}-{uuid.uuid4().hex[:6]}", stage=stage,
                  command=cmd, started_at=_now())  # fmt: skip
        directory = self._dir(job.job_id)
        directory.mkdir(parents=True)
        _write(directory / "job.json", job)
        # The pid goes to the service's pid file: rewriting job.json here could undo a final state the supervisor wrote.
        pid = supervisor(directory).start([sys.executable, "-m", "app.jobs", "supervise", str(directory)], cwd=self.cwd)
        log.info("started pipeline job %s (pid %d): %s", job.job_id, pid, " ".join(cmd))
        return replace(job, pid=pid)

    def get(self, job_id: str) -> Job:
        """The job with its state brought up to date (a supervisor that died without a word makes it `lost`)."""
        path = self._dir(job_id) / "job.json"
        job = _read(path)
        service = supervisor(self._dir(job_id))
        pid = service.pid()
        job = replace(job, pid=job.pid or pid)
        started = service.pid_file.exists()
        never_started = not started and (datetime.now(UTC) - job.started).total_seconds() > START_GRACE_SECONDS
        if job.state == RUNNING and pid is None and (started or never_started):
            job = replace(_read(path), pid=job.pid)  # the supervisor may have written its final state just now
            if job.state == RUNNING:
                stopped = (self._dir(job_id) / "stop-requested").exists()
                job = replace(job, state=STOPPED if stopped else LOST, finished_at=_now())
                _write(path, job)
        return job

    def jobs(self, limit: int = 20) -> list[Job]:
        """Most recent first."""
        if not self.jobs_dir.exists():
            return []
        ids = sorted((p.name for p in self.jobs_dir.iterdir() if (p / "job.json").exists()), reverse=True)
        return [self.get(i) for i in ids[:limit]]

    def stop(self, job_id: str) -> Job:
        """Ask the job to stop without waiting: its supervisor passes SIGTERM on and records the job as stopped."""
        job = self.get(job_id)
        if job.state == RUNNING:
            (self._dir(job_id) / "stop-requested").touch()
            supervisor(self._dir(job_id)).request_stop()
        return job

    def log_tail(self, job_id: str, lines: int = 15) -> str:
        path = self._dir(job_id) / "output.log"
        if not path.exists():
            return ""
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 16384))
            text = fh.read().decode("utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def supervise(directory: Path) -> int:
    """Run the job's command with its output in `output.log`, then record how it ended."""
    path = directory / "job.json"
    job = replace(_read(path), pid=os.getpid())
    _write(path, job)
    stopped = False

    def on_term(signum: int, _frame: object) -> None:
        nonlocal stopped
        stopped = True
        if child is not None:
            child.send_signal(signum)

    child: subprocess.Popen | None = None
    signal.signal(signal.SIGTERM, on_term)
    with (directory / "output.log").open("ab") as out:
        try:
            child = subprocess.Popen(job.command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            rc = child.wait()
        except OSError as exc:
            out.write(f"cannot start {job.command[0]}: {exc}\n".encode())
            rc = 127
    state = STOPPED if stopped else (SUCCEEDED if rc == 0 else FAILED)
    _write(path, replace(_read(path), state=state, returncode=rc, finished_at=_now()))
    return rc


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "supervise":
        raise SystemExit(supervise(Path(sys.argv[2])))
    print("usage: python -m app.jobs supervise JOB_DIR", file=sys.stderr)
    raise SystemExit(2)
