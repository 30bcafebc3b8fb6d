"""Start, stop and query a background live simulator without blocking (the dashboard's API).

start(settings, SimulatorConfig(members=200), speed=60)  # spawns `python -m simulator live ...`, returns at once
status(settings)  # {"running": bool, "pid", "rate", "events_sent", "errors", ...}
stop(settings)  # SIGTERM, wait for the flush; False if none was running

The run is a `core.service.Service` (`<data_dir>/simulator/live.pid` and `live.log`); its progress is in the state
file it keeps beside them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from core.settings import Settings
from simulator.config import SimulatorConfig
from simulator.state import current_state, live_service, read_state, state_path, write_state

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SimulatorControlError(RuntimeError):
    """The request cannot be done, e.g. a second start while one runs; the message is one line for the user."""


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
        "SOURCE_DB_WRITERS": str(settings.source_db_writers),
        "PYTHONPATH": os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p),
    })  # fmt: skip
    connection = {  # credentials, Kafka security and the secret scope: set as in `settings`, or absent
        "KAFKA_SECURITY_PROTOCOL": settings.kafka_security_protocol,
        "KAFKA_SASL_MECHANISM": settings.kafka_sasl_mechanism,
        "KAFKA_SASL_USERNAME": settings.kafka_sasl_username,
        "KAFKA_SASL_PASSWORD": settings.kafka_sasl_password,
        "KAFKA_SSL_CA_LOCATION": settings.kafka_ssl_ca_location,
        "SOURCE_DB_USER": settings.source_db_user,
        "SOURCE_DB_PASSWORD": settings.source_db_password,
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
    return bool(status(settings).get("running"))


def status(settings: Settings) -> dict[str, object]:
    """The live simulator's last reported state (`running` False when none runs); never blocks."""
    state = current_state(settings)
    return state if state is not None else {"running": False, "status": "never started"}


def start(settings: Settings, config: SimulatorConfig | None = None, speed: float = 1.0,
          duration: float | None = None) -> dict[str, object]:  # fmt: skip
    """Spawn a detached `python -m simulator live ...` and return at once; SimulatorControlError if one is running."""
    config = (config or SimulatorConfig()).validate()
    if not speed > 0:
        raise SimulatorControlError(f"speed must be positive, got {speed}")
    service = live_service(settings)
    running = service.pid()
    if running is not None:
        raise SimulatorControlError(f"a live simulator is already running (pid {running}); stop it first")
    pid = service.start([sys.executable, "-m", "simulator", *live_args(config, speed, duration)],
                        env=child_env(settings))  # fmt: skip
    state = {"pid": pid, "running": True, "status": "starting", "mode": "live", "events_sent": 0,
             "errors": 0, "rate": 0.0, "log": str(service.log_file)}  # fmt: skip
    if (read_state(state_path(settings)) or {}).get("pid") != pid:  # unless the run has reported already
        write_state(state_path(settings), state)
    return state


def stop(settings: Settings, timeout: float | None = None) -> bool:
    """Ask the live simulator to stop and wait until it has flushed and exited (SIGKILL after `timeout` seconds)."""
    return live_service(settings).stop(timeout=timeout)
