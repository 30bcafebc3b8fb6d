"""The same seed, database and time window give the same records and rows; another seed gives others."""

from __future__ import annotations

import uuid
from dataclasses import replace

from core.kafka_broker import create_topics
from simulator.config import SimulatorConfig
from simulator.engine import run_history
from tests.simulator.helpers import consume_all, db_rows

END = 1_764_000_000.0


def twin(settings, tmp_path, name):
    other = replace(settings, kafka_topic_prefix=f"t{uuid.uuid4().hex[:8]}.", source_db_url=str(tmp_path / name))
    create_topics(other.kafka_bootstrap_servers, list(other.topics.values()))
    return other


def everything(settings):
    records = {t: sorted(consume_all(settings.kafka_bootstrap_servers, settings.topic(t))) for t in settings.topics}
    rows = db_rows(settings.source_db_path, "SELECT * FROM registrations") + db_rows(
        settings.source_db_path, "SELECT * FROM profile_changes ORDER BY change_id"
    )
    return records, rows


def test_same_seed_gives_the_same_records_and_rows(settings, tmp_path):
    config = SimulatorConfig(members=40, seed=11, profile_update_rate=0.2)
    again = twin(settings, tmp_path, "again.db")
    run_history(settings, config, days=2, end=END, progress=False)
    run_history(again, config, days=2, end=END, progress=False)

    first, second = everything(settings), everything(again)
    assert first == second
    assert len(first[0]["bpm"]) > 1000 and len(first[1]) > 40


def test_another_seed_gives_other_records(settings, tmp_path):
    other = twin(settings, tmp_path, "other.db")
    run_history(settings, SimulatorConfig(members=10, seed=1), days=1, end=END, progress=False)
    run_history(other, SimulatorConfig(members=10, seed=2), days=1, end=END, progress=False)

    assert everything(settings)[0]["bpm"] != everything(other)[0]["bpm"]
