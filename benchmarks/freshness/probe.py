"""What the stream freshness benchmark observes while the pipeline runs: when each session reaches gold, and the
consumer lag between Kafka and bronze, both read with `deltalake` and Kafka's own offsets (no Spark)."""

from __future__ import annotations

import argparse
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC

from benchmarks.freshness.load import SessionKey, Shared
from benchmarks.pipeline_batch import uptime
from core.settings import Settings

log = logging.getLogger(__name__)


def total_lag(ends: dict[tuple[str, int], int], done: dict[tuple[str, int], int]) -> int:
    """Records in Kafka not yet in bronze: per partition, end offset - next offset bronze needs."""
    return sum(max(0, end - done.get(tp, 0)) for tp, end in ends.items())


def delta_table(settings: Settings, layer: str, name: str):
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
            self.table = delta_table(self.settings, "gold", "workout_bpm_summary")
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
    table = delta_table(settings, "bronze", "kafka_multiplex_bz")
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
    table = delta_table(settings, "ops", "pipeline_runs")
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
