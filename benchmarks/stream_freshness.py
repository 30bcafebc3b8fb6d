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
import math
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.kafka import benchmark_kafka
from benchmarks.pipeline_batch import StepCapture, StepTime, code_version, summarise_steps, uptime
from core.kafka_broker import create_topics
from core.settings import Settings
from simulator.records import BPM_FORMAT, WORKOUT_FORMAT

log = logging.getLogger(__name__)

TARGET_P95_SECONDS = 30.0
SessionKey = tuple[int, int, int]  # (user_id, workout_id, session_id)


# --- pure parts ---------------------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class Workload:
    """What the producer sends: per member a workout session of `session_seconds` every session+gap seconds
    (members staggered evenly), and heart-rate readings round-robin over the devices filling the rest of `rate`."""

    rate: float
    users: tuple[int, ...]
    devices: tuple[int, ...]  # devices[i] is the wristband of users[i]
    session_seconds: float
    gap_seconds: float

    @property
    def cycle(self) -> float:
        return self.session_seconds + self.gap_seconds

    @property
    def workout_rate(self) -> float:
        return 2 * len(self.users) / self.cycle

    @property
    def bpm_rate(self) -> float:
        return self.rate - self.workout_rate

    @property
    def readings_per_session(self) -> float:
        return self.bpm_rate / len(self.devices) * self.session_seconds

    def validate(self) -> Workload:
        if len(self.users) != len(self.devices) or not self.users:
            raise ValueError("every member needs exactly one device")
        if self.bpm_rate <= 0:
            raise ValueError(f"--rate {self.rate:g} leaves no room for readings: the workouts alone need "
                             f"{self.workout_rate:.0f}/s; use fewer --members or longer sessions")  # fmt: skip
        if self.readings_per_session < 3:
            raise ValueError(f"only {self.readings_per_session:.1f} readings per session at this rate; use fewer "
                             "--members or longer --session-seconds")  # fmt: skip
        return self


@dataclass(frozen=True)
class Record:
    """One record to produce: its event time, topic kind (`bpm` or `workout`), key, value, and for a stop record
    the session it completes."""

    time: float
    kind: str
    key: bytes
    value: bytes
    completes: SessionKey | None = None


class RecordBuilder:
    """The records due up to a wall-clock time, in event-time order; deterministic for a given start `t0`.

    Session n (over all members) starts at t0 + n * cycle / members for member n % members, as its workout
    n // members + 1, and stops session_seconds later; reading n is due at t0 + n / bpm_rate for device n % members.
    """

    def __init__(self, workload: Workload, t0: float) -> None:
        self.w = workload.validate()
        self.t0 = t0
        self.step = workload.cycle / len(workload.users)
        self.next_bpm = self.next_start = self.next_stop = 0

    def _workout(self, n: int, action: bytes, at: float) -> Record:
        members = len(self.w.users)
        user, workout = self.w.users[n % members], n // members + 1
        value = WORKOUT_FORMAT % (user, workout, 1, action, at)
        return Record(at, "workout", str(user).encode(), value, (user, workout, 1) if action == b"stop" else None)

    def due(self, now: float) -> list[Record]:
        out: list[Record] = []
        members = len(self.w.devices)
        while (at := self.t0 + self.next_bpm / self.w.bpm_rate) <= now:
            n = self.next_bpm
            device = self.w.devices[n % members]
            heartrate = 60.0 + (n * 7) % 120 + 0.5  # always valid (25..250)
            out.append(Record(at, "bpm", str(device).encode(), BPM_FORMAT % (device, at, heartrate)))
            self.next_bpm += 1
        while (at := self.t0 + self.next_start * self.step) <= now:
            out.append(self._workout(self.next_start, b"start", at))
            self.next_start += 1
        while (at := self.t0 + self.next_stop * self.step + self.w.session_seconds) <= now:
            out.append(self._workout(self.next_stop, b"stop", at))
            self.next_stop += 1
        out.sort(key=lambda r: r.time)
        return out


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def lag_trend(lags: list[float]) -> tuple[float, float]:
    """Mean lag of the first and of the last third of the samples (the whole list when fewer than three)."""
    if not lags:
        raise ValueError("no lag samples")
    third = max(1, len(lags) // 3)
    return sum(lags[:third]) / third, sum(lags[-third:]) / third


def lag_grows(first: float, last: float, tolerance: float) -> bool:
    """Whether the lag grew: the last third's mean above the first third's by more than `tolerance` records (the
    records of about one trigger interval, which a sample may catch in flight) and by more than half."""
    return last > first + tolerance and last > 1.5 * first


def total_lag(ends: dict[tuple[str, int], int], done: dict[tuple[str, int], int]) -> int:
    """Records in Kafka not yet in bronze: per partition, end offset - next offset bronze needs."""
    return sum(max(0, end - done.get(tp, 0)) for tp, end in ends.items())


def freshness(stops: dict[SessionKey, float], seen: dict[SessionKey, float]) -> list[float]:
    """Seconds from producing each session's stop record to the poll that first saw its gold row."""
    return [seen[k] - t for k, t in stops.items() if k in seen]


# --- the parts that touch Kafka, the lakehouse and Spark -----------------------------------------------------------


@dataclass
class Shared:
    """State the producer thread writes and the main thread reads (each dict entry is written once)."""

    stops: dict[SessionKey, float] = field(default_factory=dict)  # session -> wall time its stop was produced
    produced: list[tuple[float, int]] = field(default_factory=list)  # (wall time, records produced so far)
    errors: int = 0
    last_error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)


def produce(settings: Settings, builder: RecordBuilder, until: float, stop: threading.Event, shared: Shared) -> None:
    """Send every record as the wall clock reaches it, until `until`, from this one thread."""
    from confluent_kafka import Producer

    from core.connections import confluent_kafka_config

    def on_delivery(err, _msg) -> None:
        if err is not None:
            shared.errors += 1
            shared.last_error = str(err)

    producer = Producer({**confluent_kafka_config(settings), "acks": "all", "enable.idempotence": True,
                         "linger.ms": 5, "compression.type": "none", "queue.buffering.max.messages": 1_000_000,
                         "delivery.report.only.error": True, "on_delivery": on_delivery})  # fmt: skip
    topics = {"bpm": settings.topic("bpm"), "workout": settings.topic("workout")}
    sent, last_mark = 0, 0.0
    try:
        while not stop.is_set():
            now = time.time()
            for record in builder.due(min(now, until)):
                while True:
                    try:
                        producer.produce(topics[record.kind], value=record.value, key=record.key)
                        break
                    except BufferError:
                        producer.poll(0.05)
                if record.completes is not None:
                    shared.stops[record.completes] = time.time()
                sent += 1
            producer.poll(0)
            if now - last_mark >= 1.0 or now >= until:
                shared.produced.append((now, sent))
                last_mark = now
            if now >= until:
                break
            stop.wait(0.005)
    finally:
        producer.flush(60)
        shared.produced.append((time.time(), sent))
        shared.done.set()


def register_members(settings: Settings, members: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Write `members` registrations (with their profiles) into the source database; (user ids, device ids)."""
    from simulator.config import SimulatorConfig
    from simulator.engine import Simulation
    from simulator.source_db import open_source_db, write_changes

    conn = open_source_db(settings.source_db_path)
    try:
        sim = Simulation(SimulatorConfig(members=members, seed=7), conn, time.time())
        write_changes(conn, sim.setup_changes)
    finally:
        conn.close()
    return tuple(m.user_id for m in sim.members), tuple(m.device_id for m in sim.members)


def _table(settings: Settings, layer: str, name: str):
    """The table, or None until its first commit (the pipeline may be creating it: a log folder, no commit yet)."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    path = settings.table_path(layer, name).resolve()
    try:
        return DeltaTable(str(path)) if (path / "_delta_log").exists() else None
    except TableNotFoundError:
        return None


class GoldPoller:
    """Reads the session keys of gold.workout_bpm_summary with deltalake and remembers when each first appeared."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.table = None
        self.seen: dict[SessionKey, float] = {}
        self.read_seconds: list[float] = []

    def poll(self) -> int:
        began = time.time()
        if self.table is None:
            self.table = _table(self.settings, "gold", "workout_bpm_summary")
            if self.table is None:
                return 0
        else:
            self.table.update_incremental()
        keys = self.table.to_pyarrow_table(columns=["user_id", "workout_id", "session_id"])
        seen_at = time.time()
        new = 0
        for key in zip(*(keys.column(c).to_pylist() for c in ("user_id", "workout_id", "session_id")), strict=True):
            if key not in self.seen:
                self.seen[key] = seen_at
                new += 1
        self.read_seconds.append(seen_at - began)
        return new


def end_offsets(consumer, topics: list[str]) -> dict[tuple[str, int], int]:
    from confluent_kafka import TopicPartition

    metadata = consumer.list_topics(timeout=10).topics
    return {(t, p): consumer.get_watermark_offsets(TopicPartition(t, p), timeout=10)[1]
            for t in topics for p in metadata[t].partitions}  # fmt: skip


def bronze_next_offsets(settings: Settings) -> dict[tuple[str, int], int]:
    """Per (topic, partition), the offset after the highest one in bronze.kafka_multiplex_bz."""
    table = _table(settings, "bronze", "kafka_multiplex_bz")
    if table is None:
        return {}
    rows = table.to_pyarrow_table(columns=["topic", "partition", "offset"])
    maxima = rows.group_by(["topic", "partition"]).aggregate([("offset", "max")]).to_pylist()
    return {(r["topic"], r["partition"]): r["offset_max"] + 1 for r in maxima}


@dataclass
class LagSample:
    at: float
    lag: int
    offsets_seconds: float  # reading the topics' end offsets
    bronze_seconds: float  # reading bronze's offsets with deltalake


def stream_stage_runs(settings: Settings, since: float) -> list[dict]:
    """Stream-mode rows of ops.pipeline_runs that started at or after `since` (epoch seconds)."""
    table = _table(settings, "ops", "pipeline_runs")
    if table is None:
        return []
    out = []
    for row in table.to_pyarrow_table(columns=["stage", "mode", "started_at", "finished_at", "rows_in"]).to_pylist():
        if row["mode"] != "stream" or not row["finished_at"]:
            continue
        started = row["started_at"].replace(tzinfo=UTC).timestamp()
        if started >= since:
            out.append({**row, "start": started, "seconds": (row["finished_at"] - row["started_at"]).total_seconds()})
    return sorted(out, key=lambda r: r["start"])


def bronze_progress(spark, seen: dict[int, dict]) -> None:
    """Add the Kafka -> bronze query's recent micro-batch progress (by batch id) to `seen`. Called only when
    producing ends and after the drain (Spark keeps the last 100 batches): the call can block for seconds while the
    driver is busy, and the gold poller must not."""
    from pipeline.bronze import KAFKA_QUERY

    for query in spark.streams.active:
        if query.name == KAFKA_QUERY:
            for progress in query.recentProgress:
                seen.setdefault(int(progress["batchId"]), progress)


# --- the run --------------------------------------------------------------------------------------------------------


@dataclass
class Result:
    workload: Workload
    window: tuple[float, float]  # the measured window (epoch seconds)
    span: tuple[float, float]  # from the first record produced to the end of the drain
    stops: dict[SessionKey, float]
    seen: dict[SessionKey, float]
    produced: list[tuple[float, int]]
    lags: list[LagSample]
    poll_seconds: list[float]
    steps: list[StepTime]
    stage_runs: list[dict]
    bronze_batches: dict[int, dict]
    errors: int
    loads: list[str]
    drained_in: float


def wait_until(condition, timeout: float, what: str, failed: list[BaseException]) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if failed:
            raise RuntimeError(f"the pipeline stream failed: {failed[0]}") from failed[0]
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(1.0)  # polling the lakehouse for a condition, bounded by the deadline


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

    worker = threading.Thread(target=stream, name="pipeline-stream", daemon=True)
    with StepCapture() as capture:
        worker.start()
        try:
            log.info("waiting for the stream's first round (the %d members in silver.users)", args.members)
            wait_until(lambda: (t := _table(settings, "silver", "users")) is not None and t.count() >= args.members,
                       900, "the members in silver.users", failed)  # fmt: skip
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


@dataclass
class Watched:
    seen: dict[SessionKey, float]
    lags: list[LagSample]
    poll_seconds: list[float]
    bronze_batches: dict[int, dict]
    drained_in: float
    end_load: str


def watch(args: argparse.Namespace, settings: Settings, spark, window: tuple[float, float], shared: Shared,
          failed: list[BaseException]) -> Watched:  # fmt: skip
    """Poll gold every ~poll_seconds and sample the lag every ~lag_seconds while producing, then drain."""
    from confluent_kafka import Consumer

    from core.connections import confluent_kafka_config

    consumer = Consumer({**confluent_kafka_config(settings), "group.id": f"bench-lag-{uuid.uuid4().hex[:6]}"})
    topics = [settings.topic("bpm"), settings.topic("workout")]
    poller = GoldPoller(settings)
    lags: list[LagSample] = []
    bronze_batches: dict[int, dict] = {}
    next_lag = window[0]
    drain_started, end_load = None, ""
    try:
        while True:
            if failed:
                raise RuntimeError(f"the pipeline stream failed: {failed[0]}") from failed[0]
            began = time.time()
            poller.poll()
            if next_lag <= began <= window[1]:
                ends = end_offsets(consumer, topics)
                read = time.time()
                lag = total_lag(ends, bronze_next_offsets(settings))
                lags.append(LagSample(began, lag, read - began, time.time() - read))
                log.info("lag %d records; %d sessions seen in gold", lag, len(poller.seen))
                next_lag += args.lag_seconds
            if shared.done.is_set():
                if drain_started is None:
                    drain_started, end_load = time.time(), uptime()
                    bronze_progress(spark, bronze_batches)
                    log.info("producing done; draining (at most %.0f s)", args.drain_seconds)
                pending = [k for k, t in shared.stops.items() if window[0] <= t <= window[1] and k not in poller.seen]
                if not pending or time.time() - drain_started > args.drain_seconds:
                    break
            time.sleep(max(0.0, args.poll_seconds - (time.time() - began)))  # the poll cadence
        bronze_progress(spark, bronze_batches)
    finally:
        consumer.close()
    return Watched(poller.seen, lags, poller.read_seconds, bronze_batches, time.time() - drain_started, end_load)


# --- report ---------------------------------------------------------------------------------------------------------


def achieved_rate(produced: list[tuple[float, int]], window: tuple[float, float]) -> float:
    """Records per second produced inside the window, from the producer's (time, cumulative count) marks."""
    inside = [(t, n) for t, n in produced if window[0] <= t <= window[1] + 1.0]
    if len(inside) < 2:
        return 0.0
    (t1, n1), (t2, n2) = inside[0], inside[-1]
    return (n2 - n1) / (t2 - t1) if t2 > t1 else 0.0


def report(args: argparse.Namespace, r: Result) -> list[str]:
    w = r.workload
    in_window = {k: t for k, t in r.stops.items() if r.window[0] <= t <= r.window[1]}
    fresh = freshness(in_window, r.seen)
    rate = achieved_rate(r.produced, r.window)
    lines = [
        f"stream freshness: {args.rate:,.0f} records/s asked for {args.minutes:g} min (after {args.warmup_seconds:g} s "
        f"of warm-up); {len(w.users):,} members, sessions of {w.session_seconds:g} s every {w.cycle:g} s "
        f"({w.workout_rate:,.0f} workout records/s, {w.bpm_rate:,.0f} readings/s, ~{w.readings_per_session:.0f} "
        f"readings per session); stream rounds every {args.interval:g} s",
        f"achieved produce rate in the window: {rate:,.0f} records/s ({rate / args.rate:.0%} of asked); "
        f"delivery errors: {r.errors}",
        f"sessions: {len(in_window):,} stopped in the window, {len(fresh):,} seen in gold "
        f"({len(in_window) - len(fresh):,} not seen; drain took {r.drained_in:.0f} s, at most "
        f"{args.drain_seconds:g})",
    ]  # fmt: skip
    if fresh:
        p50, p95 = percentile(fresh, 50), percentile(fresh, 95)
        met = p95 < TARGET_P95_SECONDS and len(fresh) == len(in_window)
        lines.append(f"freshness (stop produced -> row visible in gold): p50 {p50:.1f} s, p95 {p95:.1f} s, "
                     f"max {max(fresh):.1f} s, min {min(fresh):.1f} s; target p95 < {TARGET_P95_SECONDS:g} s: "
                     f"{'met' if met else 'NOT met'}")  # fmt: skip
    else:
        lines.append(f"freshness: no session of the window reached gold; target p95 < {TARGET_P95_SECONDS:g} s: "
                     "NOT met")  # fmt: skip
    if r.poll_seconds:
        read = percentile(r.poll_seconds, 50)
        lines.append(f"(gold polled every ~{args.poll_seconds:g} s; one read took p50 {read:.2f} s, max "
                     f"{max(r.poll_seconds):.2f} s: add up to that much uncertainty)")  # fmt: skip
    if r.lags:
        values = [float(s.lag) for s in r.lags]
        first, last = lag_trend(values)
        grows = lag_grows(first, last, tolerance=args.rate * args.interval)
        lines.append(f"consumer lag (Kafka end offsets - bronze), {len(values)} samples every ~{args.lag_seconds:g} s: "
                     f"first third mean {first:,.0f}, last third mean {last:,.0f}, max {max(values):,.0f} records -> "
                     f"{'GROWING' if grows else 'not growing'}")  # fmt: skip
        lines.append("  samples: " + ", ".join(f"{s.lag:,}" for s in r.lags))
        offsets, bronze = [s.offsets_seconds for s in r.lags], [s.bronze_seconds for s in r.lags]
        lines.append(f"  (one sample: end offsets p50 {percentile(offsets, 50):.2f} s, max {max(offsets):.2f} s; "
                     f"bronze offsets p50 {percentile(bronze, 50):.2f} s, max {max(bronze):.2f} s)")  # fmt: skip
    lines.append("")
    lines.append(f"where the time goes, from the first record produced to the end of the drain "
                 f"({r.span[1] - r.span[0]:.0f} s):")  # fmt: skip
    lines.extend(round_lines(r, args))
    lines.extend(r.loads)
    return lines


def round_lines(r: Result, args: argparse.Namespace) -> list[str]:
    out = []
    batches = [p for p in r.bronze_batches.values() if p.get("numInputRows")]
    if batches:
        trig = [p["durationMs"].get("triggerExecution", 0) / 1000 for p in batches]
        rows = [p["numInputRows"] for p in batches]
        out.append(f"  Kafka -> bronze (continuous, trigger {args.interval:g} s): {len(batches)} micro-batches seen, "
                   f"{sum(rows) / len(rows):,.0f} rows each on average, took p50 {percentile(trig, 50):.1f} s, "
                   f"max {max(trig):.1f} s")  # fmt: skip
    by_stage: dict[str, list[float]] = defaultdict(list)
    for run_ in r.stage_runs:
        by_stage[run_["stage"]].append(run_["seconds"])
    for stage, v in by_stage.items():
        if v:
            out.append(f"  {stage:<7} stage (ops.pipeline_runs): {len(v)} runs, p50 {percentile(v, 50):.1f} s, "
                       f"p95 {percentile(v, 95):.1f} s, max {max(v):.1f} s")  # fmt: skip
    silver_starts = [x["start"] for x in r.stage_runs if x["stage"] == "silver"]
    periods = [b - a for a, b in zip(silver_starts, silver_starts[1:], strict=False)]
    if periods:
        out.append(f"  one round (silver start to the next): p50 {percentile(periods, 50):.1f} s, "
                   f"p95 {percentile(periods, 95):.1f} s, max {max(periods):.1f} s")  # fmt: skip
    if r.steps:
        out.append("  per step (the pipeline's step log lines), slowest first:")
        span = r.span[1] - r.span[0]
        for stage, step, runs, rows, sec in summarise_steps(r.steps):
            out.append(f"    {stage:<7}{step:<40}{runs:>4} runs{rows:>11,} rows{sec:>8.1f} s total "
                       f"{sec / runs:>6.2f} s/run  {sec / span:>6.1%} of the time")  # fmt: skip
    return out


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
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
