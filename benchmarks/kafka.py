"""The Kafka a benchmark measures against (the cluster in KAFKA_BOOTSTRAP_SERVERS, else a throwaway local broker),
and the two baselines a batch benchmark puts beside the pipeline: Kafka's own ConsumerPerformance reading the same
records, and the floor of any Spark design, one plain Spark job that reads them into one Delta table."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from core.kafka_broker import LocalBroker, ensure_kafka_jars, java_executable
from core.service import free_port_pair
from core.settings import Settings


@contextmanager
def benchmark_kafka(settings: Settings, workdir: Path) -> Iterator[Settings]:
    """Settings pointing at the cluster to use; a local broker on free ports (1 GiB heap) lives as long as the block."""
    if settings.kafka_external:
        yield settings
        return
    port = free_port_pair()
    broker = LocalBroker(data_dir=workdir / "kafka", cache_dir=settings.cache_dir, port=port,
                         controller_port=port + 1, heap="1g")  # fmt: skip
    try:
        yield replace(settings, kafka_bootstrap_servers=broker.start(), kafka_external=True)
    finally:
        broker.stop()


def parse_consumer_perf(stdout: str) -> dict[str, str]:
    """The result row of ConsumerPerformance (without --show-detailed-stats) as {column: value}."""
    lines = [ln.strip() for ln in stdout.splitlines() if ln.strip()]
    for i, line in enumerate(lines[:-1]):
        if "nMsg.sec" in line and "start.time" in line:
            header = [h.strip() for h in line.split(",")]
            values = [v.strip() for v in lines[i + 1].split(",")]
            if len(values) == len(header):
                return dict(zip(header, values, strict=True))
    raise ValueError(f"no result row in ConsumerPerformance output: {stdout.strip()[-300:]!r}")


def consumer_perf(settings: Settings, topic: str, messages: int) -> dict[str, str]:
    """One ConsumerPerformance run over the first `messages` records of `topic`."""
    lib = ensure_kafka_jars(settings.cache_dir)
    cmd = [java_executable(), "-Xmx512m", "-cp", f"{lib}/*", "org.apache.kafka.tools.ConsumerPerformance",
           "--bootstrap-server", settings.kafka_bootstrap_servers, "--topic", topic, "--messages", str(messages),
           "--timeout", "60000", "--group", f"bench-{uuid.uuid4().hex[:8]}"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"ConsumerPerformance failed on {topic}: {(out.stderr or out.stdout).strip()[-400:]}")
    return parse_consumer_perf(out.stdout)


@dataclass
class KafkaRead:
    messages: int
    seconds: float  # from the first poll to the last record (rebalance included, JVM start excluded)
    fetch_seconds: float  # the same without the group join/rebalance
    per_topic: dict[str, float]  # nMsg.sec per topic

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0

    @property
    def fetch_rate(self) -> float:
        return self.messages / self.fetch_seconds if self.fetch_seconds else 0.0


def kafka_read(settings: Settings, counts: dict[str, int]) -> KafkaRead:
    """ConsumerPerformance over each topic (this Kafka version takes one topic per run), summed."""
    total = seconds = fetch = 0.0
    per_topic = {}
    for kind in ("bpm", "workout", "gym"):
        n = counts.get(kind, 0)
        if not n:
            continue
        row = consumer_perf(settings, settings.topic(kind), n)
        consumed = int(row["data.consumed.in.nMsg"])
        rate = float(row["nMsg.sec"])
        total += consumed
        seconds += consumed / rate if rate else 0.0
        fetch += float(row["fetch.time.ms"]) / 1000
        per_topic[kind] = rate
    return KafkaRead(int(total), seconds, fetch, per_topic)


@dataclass(frozen=True)
class SparkFloor:
    rows: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def spark_floor(spark, settings: Settings, path: Path) -> SparkFloor:
    """One plain Spark job over the settings' topics: every record, as Spark's Kafka source gives it, appended to one
    new Delta table at `path`. No parse, no merge, no stream bookkeeping: what any Spark design pays at least to move
    the records from Kafka into Delta."""
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    from pipeline.bronze import kafka_read_options

    records = spark.read.format("kafka").options(**kafka_read_options(settings), endingOffsets="latest").load()
    counted = Observation()
    began = time.perf_counter()
    records.observe(counted, F.count(F.lit(1)).alias("rows")).write.format("delta").save(str(path))
    seconds = time.perf_counter() - began
    return SparkFloor(int(counted.get["rows"]), seconds)
