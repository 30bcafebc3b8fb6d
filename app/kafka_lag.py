"""How far the pipeline's bronze layer is behind Kafka: topic end offsets against the offsets already in bronze."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterable

import pandas as pd

from core.connections import confluent_kafka_config
from core.settings import Settings, SettingsError

log = logging.getLogger(__name__)


class KafkaUnreachable(RuntimeError):
    """No broker of the cluster answers, or the connection settings cannot reach it; one line for the page."""


def _reachable(server: str, timeout: float) -> bool:
    """A TCP connect to one bootstrap server: fails fast where librdkafka would wait out its whole timeout."""
    host, _, port = server.strip().rpartition(":")
    try:
        with socket.create_connection((host.strip("[]") or "localhost", int(port)), timeout=min(timeout, 1.0)):
            return True
    except (OSError, ValueError):
        return False


def _high_watermark(consumer, partition, timeout: float) -> int:
    """One partition's high watermark, asked again while the broker answers with a retriable error (a partition
    whose leader is being elected, as just after the topic was created or during a broker restart) until
    `timeout` has passed since the first ask."""
    from confluent_kafka import KafkaError, KafkaException

    electing = {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE, KafkaError.UNKNOWN_TOPIC_OR_PART}
    deadline = time.monotonic() + timeout
    while True:
        try:
            return consumer.get_watermark_offsets(partition, timeout=max(0.1, deadline - time.monotonic()))[1]
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            transient = isinstance(error, KafkaError) and (error.code() in electing or error.retriable())
            if not transient or time.monotonic() >= deadline:
                raise
            time.sleep(0.1)  # the broker is electing the partition's leader: ask again shortly


def end_offsets(settings: Settings, topics: Iterable[str], timeout: float = 3.0) -> dict[tuple[str, int], int]:
    """High watermark (next offset to be written) of every partition of the given topics.

    The client options come from `core.connections`, so a cluster that needs SASL or TLS is reached as the simulator
    and the pipeline reach it."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    bootstrap = settings.kafka_bootstrap_servers
    try:
        client = confluent_kafka_config(settings)
    except SettingsError as exc:
        raise KafkaUnreachable(f"Kafka at {bootstrap} cannot be reached with these settings: {exc}") from exc
    if not any(_reachable(server, timeout) for server in bootstrap.split(",")):
        raise KafkaUnreachable(f"Kafka at {bootstrap} is unreachable (no broker answers)")
    consumer = Consumer({**client, "group.id": "dashboard-lag-probe", "enable.auto.commit": False,
                         "socket.timeout.ms": int(timeout * 1000), "log_level": 0})  # fmt: skip
    try:
        metadata = consumer.list_topics(timeout=timeout)
        out: dict[tuple[str, int], int] = {}
        for topic in topics:
            meta = metadata.topics.get(topic)
            if meta is None or meta.error is not None:
                continue
            for partition in sorted(meta.partitions):
                out[(topic, partition)] = _high_watermark(consumer, TopicPartition(topic, partition), timeout)
        return out
    except KafkaException as exc:
        raise KafkaUnreachable(f"Kafka at {bootstrap} is unreachable: {exc}") from exc
    finally:
        consumer.close()


def lag_table(ends: dict[tuple[str, int], int], bronze: pd.DataFrame, topic_names: dict[str, str]) -> pd.DataFrame:
    """One row per topic partition: end offset, next offset bronze expects, and the records in between.

    `bronze` has columns topic, partition, max_offset; `topic_names` maps a full topic name to the contract's name,
    since bronze may hold topics of other prefixes too.
    """
    in_bronze = {(str(r.topic), int(r.partition)): int(r.max_offset) for r in bronze.itertuples()}
    rows = []
    for (topic, partition), end in sorted(ends.items()):
        consumed = in_bronze.get((topic, partition), -1) + 1
        rows.append({"topic": topic, "name": topic_names.get(topic, topic), "partition": partition,
                     "end_offset": end, "next_in_bronze": consumed, "lag": max(0, end - consumed)})  # fmt: skip
    return pd.DataFrame(rows, columns=["topic", "name", "partition", "end_offset", "next_in_bronze", "lag"])
