"""Session-scoped real parts: one local Spark (Delta + Kafka source), one real Kafka broker (KRaft) and one local
PostgreSQL server (a fresh database per test)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from core.kafka_broker import LocalBroker, create_topics
from core.postgres import LocalPostgres
from core.service import free_port, free_port_pair
from core.settings import Settings
from tests.support.postgres import TEST_SERVER_SETTINGS, PostgresDb, create_database, drop_database

_free_port_pair = free_port_pair  # tests import these names from here
__all__ = ["free_port", "_free_port_pair"]


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real broker: the cluster in KAFKA_BOOTSTRAP_SERVERS if set, else a fresh local KRaft broker."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    port = free_port_pair()
    broker = LocalBroker(data_dir=tmp_path_factory.mktemp("kafka"), cache_dir=Settings.from_env().cache_dir,
                         port=port, controller_port=port + 1)  # fmt: skip
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def settings(tmp_path: Path, kafka_bootstrap: str) -> Settings:
    """Settings for one test: its own lakehouse, source database and topic prefix on the shared broker."""
    prefix = f"t{uuid.uuid4().hex[:8]}."
    s = Settings.from_env(
        {},
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_external=True,
        kafka_topic_prefix=prefix,
        source_db_url=str(tmp_path / "source.db"),
        lakehouse_dir=tmp_path / "lakehouse",
        data_dir=tmp_path / "data",
    )
    create_topics(kafka_bootstrap, list(s.topics.values()))
    return s


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory):
    """One local SparkSession for the whole run, built by the project's own factory."""
    from core.spark import get_spark

    base = tmp_path_factory.mktemp("spark")
    session = get_spark(Settings.from_env({}, lakehouse_dir=base), app_name="tests",
                        extra_conf={"spark.sql.shuffle.partitions": "2"})  # fmt: skip
    yield session
    session.stop()


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> LocalPostgres:
    """A real PostgreSQL server on a free port, its data under the session's temporary folder."""
    server = LocalPostgres(data_dir=tmp_path_factory.mktemp("postgres"), port=free_port(),
                           server_settings=TEST_SERVER_SETTINGS)  # fmt: skip
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_db(postgres_server: LocalPostgres) -> PostgresDb:
    """A fresh, empty database for one test (host, port, dbname, user, password, jdbc_url, conninfo,
    settings_overrides()); dropped afterwards."""
    db = create_database(postgres_server)
    try:
        yield db
    finally:
        drop_database(postgres_server, db)
