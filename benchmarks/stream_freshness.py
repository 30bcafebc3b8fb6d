"""Stream freshness: time from producing a workout's stop record to its row being visible in
gold.workout_bpm_summary, p50/p95/max, at a steady produce rate, with the consumer lag sampled to show whether it grows.

    python -m benchmarks stream_freshness [--rate 10000] [--minutes 5] [--members 1000] [--session-seconds 30]

Registrations go into a fresh source database up front; one producer thread (confluent-kafka, paced by the wall
clock) sends heart-rate readings round-robin over every member's device and a start/stop pair per workout session,
with event times equal to the wall clock, so each session completes as its stop is produced. The pipeline runs as
`pipeline.runner.run_stream` in a thread of this process; a poller reads the gold table with `deltalake` (no Spark)
about once a second and records when each session first appears. Lag = Kafka end offsets - (max offset in
bronze.kafka_multiplex_bz + 1), summed over partitions, every ~10 s. Target: freshness p95 under 30 s.
Uses the cluster in KAFKA_BOOTSTRAP_SERVERS if set (with a unique topic prefix), else a throwaway local broker.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.freshness.load import RecordBuilder, Shared, Workload, produce, register_members
from benchmarks.freshness.probe import delta_table, stream_stage_runs, watch
from benchmarks.freshness.report import Result, report, result_line
from benchmarks.kafka import benchmark_kafka
from benchmarks.pipeline_batch import StepCapture, code_version, uptime
from core.kafka_broker import create_topics
from core.service import wait_until
from core.settings import Settings

log = logging.getLogger(__name__)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks stream_freshness", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--rate", type=float, default=10_000, help="records per second, all topics together")
    parser.add_argument("--minutes", type=float, default=5.0, help="length of the measured window")
    parser.add_argument("--warmup-seconds", type=float, default=30.0, help="producing before the window opens")
    parser.add_argument("--drain-seconds", type=float, default=300.0,
                        help="after producing, wait at most this long for the window's sessions in gold")  # fmt: skip
    parser.add_argument("--members", type=int, default=1000, help="members (devices) the records spread over")
    parser.add_argument("--session-seconds", type=float, default=30.0, help="length of each workout session")
    parser.add_argument("--gap-seconds", type=float, default=10.0, help="rest between a member's sessions")
    parser.add_argument("--interval", type=float, default=2.0, help="the stream's seconds between rounds")
    parser.add_argument("--poll-seconds", type=float, default=1.0, help="how often gold is read")
    parser.add_argument("--lag-seconds", type=float, default=10.0, help="how often the consumer lag is sampled")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it (default: a temp dir)")
    args = parser.parse_args(argv)
    for name in ("rate", "minutes", "members", "session_seconds", "interval", "poll_seconds", "lag_seconds"):
        if not getattr(args, name) > 0:
            parser.error(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    for name in ("warmup_seconds", "drain_seconds", "gap_seconds"):
        if getattr(args, name) < 0:
            parser.error(f"--{name.replace('_', '-')} must not be negative, got {getattr(args, name)}")
    try:
        Workload(args.rate, tuple(range(1, args.members + 1)), tuple(range(1, args.members + 1)),
                 args.session_seconds, args.gap_seconds).validate()  # fmt: skip
    except ValueError as exc:
        parser.error(str(exc))
    return args


def run(args: argparse.Namespace, settings: Settings) -> Result:
    from core.spark import get_spark
    from pipeline.runner import run_stream
    from pipeline.storage import Lakehouse

    users, devices = register_members(settings, args.members)
    workload = Workload(args.rate, users, devices, args.session_seconds, args.gap_seconds).validate()
    loads = [code_version(), f"uptime at start: {uptime()}; {os.cpu_count()} CPUs"]
    spark = get_spark(settings, app_name="benchmark-stream-freshness")
    lh = Lakehouse(spark, settings)
    stop, failed = threading.Event(), []
    shared = Shared()

    def stream() -> None:
        try:
            run_stream(lh, stop=stop, interval_seconds=args.interval)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            failed.append(exc)

    def members_in_silver() -> bool:
        users = delta_table(settings, "silver", "users")
        return users is not None and users.count() >= args.members

    worker = threading.Thread(target=stream, name="pipeline-stream", daemon=True)
    with StepCapture() as capture:
        worker.start()
        try:
            log.info("waiting for the stream's first round (the %d members in silver.users)", args.members)
            wait_until(members_in_silver, 900, "the members in silver.users", interval=1.0,
                       abort=lambda: failed and f"the pipeline stream failed: {failed[0]}")  # fmt: skip
            t0 = time.time()
            window = (t0 + args.warmup_seconds, t0 + args.warmup_seconds + args.minutes * 60)
            producer = threading.Thread(target=produce, args=(settings, RecordBuilder(workload, t0), window[1], stop,
                                                              shared), name="producer", daemon=True)  # fmt: skip
            log.info("producing %g records/s: %.0f s of warm-up, then %g min measured", args.rate,
                     args.warmup_seconds, args.minutes)  # fmt: skip
            producer.start()
            watched = watch(args, settings, spark, window, shared, failed)
            loads.append(f"uptime when producing ended: {watched.end_load}")
            producer.join(timeout=120)
            stages = stream_stage_runs(settings, t0)
            ended = time.time()
        finally:
            stop.set()
            worker.join(timeout=300)
            spark.stop()
    if failed:
        raise RuntimeError(f"the pipeline stream failed: {failed[0]}") from failed[0]
    steps = [s for s in capture.steps if t0 <= s.at <= ended]
    return Result(workload, window, (t0, ended), dict(shared.stops), watched.seen, shared.produced, watched.lags,
                  watched.poll_seconds, steps, stages, watched.bronze_batches, shared.errors, loads,
                  watched.drained_in)  # fmt: skip


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("py4j", "simulator"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = Settings.from_env()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="freshbench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        with benchmark_kafka(settings, workdir) as settings:
            settings = replace(settings, kafka_topic_prefix=f"fresh{uuid.uuid4().hex[:6]}.",
                               source_db_url=str(workdir / "source.db"), lakehouse_dir=workdir / "lakehouse",
                               checkpoint_dir=None, catalog=None)  # fmt: skip
            create_topics(settings.kafka_bootstrap_servers, list(settings.topics.values()))
            result = run(args, settings)
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print("\n".join(report(args, result)))
    print(f"(finished {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC)")
    print(result_line(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
