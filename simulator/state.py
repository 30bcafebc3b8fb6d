"""What a live run keeps under `<data_dir>/simulator/`: its pid and log (a `Service`), and a state file with its
progress, rate and errors as JSON."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import IO

from core.service import Service
from core.settings import Settings

LIVE_STOP_SECONDS = 60.0  # a live run asked to stop flushes what it has queued to Kafka, then exits


class AlreadyRunning(RuntimeError):
    """A live simulator is already running for this data directory."""


def state_dir(settings: Settings) -> Path:
    return settings.data_dir / "simulator"


def state_path(settings: Settings) -> Path:
    return state_dir(settings) / "state.json"


def live_service(settings: Settings) -> Service:
    """The live run as a background process: `live.pid` and `live.log` beside the state file."""
    return Service("live", state_dir(settings), stop_timeout=LIVE_STOP_SECONDS)


def write_state(path: Path, state: dict[str, object]) -> None:
    """Replace the state file atomically, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(path)


def read_state(path: Path) -> dict[str, object] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def current_state(settings: Settings) -> dict[str, object] | None:
    """The last state written, with `running` corrected to False when its process is gone."""
    state = read_state(state_path(settings))
    if state is None:
        return None
    if state.get("running") and live_service(settings).pid() is None:
        state["running"] = False
        state["status"] = "dead" if state.get("status") == "running" else state.get("status")
    return state


def acquire_live_lock(settings: Settings) -> IO[str]:
    """Hold an exclusive lock for the life of a live run and record this process as the live service (started in the
    background or not, `stop` and `status` then see it); AlreadyRunning if another process holds the lock."""
    path = state_dir(settings) / "live.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 - held open until the process exits
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        state = read_state(state_path(settings)) or {}
        raise AlreadyRunning(f"a live simulator is already running (pid {state.get('pid', '?')}); "
                             "stop it first with `python -m simulator stop`") from None  # fmt: skip
    live_service(settings).claim()
    return handle
