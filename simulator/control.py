"""Start, stop and query a background live simulator without blocking (the dashboard's API).

start(settings, SimulatorConfig(members=200), speed=60)  # spawns `python -m simulator live ...`, returns at once
status(settings)  # {"running": bool, "pid", "rate", "events_sent", "errors", ...}
stop(settings)  # SIGTERM, wait for the flush; False if none was running
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from core.settings import Settings
from simulator.config import SimulatorConfig
from simulator.state import current_state, log_path, pid_alive, state_path, write_state

PROJECT_ROOT = Path(__file__).resolve().parent.parent
_children: dict[int, subprocess.Popen] = {}


class SimulatorControlError(RuntimeError):
    """The request cannot be done, e.g. a second start while one runs; the message is one line for the user."""


def _reap() -> None:
    for pid, proc in list(_children.items()):
        if proc.poll() is not None:
            del _children[pid]


def child_env(settings: Settings) -> dict[str, str]:
    """Environment that makes the child's Settings.from_env() equal these settings."""
    env = dict(os.environ)
    env.update({
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": settings.kafka_topic_prefix,
        "SOURCE_DB_URL": str(Path(settings.source_db_url).resolve()) if not settings.source_db_is_jdbc
        else settings.source_db_url,
        "LAKEHOUSE_DIR": str(settings.lakehouse_dir.resolve()),
        "LAKEHOUSE_DATA_DIR": str(settings.data_dir.resolve()),
        "LAKEHOUSE_CACHE_DIR": str(settings.cache_dir),
        "PYTHONPATH": os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p),
    })  # fmt: skip
    connection = {  # Kafka security and the secret scope: set as in `settings`, or absent
        "KAFKA_SECURITY_PROTOCOL": settings.kafka_security_protocol,
        "KAFKA_SASL_MECHANISM": settings.kafka_sasl_mechanism,
        "KAFKA_SASL_USERNAME": settings.kafka_sasl_username,
        "KAFKA_SASL_PASSWORD": settings.kafka_sasl_password,
        "KAFKA_SSL_CA_LOCATION": settings.kafka_ssl_ca_location,
        "LAKEHOUSE_SECRET_SCOPE": settings.secret_scope,
    }
    for name, value in connection.items():
        if value:
            env[name] = value
        else:
            env.pop(name, None)
    return env


def live_args(config: SimulatorConfig, speed: float, duration: float | None) -> list[str]:
    """The `python -m simulator live` arguments that reproduce `config`."""
    f = config.faults
    flags = {"members": config.members, "seed": config.seed, "speed": float(speed), "bpm-interval": config.bpm_interval,
             "rest-interval": config.rest_interval, "gyms": config.gyms,
             "profile-update-rate": config.profile_update_rate, "dup-rate": f.dup_rate, "late-rate": f.late_rate,
             "late-max-minutes": f.late_max_minutes, "ooo-profile-rate": f.ooo_profile_rate,
             "malformed-rate": f.malformed_rate, "outlier-rate": f.outlier_rate, "duration": duration}  # fmt: skip
    return ["live", *(arg for name, value in flags.items() if value is not None for arg in (f"--{name}", repr(value)))]


def is_running(settings: Settings) -> bool:
    _reap()
    return bool(status(settings).get("running"))


def status(settings: Settings) -> dict[str, object]:
    """The live simulator's last reported state (`running` False when none runs); never blocks."""
    _reap()
    state = current_state(settings)
    return state if state is not None else {"running": False, "status": "never started"}


def start(settings: Settings, config: SimulatorConfig | None = None, speed: float = 1.0,
          duration: float | None = None) -> dict[str, object]:  # fmt: skip
    """Spawn a detached `python -m simulator live ...` and return at once; SimulatorControlError if one is running."""
    config = (config or SimulatorConfig()).validate()
    if not speed > 0:
        raise SimulatorControlError(f"speed must be positive, got {speed}")
    current = status(settings)
    if current.get("running"):
        raise SimulatorControlError(f"a live simulator is already running (pid {current.get('pid')}); stop it first")
    log = log_path(settings)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "simulator", *live_args(config, speed, duration)],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                env=child_env(settings), start_new_session=True)  # fmt: skip
    _children[proc.pid] = proc
    state = {"pid": proc.pid, "running": True, "status": "starting", "mode": "live", "events_sent": 0,
             "errors": 0, "rate": 0.0, "log": str(log)}  # fmt: skip
    if current_state(settings) is None or not pid_alive(int(current_state(settings).get("pid") or 0)):
        write_state(state_path(settings), state)
    return state


def stop(settings: Settings, timeout: float = 60.0) -> bool:
    """SIGTERM the live simulator and wait (up to `timeout`, then SIGKILL) until it has exited."""
    state = current_state(settings)
    pid = int((state or {}).get("pid") or 0)
    if not pid or not pid_alive(pid):
        _reap()
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        _reap()
        time.sleep(0.05)  # waiting for another process to exit; bounded by the deadline
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
    _reap()
    return True
