"""`up`, `down`, `status`: the whole local stack — broker, history load, simulator, pipeline, dashboard."""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from core.connections import redact
from core.kafka_broker import BrokerError, LocalBroker, ensure_kafka
from core.permissions import make_private, private_paths, restrict_to_owner
from core.postgres import LocalPostgres, PostgresError
from core.service import Service, ServiceError, http_ok, port_open, python_module
from core.settings import Settings

log = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace, Settings], int]

APP = Path(__file__).resolve().parent.parent / "app" / "streamlit_app.py"


def services(settings: Settings) -> dict[str, Service]:
    run_dir = settings.data_dir / "run"
    # the pipeline stops after the stage it is in, and a stage of a cold JVM's first rounds can take most of a minute
    return {"pipeline-stream": Service("pipeline-stream", run_dir, stop_timeout=150.0),
            "dashboard": Service("dashboard", run_dir)}  # fmt: skip


DASHBOARD_START_SECONDS = 60.0


def one_line_errors(handler: Handler) -> Handler:
    """The local PostgreSQL server's and the source database's errors as one line on stderr, exit status 2."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace, settings: Settings) -> int:
        from pipeline.errors import PipelineError
        from simulator.config import ConfigError

        try:
            return handler(args, settings)
        except (PostgresError, ConfigError, PipelineError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    return run


def local_postgres_source(settings: Settings) -> tuple[Settings, dict[str, str]]:
    """Start the project's PostgreSQL server (or reuse it); the settings and the environment variables that make
    every process of the stack use it as the source database."""
    server = LocalPostgres.from_settings(settings)
    url = server.start()
    source = {"SOURCE_DB_URL": url, "SOURCE_DB_USER": server.user, "SOURCE_DB_PASSWORD": server.password}
    return replace(settings, source_db_url=url, source_db_user=server.user, source_db_password=server.password), source


@one_line_errors
def up(args: argparse.Namespace, settings: Settings) -> int:
    from app.config import local_stack_auth
    from pipeline.source_identity import RECORD_DIR, SourceRecord, source_kind, sqlite_identity
    from simulator import control
    from simulator.config import SimulatorConfig
    from simulator.source_db import holds_history

    # a lakehouse loaded from another source database stops here, before a history goes into this one
    record = SourceRecord(settings.checkpoints / RECORD_DIR)
    if args.source == "postgres":
        record.check_kind("postgresql", "the local PostgreSQL server (--source postgres)")
    elif not settings.source_db_is_jdbc:
        record.check(sqlite_identity(settings, settings.checkpoints))
    else:
        record.check_kind(source_kind(settings.source_jdbc_url), redact(settings.source_db_url))
    # the dashboard's one local admin, unless a sign-in is configured (never its default); bad settings stop here
    dashboard_env = {**os.environ, **local_stack_auth(os.environ)}
    make_private(settings)  # data/ holds unmasked personal data: its owner's alone, and so is all written from now
    print("1/5 Kafka ...", flush=True)
    bootstrap = ensure_kafka(settings)
    print(f"    broker at {bootstrap}", flush=True)
    env = dict(os.environ)  # what the stack's processes run with
    if args.source == "postgres":
        print("    source database: the local PostgreSQL server ...", flush=True)
        settings, source = local_postgres_source(settings)
        env.update(source)
        dashboard_env.update(source)  # the Operations page starts the simulator with the dashboard's settings
        print(f"    PostgreSQL at {settings.source_db_url} (user {settings.source_db_user})", flush=True)

    if holds_history(settings) and not args.reload_history:
        print(f"2/5 history: {redact(settings.source_db_url)} holds members, keeping them (use --reload-history "
              "to add more)")  # fmt: skip
    else:
        print(f"2/5 history: {args.days} days of {args.members} members ...", flush=True)
        subprocess.run(python_module("simulator", "history", "--days", str(args.days), "--members",
                                     str(args.members), "--seed", str(args.seed)), env=env, check=True)  # fmt: skip

    print("3/5 pipeline: one batch run over everything (bronze -> silver -> gold) ...", flush=True)
    subprocess.run(python_module("pipeline", "run", "--mode", "batch"), env=env, check=True)
    restrict_to_owner(private_paths(settings))  # Spark sets its own permissions on what it creates

    svc = services(settings)
    print("4/5 live simulator and streaming pipeline ...", flush=True)
    if not control.is_running(settings):
        control.start(settings, SimulatorConfig(members=args.members, seed=args.seed), speed=args.speed)
    svc["pipeline-stream"].start(python_module("pipeline", "run", "--mode", "stream"), env=env)

    print("5/5 dashboard ...", flush=True)
    url = f"http://127.0.0.1:{args.port}"
    if not svc["dashboard"].pid() and port_open("127.0.0.1", args.port):
        raise BrokerError(f"port 127.0.0.1:{args.port} is in use by another process; pass --port")
    try:
        svc["dashboard"].start(python_module("streamlit", "run", str(APP), "--server.port", str(args.port),
                                             "--server.address", "127.0.0.1", "--server.headless", "true",
                                             "--browser.gatherUsageStats", "false"), env=dashboard_env,
                               ready=http_ok(f"{url}/_stcore/health"), timeout=DASHBOARD_START_SECONDS)  # fmt: skip
    except ServiceError as exc:
        print(f"error: {exc}")
        return 1
    print(f"\nThe stack is up. Open {url}\nStop it with: ./dev down")
    return 0


def down(args: argparse.Namespace, settings: Settings) -> int:
    from simulator import control

    for name, svc in services(settings).items():
        if name == "pipeline-stream" and svc.pid() is not None:
            print(f"{name}: stopping after its current stage (up to {svc.stop_timeout:.0f} s)", flush=True)
        print(f"{name}: {'stopped' if svc.stop() else 'not running'}")
    print(f"simulator: {'stopped' if control.stop(settings) else 'not running'}")
    print(f"postgres: {'stopped' if LocalPostgres.from_settings(settings).stop() else 'not running'}")
    if settings.kafka_external:
        print("kafka: external cluster (KAFKA_BOOTSTRAP_SERVERS), left alone")
    else:
        print(f"kafka: {'stopped' if LocalBroker.from_settings(settings).stop() else 'not running'}")
    return 0


def status(args: argparse.Namespace, settings: Settings) -> int:
    from simulator import control

    report: dict[str, object] = {name: svc.status() for name, svc in services(settings).items()}
    report["simulator"] = control.status(settings)
    report["postgres"] = LocalPostgres.from_settings(settings).status()
    report["kafka"] = (
        {"bootstrap": settings.kafka_bootstrap_servers, "external": True}
        if settings.kafka_external
        else LocalBroker.from_settings(settings).status()
    )
    print(json.dumps(report, indent=2, default=str))
    return 0


def add_stack_parsers(sub) -> None:
    up_parser = sub.add_parser("up", help="bring up the whole local stack and print the dashboard URL")
    up_parser.add_argument("--members", type=int, default=200)
    up_parser.add_argument("--days", type=int, default=3, help="days of history loaded on the first run")
    up_parser.add_argument("--seed", type=int, default=42)
    up_parser.add_argument("--speed", type=float, default=1.0, help="live simulator speed (1 = real time)")
    up_parser.add_argument("--port", type=int, default=8501)
    up_parser.add_argument("--reload-history", action="store_true",
                           help="load history even if the source database holds members")  # fmt: skip
    up_parser.add_argument("--source", choices=["url", "postgres"], default="url",
                           help="the source database: `url` is SOURCE_DB_URL (default data/source.db, SQLite); "
                           "`postgres` the project's local PostgreSQL server (./dev postgres), started if needed, "
                           "for every process of the stack")  # fmt: skip
    up_parser.set_defaults(func=up)
    sub.add_parser("down", help="stop everything `up` started").set_defaults(func=down)
    sub.add_parser("status", help="what is running").set_defaults(func=status)
