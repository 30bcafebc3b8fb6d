"""A thin, defensive adapter over the simulator's control API (`simulator.control`: start, stop, status).

The module is imported lazily; when it or one of its functions is missing (or fails to import) the dashboard says
"simulator controls unavailable" instead of failing.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Callable
from typing import Any

from core.settings import Settings

log = logging.getLogger(__name__)

MODULE = "simulator.control"
STOP_TIMEOUT_SECONDS = 20.0


class SimulatorUnavailable(RuntimeError):
    """The simulator's control API is not there (yet)."""


class SimulatorRefused(RuntimeError):
    """The simulator refused the request, e.g. a second start while a run is live."""


def _function(name: str) -> Callable[..., Any]:
    try:
        module = importlib.import_module(MODULE)
    except Exception as exc:  # noqa: BLE001 - a half-written module may fail in any way
        raise SimulatorUnavailable(f"simulator controls unavailable ({MODULE}: {exc})") from exc
    fn = getattr(module, name, None)
    if not callable(fn):
        raise SimulatorUnavailable(f"simulator controls unavailable ({MODULE} has no {name}())")
    return fn


def unavailable_reason() -> str | None:
    """Why the controls cannot be used, or None when start, stop and status are all there."""
    try:
        for name in ("start", "stop", "status"):
            _function(name)
    except SimulatorUnavailable as exc:
        return str(exc)
    return None


def status(settings: Settings) -> dict[str, Any]:
    """`{"running": bool, "status", "rate", "events_sent", "errors", "last_error", ...}`; never blocks."""
    result = _function("status")(settings)
    state = dict(result) if isinstance(result, dict) else {}
    state.setdefault("running", False)
    return state


def _members_argument(fn: Callable[..., Any], members: int) -> dict[str, Any]:
    """`start(settings, config=SimulatorConfig(members=...), speed=...)`; an older draft took `members=` directly."""
    params = inspect.signature(fn).parameters
    if "config" in params:
        from simulator.config import SimulatorConfig

        return {"config": SimulatorConfig(members=members)}
    return {"members": members}


def start(settings: Settings, members: int, speed: float) -> dict[str, Any]:
    """Start a live run in the background; `SimulatorRefused` when one is running already or the values are bad."""
    fn = _function("start")
    try:
        result = fn(settings, speed=speed, **_members_argument(fn, members))
    except Exception as exc:  # noqa: BLE001 - SimulatorControlError, ConfigError, ...: one line for the user
        raise SimulatorRefused(str(exc) or type(exc).__name__) from exc
    return dict(result) if isinstance(result, dict) else {}


def stop(settings: Settings) -> bool:
    """Stop the live run and wait for it to flush; False when none was running."""
    fn = _function("stop")
    try:
        return bool(fn(settings, timeout=STOP_TIMEOUT_SECONDS))
    except Exception as exc:  # noqa: BLE001
        raise SimulatorRefused(str(exc) or type(exc).__name__) from exc
