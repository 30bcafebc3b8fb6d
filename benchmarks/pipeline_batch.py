"""Batch throughput bronze -> gold: one `run_batch` over about a million simulated events (JVM start and a warm-up
run excluded), next to two baselines of the same run: a raw read of the same records with Kafka's own
ConsumerPerformance tool, and a plain Spark job that reads them into one Delta table (the floor of any Spark design).

    python -m benchmarks pipeline_batch [--events 1000000] [--members N | --days D] [--seed 1] [--keep DIR]
                                        [--encoding compact|generic]

Uses the cluster in KAFKA_BOOTSTRAP_SERVERS if set (with a unique topic prefix), else starts a throwaway local
broker on free ports. Targets: at least 30,000 events/s end to end (issue 4), then 60,000 (issue 23). The report
says where the time goes: per stage (ops.pipeline_runs) and per step (the pipeline's "<step>: N input rows in X s"
log lines).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

from benchmarks.kafka import KafkaRead, SparkFloor, benchmark_kafka, kafka_read, spark_floor
from core.kafka_broker import create_topics
from core.settings import Settings
from simulator.behaviour import DAY_SECONDS, day_of
from simulator.config import ENCODINGS, SimulatorConfig
from simulator.engine import Simulation, run_history
from simulator.source_db import SCHEMA

log = logging.getLogger(__name__)

TARGETS = {"issue 4": 30_000, "issue 23": 60_000}  # events per second, end to end
END = 1_764_000_000.0  # a fixed end of history, so every run with the same arguments generates the same records
_STEP_LINE = re.compile(r"^(?P<step>\S+): (?P<rows>\d+) input rows in (?P<seconds>[\d.]+)s$")


# --- pure parts ---------------------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks pipeline_batch", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--events", type=int, default=1_000_000, help="about this many Kafka records")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--members", type=int, help="members to simulate (days follow from --events)")
    size.add_argument("--days", type=float, help="days of history (members follow from --events; default 2)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--warmup-events", type=int, default=20_000, help="size of the untimed warm-up run")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it (default: a temp dir)")
    parser.add_argument("--encoding", choices=ENCODINGS, default="compact",
                        help="record values in the simulator's layout or as a JSON encoder writes them")  # fmt: skip
    args = parser.parse_args(argv)
    if args.events < 1000:
        parser.error(f"--events must be at least 1000, got {args.events}")
    if args.members is not None and args.members < 1:
        parser.error(f"--members must be a positive integer, got {args.members}")
    if args.days is not None and not 0 < args.days <= 365:
        parser.error(f"--days must be between 0 and 365, got {args.days}")
    return args


def history_size(events: int, per_member_day: float, members: int | None, days: float | None) -> tuple[int, float]:
    """(members, days) that give about `events` records at `per_member_day` records per member and day."""
    if members is not None:
        return members, round(events / (per_member_day * members), 4)
    days = 2.0 if days is None else days
    return max(1, round(events / (per_member_day * days))), days


def parse_step_line(message: str) -> tuple[str, int, float] | None:
    """(step, input rows, seconds) of a pipeline "<step>: N input rows in X s" log message, else None."""
    match = _STEP_LINE.match(message.strip())
    return (match["step"], int(match["rows"]), float(match["seconds"])) if match else None


@dataclass(frozen=True)
class StepTime:
    stage: str
    step: str
    rows: int
    seconds: float
    at: float = 0.0  # epoch seconds when the step finished (its log record's time)


def stage_of(step: str) -> str:
    """The stage a step name belongs to, by the pipeline's naming (bronze_*, silver_*, gold_*); else 'other'."""
    head = step.split("_", 1)[0]
    return head if head in ("bronze", "silver", "gold") else "other"


def summarise_steps(steps: list[StepTime]) -> list[tuple[str, str, int, int, float]]:
    """(stage, step, runs, rows, seconds) per step, slowest first."""
    acc: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0, 0.0])
    for s in steps:
        entry = acc[s.stage, s.step]
        entry[0] += 1
        entry[1] += s.rows
        entry[2] += s.seconds
    rows = [(stage, step, int(n), int(r), sec) for (stage, step), (n, r, sec) in acc.items()]
    return sorted(rows, key=lambda r: -r[4])


def load_line() -> str:
    """`uptime`'s load averages and the CPU count, for the report next to every figure."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


# --- capturing the pipeline's step timings ------------------------------------------------------------------------


class StepCapture(logging.Handler):
    """Collects the pipeline's "<step>: N input rows in X s" records (logger `pipeline`) without printing them."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.steps: list[StepTime] = []
        self._logger = logging.getLogger("pipeline")
        self._saved = (self._logger.level, self._logger.propagate)

    def emit(self, record: logging.LogRecord) -> None:
        parsed = parse_step_line(record.getMessage())
        if parsed:
            step, rows, seconds = parsed
            self.steps.append(StepTime(stage_of(step), step, rows, seconds, record.created))

    def __enter__(self) -> StepCapture:
        self._logger.addHandler(self)
        self._logger.setLevel(logging.INFO)
        self._logger.propagate = False
        return self

    def __exit__(self, *exc: object) -> None:
        self._logger.removeHandler(self)
        self._logger.setLevel(self._saved[0])
        self._logger.propagate = self._saved[1]


# --- measurements ---------------------------------------------------------------------------------------------------


def records_per_member_day(seed: int, sample: int = 300) -> float:
    """Kafka records one simulated member produces in a day (planned in memory, nothing sent)."""
    conn = sqlite3.connect(":memory:")
    conn.executescript(SCHEMA)
    sim = Simulation(SimulatorConfig(members=sample, seed=seed), conn, END - DAY_SECONDS)
    records, _ = sim.plan_day(day_of(END - DAY_SECONDS))
    return sum(len(lane) for lanes in records for lane in lanes) / sample


def run_settings(settings: Settings, workdir: Path, name: str) -> Settings:
    """Settings of one benchmark dataset: its own topic prefix, source database and lakehouse under workdir."""
    prefix = f"bench{uuid.uuid4().hex[:6]}.{name}."
    s = replace(settings, kafka_topic_prefix=prefix, source_db_url=str(workdir / name / "source.db"),
                lakehouse_dir=workdir / name / "lakehouse", checkpoint_dir=None, catalog=None)  # fmt: skip
    create_topics(s.kafka_bootstrap_servers, list(s.topics.values()))
    return s


def generate(settings: Settings, members: int, days: float, seed: int, encoding: str = "compact") -> dict[str, int]:
    """Produce the history into the settings' topics and source database; records per topic."""
    config = SimulatorConfig(members=members, seed=seed, encoding=encoding)
    stats = run_history(settings, config, days=days, end=END, progress=False)
    if not stats.total:
        raise RuntimeError("the simulator produced no records")
    return {**dict(stats.records), "registrations": stats.registrations, "profile_changes": stats.profile_changes}


def stage_times(settings: Settings) -> dict[str, float]:
    """Seconds per stage of the batch runs recorded in ops.pipeline_runs, in the order they ran (read with
    deltalake, no Spark)."""
    from deltalake import DeltaTable

    runs = DeltaTable(str(settings.table_path("ops", "pipeline_runs").resolve())).to_pyarrow_table(
        columns=["stage", "mode", "started_at", "finished_at"]
    )
    out: dict[str, float] = defaultdict(float)
    for row in sorted(runs.to_pylist(), key=lambda r: r["started_at"]):
        if row["mode"] == "batch" and row["finished_at"] and row["started_at"]:
            out[row["stage"]] += (row["finished_at"] - row["started_at"]).total_seconds()
    return dict(out)


def table_rows(settings: Settings, layer: str, name: str) -> int:
    from deltalake import DeltaTable

    return DeltaTable(str(settings.table_path(layer, name).resolve())).count()


def timed_batch(spark, settings: Settings) -> tuple[dict[str, int], float, list[StepTime]]:
    """(rows in per stage, wall seconds, step timings) of one run_batch."""
    from pipeline.runner import run_batch
    from pipeline.storage import Lakehouse

    lh = Lakehouse(spark, settings)
    with StepCapture() as capture:
        began = time.perf_counter()
        rows = run_batch(lh)
        seconds = time.perf_counter() - began
    return rows, seconds, capture.steps


# --- report ---------------------------------------------------------------------------------------------------------


def report(events: int, counts: dict[str, int], members: int, days: float, kafka: KafkaRead, seconds: float,
           stages: dict[str, float], steps: list[StepTime], checks: dict[str, int], loads: list[str],
           warmup_seconds: float, encoding: str = "compact", floor: SparkFloor | None = None) -> list[str]:  # fmt: skip
    rate = events / seconds
    share = f"   ({rate / kafka.rate:.1%} of the raw read)" if kafka.rate else ""
    per_topic = ", ".join(f"{k}={counts.get(k, 0):,}" for k in ("bpm", "workout", "gym"))
    lines = [
        f"pipeline batch throughput: {events:,} Kafka records ({per_topic}) + {counts.get('registrations', 0):,} "
        "registrations and "
        f"{counts.get('profile_changes', 0):,} profile changes; {members:,} members x {days:g} days; "
        f"{encoding} encoding of record values",
        f"{'':<44}{'records/s':>12}{'seconds':>10}",
        f"{'Kafka ConsumerPerformance (raw read)':<44}{kafka.rate:>12,.0f}{kafka.seconds:>10.1f}"
        f"   (fetch only: {kafka.fetch_rate:,.0f}/s in {kafka.fetch_seconds:.1f} s; per topic "
        f"{', '.join(f'{k} {v:,.0f}/s' for k, v in kafka.per_topic.items())})",
        *([f"{'Spark: Kafka -> one Delta table (the floor)':<44}{floor.rate:>12,.0f}{floor.seconds:>10.1f}"
           f"   ({floor.rows:,} records; one plain job after the timed run)"] if floor else []),
        f"{'pipeline run_batch, bronze -> gold':<44}{rate:>12,.0f}{seconds:>10.1f}{share}"
        + (f", {rate / floor.rate:.1%} of the floor" if floor and floor.rate else ""),
        *[f"{'target (' + issue + ')':<44}{target:>12,}{'':>10}   {'met' if rate >= target else 'NOT met'}"
          for issue, target in TARGETS.items()],
        f"(JVM start excluded; an untimed warm-up run_batch of {warmup_seconds:.1f} s over a small separate dataset "
        "ran first)",
        "",
        "where the time goes, per stage (ops.pipeline_runs):",
    ]  # fmt: skip
    for stage, stage_seconds in stages.items():
        lines.append(f"  {stage:<8}{stage_seconds:>8.1f} s  {stage_seconds / seconds:>6.1%}")
    lines.append(f"  {'other':<8}{seconds - sum(stages.values()):>8.1f} s  (outside recorded stages: bookkeeping)")
    lines.append("per step (the pipeline's step log lines; a stage's remainder is outside its streams):")
    step_rows = summarise_steps(steps)
    if not step_rows:
        lines.append("  (no '<step>: N input rows in X s' lines were logged)")
    for stage, step, runs, rows, sec in step_rows:
        lines.append(f"  {stage:<7}{step:<40}{rows:>11,} rows{sec:>8.1f} s  {sec / seconds:>6.1%}"
                     + (f"  ({runs} runs)" if runs > 1 else ""))  # fmt: skip
    for stage in stages:
        logged = sum(s.seconds for s in steps if s.stage == stage)
        if logged:
            rest = max(0.0, stages[stage] - logged)
            lines.append(f"  {stage:<7}{'(outside logged steps)':<40}{'':>16}{rest:>8.1f} s")
    lines.append("checks: " + ", ".join(f"{k}={v:,}" for k, v in checks.items()))
    lines.extend(loads)
    # the headline figures, for `python -m benchmarks pipeline_batch --against REV`
    lines.append(f"RESULT events_per_s={rate:.1f} batch_s={seconds:.2f} kafka_raw_read_per_s={kafka.rate:.1f}"
                 + (f" share_of_raw_read={rate / kafka.rate:.3f}" if kafka.rate else "")
                 + (f" spark_floor_per_s={floor.rate:.1f}" if floor else ""))  # fmt: skip
    return lines


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return load_line()


def code_version() -> str:
    """The commit the benchmark runs and whether pipeline/ differs from it (the pipeline changes between runs)."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                              timeout=10).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "pipeline"], cwd=root, capture_output=True,
                               text=True, timeout=10).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "code: unknown (no git)"
    return f"code: commit {head or '?'}" + ("; pipeline/ has uncommitted changes" if dirty else "")


def measure(args: argparse.Namespace, settings: Settings, workdir: Path) -> list[str]:
    per_member_day = records_per_member_day(args.seed)
    members, days = history_size(args.events, per_member_day, args.members, args.days)
    loads = [code_version(), f"uptime at start: {uptime()}; {os.cpu_count()} CPUs"]

    warm = run_settings(settings, workdir, "warmup")
    warm_members, warm_days = history_size(args.warmup_events, per_member_day, None, 1.0)
    generate(warm, warm_members, warm_days, args.seed + 1, args.encoding)
    main_settings = run_settings(settings, workdir, "main")
    log.info("generating about %d events: %d members x %g days", args.events, members, days)
    began = time.perf_counter()
    counts = generate(main_settings, members, days, args.seed, args.encoding)
    events = sum(counts.get(k, 0) for k in ("bpm", "workout", "gym"))
    print(f"generated {events:,} Kafka records in {time.perf_counter() - began:.1f} s "
          f"({members:,} members x {days:g} days)", flush=True)  # fmt: skip

    log.info("reading them with Kafka's ConsumerPerformance")
    kafka = kafka_read(main_settings, counts)
    loads.append(f"uptime after the Kafka read: {uptime()}")

    from core.spark import get_spark

    spark = get_spark(main_settings, app_name="benchmark-pipeline-batch")
    try:
        log.info("warm-up run_batch over %d members x %g day", warm_members, warm_days)
        _, warmup_seconds, _ = timed_batch(spark, warm)
        loads.append(f"uptime before the timed run: {uptime()}")
        log.info("timed run_batch over %d events", events)
        rows, seconds, steps = timed_batch(spark, main_settings)
        loads.append(f"uptime after the timed run: {uptime()}")
        log.info("the floor: one plain Spark job, Kafka -> one Delta table")
        floor = spark_floor(spark, main_settings, workdir / "floor" / "kafka_records")
    finally:
        spark.stop()
    checks = {"bronze.kafka_multiplex_bz rows": table_rows(main_settings, "bronze", "kafka_multiplex_bz"),
              "gold.workout_bpm_summary rows": table_rows(main_settings, "gold", "workout_bpm_summary"),
              "gold.gym_summary rows": table_rows(main_settings, "gold", "gym_summary"),
              **{f"{k} rows in": v for k, v in rows.items()}}  # fmt: skip
    if checks["bronze.kafka_multiplex_bz rows"] != events:
        log.warning("bronze holds %d Kafka rows, %d were produced", checks["bronze.kafka_multiplex_bz rows"], events)
    return report(events, counts, members, days, kafka, seconds, stage_times(main_settings), steps, checks, loads,
                  warmup_seconds, args.encoding, floor)  # fmt: skip


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("py4j", "simulator"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = Settings.from_env()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="pipebench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        with benchmark_kafka(settings, workdir) as settings:
            lines = measure(args, settings, workdir)
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
