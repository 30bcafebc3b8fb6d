"""What every package's command-line group shares: logging set-up and running one group on its own."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from core.connections import RedactingFilter
from core.kafka_broker import BrokerError
from core.settings import Settings, SettingsError

AddParser = Callable[[argparse._SubParsersAction], None]


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")  # fmt: skip
    for handler in logging.getLogger().handlers:  # no credential of a connection string reaches a log
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    for noisy in ("py4j", "urllib3", "streamlit"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run_group(name: str, add_parser: AddParser, argv: list[str] | None = None) -> int:
    """`python -m <name> ...`: the same handlers as `lakehouse <name> ...`."""
    parser = argparse.ArgumentParser(prog="python -m")
    parser.add_argument("-v", "--verbose", action="store_true")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        return dispatch(parser, [name, "--help"])
    return dispatch(parser, [name, *args])


def dispatch(parser: argparse.ArgumentParser, argv: list[str] | None) -> int:
    """Parse, set up logging, build the settings once and run the chosen handler; bad settings are one line."""
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
