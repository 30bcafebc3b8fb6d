"""The top floor's one console entry: `lakehouse <group> ...`, a group per package, plus the local stack."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from app.cli import add_app_parser
from core.cli import dispatch
from core.cluster import StandaloneCluster
from core.connections import REDACTED
from core.kafka_broker import LocalBroker, ensure_kafka
from core.postgres import DEFAULT_PORT, LocalPostgres
from core.service import pid_alive
from core.settings import Settings
from governance.cli import add_governance_parser
from lakehouse import stack
from pipeline.cli import add_pipeline_parser
from simulator.cli import add_simulator_parser


def _kafka(args: argparse.Namespace, settings: Settings) -> int:
    broker = LocalBroker.from_settings(settings)
    if args.action == "start":
        bootstrap = ensure_kafka(settings)
        print(f"Kafka ready at {bootstrap}; topics: {', '.join(settings.topics.values())}")
    elif args.action == "stop":
        if settings.kafka_external:
            print("KAFKA_BOOTSTRAP_SERVERS is set: the project started no broker, so there is none to stop")
        else:
            print("stopped" if broker.stop() else "no local broker was running")
    else:
        status = broker.status() if not settings.kafka_external else {"bootstrap": settings.kafka_bootstrap_servers,
                                                                       "external": True}  # fmt: skip
        print(json.dumps(status, indent=2))
        return 0 if settings.kafka_external or status["running"] else 3
    return 0


@stack.one_line_errors
def _postgres(args: argparse.Namespace, settings: Settings) -> int:
    server = LocalPostgres.from_settings(settings, port=args.port)
    if args.action == "start":
        url = server.start()
        password = server.password if args.show_password else REDACTED
        print(f"PostgreSQL ready; to use it as the source database:\nexport SOURCE_DB_URL={url}\n"
              f"export SOURCE_DB_USER={server.user}\nexport SOURCE_DB_PASSWORD={password}")  # fmt: skip
        if not args.show_password:
            print(f"(the password is in {server.data_dir / 'password'}; --show-password prints it)")
    elif args.action == "stop":
        print("stopped" if server.stop() else "no local PostgreSQL server was running")
    else:
        status = server.status()
        print(json.dumps(status, indent=2))
        return 0 if status["running"] else 3
    return 0


def _cluster(args: argparse.Namespace, settings: Settings) -> int:
    running = StandaloneCluster.from_state(args.dir)
    if args.action == "start":
        if running is not None and "master" in running.pids and pid_alive(running.pids["master"]):
            print(f"already running: {running.master_url}")
            return 0
        cluster = StandaloneCluster(work_dir=args.dir, workers=args.workers, cores=args.cores, memory=args.memory,
                                    port=args.port, webui_port=args.webui_port)  # fmt: skip
        print(f"SPARK_MASTER={cluster.start()}  (master UI {cluster.master_ui}, logs {args.dir / 'logs'})")
    elif args.action == "status":
        if running is None:
            print("no cluster started from", args.dir)
            return 3
        try:
            status = running.status()
        except OSError as exc:
            print(f"{running.master_url}: master not reachable ({exc})")
            return 3
        workers = [w for w in status.get("workers", []) if w.get("state") == "ALIVE"]
        print(json.dumps({"master_url": running.master_url, "status": status.get("status"), "alive_workers":
                          len(workers), "active_apps": [a.get("name") for a in status.get("activeapps", [])]},
                         indent=2))  # fmt: skip
    else:
        if running is None:
            print("no cluster started from", args.dir)
            return 0
        running.stop()
        print("stopped")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lakehouse", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    kafka = sub.add_parser("kafka", help="start, check or stop the local Apache Kafka broker (KRaft)")
    kafka.add_argument("action", choices=["start", "status", "stop"])
    kafka.set_defaults(func=_kafka)

    postgres = sub.add_parser("postgres", help="start, check or stop the local PostgreSQL server (a source database)",
                              description="The project's own PostgreSQL server from Debian's package: data under "
                              "data/postgres, 127.0.0.1 only, a `lakehouse` database and `lake` role with a "
                              "generated password. `start` prints the SOURCE_DB_* settings that point the project "
                              "at it.")  # fmt: skip
    postgres.add_argument("action", choices=["start", "status", "stop"])
    postgres.add_argument("--port", type=int, default=None,
                          help=f"port on 127.0.0.1 (default: the one it last used, else {DEFAULT_PORT})")  # fmt: skip
    postgres.add_argument("--show-password", action="store_true",
                          help="print the role's password instead of *** (it stays out of logs)")  # fmt: skip
    postgres.set_defaults(func=_postgres)

    cluster = sub.add_parser("cluster", help="a Spark standalone cluster on this machine (SPARK_MASTER's default)")
    cluster.add_argument("action", choices=["start", "status", "stop"])
    cluster.add_argument("--dir", type=Path, default=Path("data/spark-cluster"), help="logs, scratch and state")
    cluster.add_argument("--port", type=int, default=7077)
    cluster.add_argument("--webui-port", type=int, default=8080)
    cluster.add_argument("--workers", type=int, default=2)
    cluster.add_argument("--cores", type=int, default=1, help="cores per worker")
    cluster.add_argument("--memory", default="1g", help="memory per worker for its executors")
    cluster.set_defaults(func=_cluster)

    add_pipeline_parser(sub)
    add_simulator_parser(sub)
    add_governance_parser(sub)
    add_app_parser(sub)
    stack.add_stack_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Console entry point; a failure raises SystemExit so callers that ignore return values (wheel tasks) see it."""
    code = dispatch(build_parser(), argv)
    if code:
        raise SystemExit(code)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
