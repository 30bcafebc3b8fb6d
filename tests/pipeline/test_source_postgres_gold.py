"""The same simulated history through a PostgreSQL source (written by concurrent connections, ingested in two runs)
and through the SQLite default gives the same bronze source rows and the same gold."""

from __future__ import annotations

from dataclasses import replace

from pyspark.testing import assertDataFrameEqual

from core.contract import GYM_SUMMARY, PROFILE_CHANGES_BZ, REGISTERED_USERS_BZ, WORKOUT_BPM_SUMMARY
from core.kafka_broker import create_topics
from pipeline.bronze import ingest_sources
from pipeline.run_state import StageRun
from pipeline.runner import run_batch
from pipeline.storage import Lakehouse
from simulator.config import SimulatorConfig
from simulator.engine import run_history

END = 1_764_000_000.0  # a fixed end of history: both runs simulate the same records


def test_gold_of_a_postgres_sourced_run_equals_gold_of_a_sqlite_sourced_run(settings, postgres_db, spark, tmp_path):
    on_sqlite = settings
    on_pg = replace(settings, **postgres_db.settings_overrides(), source_db_writers=3,
                    kafka_topic_prefix=f"{settings.kafka_topic_prefix}pg.", lakehouse_dir=tmp_path / "lakehouse-pg",
                    data_dir=tmp_path / "data-pg")  # fmt: skip
    create_topics(on_pg.kafka_bootstrap_servers, list(on_pg.topics.values()))
    config = SimulatorConfig(members=12, seed=4, rest_interval=0, profile_update_rate=0.5)
    for target in (on_sqlite, on_pg):
        run_history(target, config, days=1, end=END - 86_400, progress=False)
    pg_lh = Lakehouse(spark, on_pg)
    for table in (REGISTERED_USERS_BZ, PROFILE_CHANGES_BZ):
        pg_lh.ensure(table)
    ingest_sources(StageRun(pg_lh))  # PostgreSQL's rows reach bronze in two runs, SQLite's in one
    for target in (on_sqlite, on_pg):
        run_history(target, replace(config, members=15), days=1, end=END, progress=False)
    sqlite_lh = Lakehouse(spark, on_sqlite)
    for lh in (sqlite_lh, pg_lh):
        run_batch(lh)

    for table in (REGISTERED_USERS_BZ, PROFILE_CHANGES_BZ):
        assertDataFrameEqual(pg_lh.read(table).drop("load_time"), sqlite_lh.read(table).drop("load_time"))
    assert pg_lh.read(PROFILE_CHANGES_BZ).count() > 15  # updates and deletes, not only the `new` rows
    for table in (WORKOUT_BPM_SUMMARY, GYM_SUMMARY):
        assert sqlite_lh.read(table).count() > 0, table.full_name
        assertDataFrameEqual(pg_lh.read(table), sqlite_lh.read(table))
