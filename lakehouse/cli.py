"""One CLI with a subcommand group per package: `lakehouse kafka|pipeline|simulator|governance|up|down|status`."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from lakehouse.kafka_broker import BrokerError, LocalBroker, ensure_kafka
from lakehouse.settings import Settings, SettingsError

log = logging.getLogger("lakehouse")


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")  # fmt: skip
    for noisy in ("py4j", "urllib3", "streamlit"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lakehouse", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    kafka = sub.add_parser("kafka", help="start, check or stop the local Apache Kafka broker (KRaft)")
    kafka.add_argument("action", choices=["start", "status", "stop"])
    kafka.set_defaults(func=_kafka)

    from governance.cli import add_governance_parser
    from lakehouse import stack
    from pipeline.cli import add_pipeline_parser
    from simulator.cli import add_simulator_parser

    add_pipeline_parser(sub)
    add_simulator_parser(sub)
    add_governance_parser(sub)
    stack.add_stack_parsers(sub)
    return parser


def run_group(name: str, add_parser, argv: list[str] | None = None) -> int:
    """`python -m <name> ...`: the same handlers as `lakehouse <name> ...`."""
    parser = argparse.ArgumentParser(prog="python -m")
    parser.add_argument("-v", "--verbose", action="store_true")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        return _dispatch(parser, [name, "--help"])
    return _dispatch(parser, [name, *args])


def main(argv: list[str] | None = None) -> int:
    """Console entry point; a failure raises SystemExit so callers that ignore return values (wheel tasks) see it."""
    code = _dispatch(build_parser(), argv)
    if code:
        raise SystemExit(code)
    return 0


def _dispatch(parser: argparse.ArgumentParser, argv: list[str] | None) -> int:
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    try:
        settings = Settings.from_env()
        return int(args.func(args, settings) or 0)
    except (BrokerError, SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
