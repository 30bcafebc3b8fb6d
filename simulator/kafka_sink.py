"""Kafka output: a reachability check before producing and an idempotent, throughput-tuned producer, both
connected as `core.connections` says (SASL/SSL when configured)."""

from __future__ import annotations

import logging
import time

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from core.connections import confluent_kafka_config
from core.kafka_broker import BrokerError, create_topics, topic_config
from core.settings import Settings
from simulator.lanes import Lane, Record
from simulator.records import TOPIC_NAMES

log = logging.getLogger(__name__)

_quiet = logging.getLogger("simulator.librdkafka.preflight")
_quiet.propagate = False
_quiet.addHandler(logging.NullHandler())
_client_log = logging.getLogger("simulator.librdkafka")

PRODUCER_TUNING = {
    "linger.ms": 20,
    "batch.size": 1_000_000,
    "batch.num.messages": 100_000,
    "compression.type": "none",  # lz4 measured within noise of none on a local broker; none spares broker CPU
    "queue.buffering.max.messages": 1_000_000,
    "queue.buffering.max.kbytes": 1_048_576,
}


def admin_config(settings: Settings) -> dict[str, object]:
    """The preflight admin client's settings: the project's connection (SASL/SSL included) and a short timeout."""
    return {**confluent_kafka_config(settings), "logger": _quiet, "socket.connection.setup.timeout.ms": 3000}


def producer_config(settings: Settings, tuning: dict[str, object] | None = None) -> dict[str, object]:
    """The producer's settings: the project's connection (`core.connections`, SASL/SSL included), then
    idempotence with acks=all and the throughput tuning; `tuning` (benchmarks) overrides the tuning, never the
    delivery guarantees."""
    return {**confluent_kafka_config(settings), **PRODUCER_TUNING, **(tuning or {}), "enable.idempotence": True,
            "acks": "all", "delivery.report.only.error": True, "logger": _client_log}  # fmt: skip


def check_broker(settings: Settings, timeout: float = 5.0) -> tuple[int, int, int]:
    """Fail fast with a one-line BrokerError if the cluster does not answer a metadata request; create the topics
    (with the bronze retention, `topic_config`) and return their partition counts (bpm, workout, gym)."""
    bootstrap = settings.kafka_bootstrap_servers
    admin = AdminClient(admin_config(settings))
    try:
        admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        hint = "" if settings.kafka_external else " (start one with `lakehouse kafka start`)"
        raise BrokerError(f"Kafka at {bootstrap} is not reachable within {timeout:.0f}s{hint}: {exc.args[0]}") from exc
    create_topics(bootstrap, list(settings.topics.values()), client_config=confluent_kafka_config(settings),
                  config=topic_config(settings))  # fmt: skip
    topics = admin.list_topics(timeout=timeout).topics
    counts = tuple(len(topics[settings.topic(name)].partitions) for name in TOPIC_NAMES)
    return counts[0], counts[1], counts[2]


class KafkaSink:
    """One idempotent producer for the three topics; counts delivery errors through the delivery callback.

    Only failed deliveries call back into Python (`delivery.report.only.error`); each success still costs a short C
    step in `poll()` (about a fifth of a microsecond), which no setting of this client avoids.
    delivered = produced - still queued - failed.
    """

    def __init__(self, settings: Settings, partitions: tuple[int, int, int],
                 tuning: dict[str, object] | None = None) -> None:  # fmt: skip
        self.producer = Producer({**producer_config(settings, tuning), "on_delivery": self._on_delivery})
        self.topics = tuple(settings.topic(name) for name in TOPIC_NAMES)
        self.partitions = partitions
        self._pool: list[Record] = []  # dicts refilled for each produce_batch call
        self.produced = 0
        self.errors = 0
        self.last_error: str | None = None

    def _on_delivery(self, err: KafkaError | None, msg: object) -> None:
        if err is not None:
            self.errors += 1
            self.last_error = str(err)
            log.error("delivery failed: %s", err)

    @property
    def in_flight(self) -> int:
        return len(self.producer)

    @property
    def delivered(self) -> int:
        return self.produced - self.in_flight - self.errors

    def produce_batch(self, topic: int, partition: int, lane: Lane) -> None:
        """Queue a lane's records (all of one partition) in one call, retrying those the full queue refused. One
        partition per call lets librdkafka enqueue the batch under a single lock.

        `Producer.produce_batch` takes {"key", "value"} dicts and copies the bytes, so the same dicts are refilled
        for every batch instead of making and freeing one per record."""
        produce_batch, name = self.producer.produce_batch, self.topics[topic]
        pool = self._pool
        if len(pool) < len(lane):
            pool.extend({"key": b"", "value": b""} for _ in range(len(lane) - len(pool)))
        for record, key, value in zip(pool, lane.keys, lane.values, strict=False):  # the pool may be longer
            record["key"] = key
            record["value"] = value
        records = pool[: len(lane)]
        while records:
            queued = produce_batch(name, records, partition=partition)
            self.produced += queued
            if queued == len(records):
                break
            refused = [r for r in records if "_error" in r]
            for record in refused:
                error = record.pop("_error")
                if error.code() != KafkaError._QUEUE_FULL:
                    raise KafkaException(error)
            self.producer.poll(0.05)
            records = refused
        self.producer.poll(0)

    def produce_each(self, topic: int, partition: int, lane: Lane) -> None:
        """Queue a lane's records one call each, with their emit times (ms, capped at now) as Kafka timestamps."""
        produce, poll, name = self.producer.produce, self.producer.poll, self.topics[topic]
        now_ms = int(time.time() * 1000)
        for i, (key, value, stamp) in enumerate(zip(lane.keys, lane.values, lane.ms.tolist(), strict=True)):
            while True:
                try:
                    produce(name, value, key, partition, timestamp=min(stamp, now_ms))
                    break
                except BufferError:
                    poll(0.05)
            if not i & 1023:
                poll(0)
        self.produced += len(lane)

    def flush(self, timeout: float = 60.0) -> int:
        """Deliver everything queued; return how many records are still undelivered after `timeout`."""
        remaining = self.producer.flush(timeout)
        if remaining:
            log.error("%d records still undelivered after %.0fs", remaining, timeout)
        return remaining
