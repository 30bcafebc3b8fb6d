"""Read back what the simulator wrote: every record of a topic, and the source database rows."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from core.settings import Settings
from simulator.control import child_env


def run(settings: Settings, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """`python -m simulator ARGS` with these settings in its environment."""
    return subprocess.run([sys.executable, "-m", "simulator", *args], env=child_env(settings), capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip


def consume_all(bootstrap: str, topic: str, timeout: float = 60.0) -> list[tuple[str, bytes]]:
    """Every (key, value) of a topic, read from the beginning up to the high watermarks seen at the start."""
    return [(key, value) for key, value, _ in consume(bootstrap, topic, timeout)]


def consume_partitions(bootstrap: str, topic: str, timeout: float = 60.0) -> list[tuple[str, int]]:
    """(key, partition) of every record of a topic."""
    return [(key, partition) for key, _, partition in consume(bootstrap, topic, timeout)]


def consume(bootstrap: str, topic: str, timeout: float = 60.0) -> list[tuple[str, bytes, int]]:
    """Every (key, value, partition) of a topic, from the beginning up to the high watermarks seen at the start."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"t-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})  # fmt: skip
    try:
        partitions = consumer.list_topics(topic, timeout=15).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15)[1] for p in partitions}
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        records: list[tuple[str, bytes, int]] = []
        positions = dict.fromkeys(partitions, 0)
        deadline = time.monotonic() + timeout
        while any(positions[p] < ends[p] for p in partitions):
            if time.monotonic() > deadline:
                raise TimeoutError(f"read {len(records)} records of {topic}, expected {sum(ends.values())}")
            for msg in consumer.consume(10_000, timeout=1.0):
                if msg.error():
                    raise RuntimeError(msg.error())
                records.append((msg.key().decode(), msg.value(), msg.partition()))
                positions[msg.partition()] = msg.offset() + 1
        return records
    finally:
        consumer.close()


def db_rows(path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()
