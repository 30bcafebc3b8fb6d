"""The Kafka a benchmark measures against: the cluster in KAFKA_BOOTSTRAP_SERVERS, else a throwaway local broker."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from core.kafka_broker import LocalBroker
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
