"""Each injected fault lands in Kafka or the source database at its configured rate, and only when asked."""

from __future__ import annotations

import json
import math
from collections import Counter

from confluent_kafka import Consumer, TopicPartition

from simulator.config import FaultConfig, SimulatorConfig
from simulator.engine import run_history
from simulator.records import BPM, GYM, MALFORMED_KINDS, WORKOUT, malformed_reason
from tests.simulator.helpers import consume_all, db_rows

END = 1_764_000_000.0
TOPICS = {"bpm": BPM, "workout": WORKOUT, "gym": GYM}


def assert_rate(observed: int, trials: int, rate: float) -> None:
    """Observed count within 4.5 standard deviations of a binomial(trials, rate) mean."""
    mean = trials * rate
    slack = 4.5 * math.sqrt(trials * rate * (1 - rate)) + 2
    assert abs(observed - mean) <= slack, f"{observed} of {trials} is not a rate of {rate} (expected {mean:.0f})"


def read_with_timestamps(bootstrap: str, topic: str) -> list[tuple[int, bytes]]:
    """(Kafka timestamp ms, value) of every record in a topic."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "faults", "enable.auto.commit": False})
    try:
        parts = consumer.list_topics(topic, timeout=15).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15)[1] for p in parts}
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        out, seen = [], Counter()
        while any(seen[p] < ends[p] for p in parts):
            for msg in consumer.consume(10_000, timeout=5.0):
                out.append((msg.timestamp()[1], msg.value()))
                seen[msg.partition()] = msg.offset() + 1
        return out
    finally:
        consumer.close()


def test_record_faults_appear_at_their_rates(settings):
    faults = FaultConfig(dup_rate=0.04, late_rate=0.05, late_max_minutes=30, malformed_rate=0.2, outlier_rate=0.03)
    config = SimulatorConfig(members=150, seed=5, rest_interval=600, faults=faults)
    stats = run_history(settings, config, days=1, end=END, progress=False, event_timestamps=True)

    originals = bpm_originals = 0
    malformed: Counter[str] = Counter()
    duplicates = late = outliers = 0
    for name, topic in TOPICS.items():
        records = read_with_timestamps(settings.kafka_bootstrap_servers, settings.topic(name))
        valid = [(ts, v) for ts, v in records if malformed_reason(topic, v) is None]
        kinds = Counter(malformed_reason(topic, v) for _, v in records if malformed_reason(topic, v) is not None)
        assert set(kinds) == set(MALFORMED_KINDS[topic]), f"{name}: {kinds}"
        malformed += kinds
        copies = Counter(v for _, v in valid)
        duplicates += sum(n - 1 for n in copies.values())
        originals += len(copies)
        values = {v: json.loads(v) for v in copies}
        event_time = {v: r["time"] if "time" in r else (r["logout"] or r["login"]) for v, r in values.items()}
        late += sum(1 for ts, v in valid if ts / 1000 - event_time[v] > 59.0)  # with duplicates of late ones
        if topic == BPM:
            outliers += sum(1 for r in values.values() if r["heartrate"] in (0.0, 300.0))
            bpm_originals = len(copies)

    assert dict(malformed) == stats.faults.malformed
    assert_rate(sum(malformed.values()), originals, 0.2)
    assert duplicates == stats.faults.duplicates
    assert_rate(duplicates, originals, 0.04)
    assert_rate(late, originals, 0.05 * 1.04)
    assert outliers == stats.faults.outliers
    assert_rate(outliers, bpm_originals, 0.03)


def test_out_of_order_profile_changes_carry_an_older_time_and_a_higher_change_id(settings):
    config = SimulatorConfig(members=300, seed=9, rest_interval=0, profile_update_rate=0.5,
                             faults=FaultConfig(ooo_profile_rate=0.3))  # fmt: skip
    stats = run_history(settings, config, days=1, end=END, progress=False)

    sql = "SELECT user_id, update_type, updated FROM profile_changes ORDER BY change_id"
    rows = db_rows(settings.source_db_path, sql)
    newest: dict[int, float] = {}
    stale = updates = 0
    for user_id, update_type, updated in rows:
        if updated < newest.get(user_id, -math.inf):
            stale += 1
        else:
            updates += update_type == "update"
        newest[user_id] = max(updated, newest.get(user_id, -math.inf))
    assert stale == stats.faults.ooo_profile
    assert_rate(stale, updates, 0.3)


def test_no_faults_unless_asked(settings):
    stats = run_history(settings, SimulatorConfig(members=20, seed=4), days=1, end=END, progress=False)

    for name, topic in TOPICS.items():
        values = [v for _, v in consume_all(settings.kafka_bootstrap_servers, settings.topic(name))]
        assert all(malformed_reason(topic, v) is None for v in values)
        assert len(set(values)) == len(values)
    assert stats.faults.as_dict() == {"duplicates": 0, "late": 0, "outliers": 0, "ooo_profile": 0, "malformed": {}}
