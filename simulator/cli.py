"""`simulator history|live|status|stop`: thin commands over the engine, shared by `python -m simulator` and
`lakehouse simulator`."""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from core.kafka_broker import BrokerError
from core.settings import Settings, SettingsError
from simulator import control
from simulator.config import ENCODINGS, ConfigError, FaultConfig, SimulatorConfig
from simulator.engine import run_history, run_live
from simulator.state import AlreadyRunning, acquire_live_lock, state_path, write_state

log = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace, Settings], int]
USER_ERRORS = (ConfigError, BrokerError, SettingsError, AlreadyRunning, control.SimulatorControlError)


def guarded(handler: Handler) -> Handler:
    """Turn configuration errors into one line on stderr and exit code 2, whichever CLI dispatches."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace, settings: Settings) -> int:
        try:
            return handler(args, settings)
        except USER_ERRORS as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    return run


def parse_time(text: str) -> float:
    """Epoch seconds or an ISO-8601 time (UTC unless it says otherwise)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not epoch seconds or an ISO-8601 time: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def with_writers(args: argparse.Namespace, settings: Settings) -> Settings:
    """The settings with `--writers`, when given, as the number of source-database connections."""
    if args.writers is None:
        return settings
    if args.writers < 1:
        raise ConfigError(f"--writers must be 1 or more, got {args.writers}")
    return replace(settings, source_db_writers=args.writers)


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    faults = FaultConfig(dup_rate=args.dup_rate, late_rate=args.late_rate, late_max_minutes=args.late_max_minutes,
                         ooo_profile_rate=args.ooo_profile_rate, malformed_rate=args.malformed_rate,
                         outlier_rate=args.outlier_rate)  # fmt: skip
    return SimulatorConfig(members=args.members, seed=args.seed, bpm_interval=args.bpm_interval,
                           rest_interval=args.rest_interval, gyms=args.gyms,
                           profile_update_rate=args.profile_update_rate, faults=faults,
                           encoding=args.encoding).validate()  # fmt: skip


def stop_on_signals() -> threading.Event:
    """An event set by SIGINT or SIGTERM, so runs stop between records and flush."""
    stop = threading.Event()

    def handle(signum: int, _frame: object) -> None:
        log.info("received %s: stopping after the records already queued", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
    return stop


@guarded
def history_command(args: argparse.Namespace, settings: Settings) -> int:
    if not args.days > 0:
        raise ConfigError(f"--days must be positive, got {args.days}")
    config = config_from_args(args)
    settings = with_writers(args, settings)
    stop = stop_on_signals()
    stats = run_history(settings, config, args.days, end=args.end, progress=not args.no_progress, stop=stop,
                        event_timestamps=args.event_timestamps)  # fmt: skip
    print(json.dumps(stats.as_dict()))
    return 130 if stop.is_set() else 0  # interrupted: what was sent is complete records, but not all days


@guarded
def live_command(args: argparse.Namespace, settings: Settings) -> int:
    if not args.speed > 0:
        raise ConfigError(f"--speed must be positive, got {args.speed}")
    if args.duration is not None and not args.duration > 0:
        raise ConfigError(f"--duration must be positive, got {args.duration}")
    config = config_from_args(args)
    settings = with_writers(args, settings)
    lock = acquire_live_lock(settings)
    path = state_path(settings)

    def report(state: dict[str, object]) -> None:
        write_state(path, {"pid": os.getpid(), **state})

    report({"running": True, "status": "starting", "mode": "live", "events_sent": 0, "errors": 0, "rate": 0.0})
    try:
        stats = run_live(settings, config, speed=args.speed, duration=args.duration, stop=stop_on_signals(),
                         report=report)  # fmt: skip
    except USER_ERRORS as exc:
        report({"running": False, "status": "failed", "mode": "live", "error": str(exc)})
        raise
    finally:
        lock.close()
    print(json.dumps(stats.as_dict()))
    return 0


@guarded
def status_command(args: argparse.Namespace, settings: Settings) -> int:
    state = control.status(settings)
    print(json.dumps(state, indent=2))
    return 0 if state.get("running") else 3


@guarded
def stop_command(args: argparse.Namespace, settings: Settings) -> int:
    if control.stop(settings, timeout=args.timeout):
        print("stopped")
    else:
        print("no simulator was running")
    return 0


def _add_population_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--members", type=int, default=100, help="members to simulate (default 100)")
    parser.add_argument("--seed", type=int, default=42, help="random seed: the same seed gives the same events")
    parser.add_argument("--bpm-interval", type=float, default=5.0, help="seconds between workout heart-rate samples")
    parser.add_argument("--rest-interval", type=float, default=300.0,
                        help="seconds between resting heart-rate samples; 0 turns them off")  # fmt: skip
    parser.add_argument("--gyms", type=int, default=0, help="number of gyms (default: one per 200 members, 2-50)")
    parser.add_argument("--profile-update-rate", type=float, default=round(1 / 90, 6),
                        help="profile edits per member per day (default 1/90)")  # fmt: skip
    parser.add_argument("--encoding", choices=ENCODINGS, default="compact",
                        help="record values in the simulator's compact layout (default) or as any JSON encoder might "
                        "write them: shuffled fields, spaces, extra members")  # fmt: skip
    parser.add_argument("--writers", type=int, default=None,
                        help="concurrent connections writing a PostgreSQL source database, each batch cut over "
                        "them in separate transactions (default: SOURCE_DB_WRITERS, else 1; SQLite has one "
                        "writer)")  # fmt: skip
    faults = parser.add_argument_group("fault injection (probabilities per record; all off by default)")
    faults.add_argument("--dup-rate", type=float, default=0.0, help="records sent twice")
    faults.add_argument("--late-rate", type=float, default=0.0, help="records sent late")
    faults.add_argument("--late-max-minutes", type=float, default=60.0, help="greatest delay of a late record")
    faults.add_argument("--ooo-profile-rate", type=float, default=0.0,
                        help="profile updates followed by an older image with a higher change_id")  # fmt: skip
    faults.add_argument("--malformed-rate", type=float, default=0.0,
                        help="extra malformed records (not JSON, not an object, missing field, wrong type, "
                        "negative id, bad action, gym logout not after login)")  # fmt: skip
    faults.add_argument("--outlier-rate", type=float, default=0.0, help="heart-rate readings of 0 or 300 bpm")


def add_commands(sub: argparse._SubParsersAction) -> None:
    """The four commands, on any subparsers object."""
    history = sub.add_parser("history", help="generate D days of past data ending now, as fast as possible",
                             description="Generate D days of past data ending now (or --end) as fast as possible, "
                             "write the source database and Kafka, then exit.")  # fmt: skip
    history.add_argument("--days", type=float, default=7.0, help="days of history (default 7)")
    history.add_argument("--end", type=parse_time, default=None, help="end of the history (default now)")
    history.add_argument("--no-progress", action="store_true", help="no progress bar")
    history.add_argument("--event-timestamps", action="store_true",
                         help="Kafka timestamps = simulated send times, not now (slower: no batching)")  # fmt: skip
    _add_population_args(history)
    history.set_defaults(func=history_command)

    live = sub.add_parser("live", help="emit events in real time (or --speed times faster) until stopped",
                          description="Emit events as they happen, in real time or --speed times faster, until "
                          "SIGINT/SIGTERM or --duration; keeps a state file for `status` and `stop`.")  # fmt: skip
    live.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second (default 1)")
    live.add_argument("--duration", type=float, default=None, help="stop after this many real seconds")
    _add_population_args(live)
    live.set_defaults(func=live_command)

    status = sub.add_parser("status", help="print the running live simulator's state as JSON",
                            description="Print the live simulator's state (pid, rate, events sent, errors) as JSON; "
                            "exit 3 when none is running.")  # fmt: skip
    status.set_defaults(func=status_command)

    stop = sub.add_parser("stop", help="stop the running live simulator and wait for it to exit",
                          description="Send SIGTERM to the running live simulator and wait until it has flushed "
                          "and exited.")  # fmt: skip
    stop.add_argument("--timeout", type=float, default=60.0, help="seconds to wait before SIGKILL (default 60)")
    stop.set_defaults(func=stop_command)


def add_simulator_parser(sub: argparse._SubParsersAction) -> None:
    """Register the `simulator` command group on the project CLI."""
    parser = sub.add_parser(
        "simulator",
        help="the event simulator: history, live, status, stop",
        description="Event simulator: members, wristbands and gyms writing to the source database and Kafka.",
    )
    add_commands(parser.add_subparsers(dest="simulator_command", required=True, metavar="COMMAND"))


def main(argv: list[str] | None = None) -> int:
    """`python -m simulator`: the same handlers as `lakehouse simulator`."""
    from core.cli import run_group

    return run_group("simulator", add_simulator_parser, argv)
