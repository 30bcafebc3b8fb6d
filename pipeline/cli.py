"""`pipeline run --mode batch|stream [--stage bronze|silver|gold|maintain|all]` — the contract's entry points."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from core.contract import MAINTAIN, STAGES
from core.settings import Settings
from pipeline.errors import PipelineError, first_line

log = logging.getLogger(__name__)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from core.spark import get_spark
    from pipeline.runner import run_batch, run_stream
    from pipeline.storage import Lakehouse

    stages = STAGES if args.stage == "all" else (args.stage,)
    if args.mode == "stream":
        # install handlers before Spark starts, so SIGINT/SIGTERM during start-up also stop cleanly
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    try:
        lh = Lakehouse(get_spark(settings, app_name=f"pipeline-{args.stage}-{args.mode}"), settings)
        if args.mode == "batch" or args.stage in ("setup", MAINTAIN):
            counts = run_batch(lh, stages)
            log.info("batch run finished: %s", ", ".join(f"{k}={v} rows in" for k, v in counts.items()))
        else:
            run_stream(lh, stages, stop, args.interval)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - one clear line for the user; details in the log
        log.debug("pipeline failed", exc_info=True)
        print(f"error: pipeline failed: {first_line(exc, 500)}", file=sys.stderr)
        return 1
    return 0


def add_pipeline_parser(sub) -> None:
    pipeline = sub.add_parser("pipeline", help="run the medallion pipeline (bronze, silver, gold)")
    pipeline_sub = pipeline.add_subparsers(dest="pipeline_command", required=True)
    run_parser = pipeline_sub.add_parser("run", help="run every stage, or one, as a batch or a continuous stream")
    run_parser.add_argument("--mode", choices=["batch", "stream"], default="batch")
    run_parser.add_argument(
        "--stage",
        choices=["setup", *STAGES, MAINTAIN, "all"],
        default="all",
        help="one stage (setup creates the tables; every run does it first; maintain compacts, retires and vacuums "
        "the tables, one pass), or all in order (maintenance not included: a stream runs it on a schedule)",
    )
    run_parser.add_argument("--interval", type=float, default=2.0, help="seconds between stream rounds")
    run_parser.set_defaults(func=run)


def main(argv: list[str] | None = None) -> int:
    from core.cli import run_group

    return run_group("pipeline", add_pipeline_parser, argv)
