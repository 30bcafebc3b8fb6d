"""Kafka with SASL by configuration only, against a real broker that refuses clients who do not sign in: the
simulator, topic creation and the pipeline's Spark Kafka source all reach it through the KAFKA_SASL_* settings."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from app import kafka_lag
from core.connections import confluent_kafka_config
from core.contract import KAFKA_MULTIPLEX_BZ, REGISTERED_USERS_BZ
from core.kafka_broker import DEFAULT_PARTITIONS, LocalBroker, create_topics
from core.service import free_port_pair
from core.settings import Settings
from pipeline.bronze import run_bronze
from pipeline.errors import PipelineError
from pipeline.run_state import StageRun
from pipeline.runner import setup
from pipeline.storage import Lakehouse
from simulator.config import SimulatorConfig
from simulator.engine import run_history

USER, PASSWORD = "lakehouse", "s3cret-for-tests"


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory: pytest.TempPathFactory) -> LocalBroker:
    port = free_port_pair()
    broker = LocalBroker(data_dir=tmp_path_factory.mktemp("sasl-kafka"), cache_dir=Settings.from_env().cache_dir,
                         port=port, controller_port=port + 1, sasl_users={USER: PASSWORD})  # fmt: skip
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def sasl_settings(broker: LocalBroker, tmp_path: Path, password: str = PASSWORD) -> Settings:
    env = {"KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
           "KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USERNAME": USER, "KAFKA_SASL_PASSWORD": password,
           "KAFKA_TOPIC_PREFIX": "sasl.", "SOURCE_DB_URL": str(tmp_path / "source.db"),
           "LAKEHOUSE_DIR": str(tmp_path / "lakehouse"), "LAKEHOUSE_DATA_DIR": str(tmp_path / "data")}  # fmt: skip
    return Settings.from_env(env, cache_dir=Settings.from_env().cache_dir)


def test_simulator_and_pipeline_reach_a_sasl_broker_through_settings_alone(sasl_broker, spark, tmp_path):
    settings = sasl_settings(sasl_broker, tmp_path)
    stats = run_history(settings, SimulatorConfig(members=5, seed=11), days=0.5, end=1_764_000_000.0, progress=False)
    assert stats.total > 0
    lh = Lakehouse(spark, settings)
    setup(lh)
    run_bronze(StageRun(lh))
    assert lh.read(KAFKA_MULTIPLEX_BZ).count() == stats.total
    assert lh.read(REGISTERED_USERS_BZ).count() == stats.registrations >= 5


def test_a_wrong_password_is_one_clear_error_and_nothing_is_written(sasl_broker, spark, tmp_path):
    settings = sasl_settings(sasl_broker, tmp_path, password="not-the-password")
    lh = Lakehouse(spark, replace(settings, source_db_url=str(tmp_path / "missing.db")))
    setup(lh)
    with pytest.raises(PipelineError, match=r"Kafka at 127\.0\.0\.1:\d+ is not reachable") as failure:
        run_bronze(StageRun(lh))
    assert "not-the-password" not in str(failure.value)
    assert lh.read(KAFKA_MULTIPLEX_BZ).count() == 0


def test_the_dashboards_lag_probe_signs_in_through_settings_alone(sasl_broker, tmp_path):
    settings = replace(sasl_settings(sasl_broker, tmp_path), kafka_topic_prefix="lag.")
    topics = list(settings.topics.values())
    create_topics(settings.kafka_bootstrap_servers, topics, client_config=confluent_kafka_config(settings))
    ends = kafka_lag.end_offsets(settings, topics, timeout=15)
    assert ends == {(topic, partition): 0 for topic in topics for partition in range(DEFAULT_PARTITIONS)}
    with pytest.raises(kafka_lag.KafkaUnreachable):
        kafka_lag.end_offsets(sasl_settings(sasl_broker, tmp_path, password="not-the-password"), topics, timeout=5)


def test_a_cluster_id_never_starts_with_a_dash_that_the_storage_tool_would_read_as_an_option(monkeypatch):
    from core import kafka_broker

    ids = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=bytes(16))])  # the first encodes as "-AAA..."
    monkeypatch.setattr(kafka_broker.uuid, "uuid4", lambda: next(ids))
    assert kafka_broker._kafka_cluster_id() == "AAAAAAAAAAAAAAAAAAAAAA"
