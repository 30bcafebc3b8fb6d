"""A broker restart in the middle of a live run loses nothing and doubles nothing (idempotent producer, acks=all)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from core.kafka_broker import LocalBroker, create_topics
from core.service import wait_until
from simulator import control
from simulator.config import SimulatorConfig
from tests.conftest import _free_port_pair
from tests.simulator.helpers import consume_all


def test_broker_restart_mid_run_loses_and_duplicates_nothing(settings, tmp_path):
    port = _free_port_pair()
    broker = LocalBroker(data_dir=tmp_path / "kafka", cache_dir=settings.cache_dir, port=port, controller_port=port + 1)
    broker.start()
    own = replace(settings, kafka_bootstrap_servers=broker.bootstrap)
    create_topics(own.kafka_bootstrap_servers, list(own.topics.values()))
    try:
        control.start(own, SimulatorConfig(members=300, seed=8, rest_interval=60), speed=1800.0)
        wait_until(lambda: control.status(own).get("events_delivered", 0) > 3000, 60, "records delivered")

        broker.stop()
        down = control.status(own)["events_sent"]
        wait_until(lambda: control.status(own)["events_sent"] > down + 3000, 60, "records queued while down")
        queued = control.status(own)["events_sent"]
        broker.start()
        wait_until(lambda: control.status(own)["events_delivered"] > queued, 120, "the backlog delivered")

        assert control.stop(own, timeout=60)
        final = control.status(own)
        assert final["status"] == "stopped" and final["errors"] == 0
        assert final["events_sent"] == final["events_delivered"]
        for name in own.topics:
            values = [v for _, v in consume_all(own.kafka_bootstrap_servers, own.topic(name))]
            assert len(values) == final["records"][name]
            assert not [v for v, n in Counter(values).items() if n > 1], f"duplicates in {name}"
    finally:
        control.stop(own, timeout=30)
        broker.stop()
