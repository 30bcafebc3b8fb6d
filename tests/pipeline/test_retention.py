"""Retention: the maintain stage deletes exactly the rows older than each table's window, gold never changes because
its inputs were retired, Kafka topics keep records as long as bronze, and bad settings stop before anything runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from functools import partial
from pathlib import Path

import pytest
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, ConfigResource
from pyspark.testing import assertDataFrameEqual

from core.contract import (
    ALL_TABLES,
    GYM_SUMMARY,
    HEART_RATE,
    KAFKA_MULTIPLEX_BZ,
    MAINTAIN,
    PIPELINE_RUNS,
    WORKOUT_BPM_SUMMARY,
)
from core.kafka_broker import ensure_kafka, topic_config
from core.service import wait_until
from core.settings import Settings, SettingsError
from pipeline.bronze import check_kafka
from pipeline.maintenance import maintain
from pipeline.run_state import StageRun
from pipeline.runner import run_batch, run_stage
from pipeline.storage import Lakehouse
from simulator.kafka_sink import check_broker
from tests.helpers import write_profile_changes
from tests.pipeline.test_end_to_end import (
    T0,
    expected_gym_summary,
    expected_workout_bpm_summary,
    known_records,
    load_source_rows,
    profile,
    ts,
)

ROOT = Path(__file__).resolve().parents[2]
DAY = 86_400


def produce_at(bootstrap: str, records: list[tuple[str, str, object]], epoch_seconds: float) -> None:
    """Send records with a given Kafka timestamp (bronze's `date` and week come from it)."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for topic, key, value in records:
        payload = value if isinstance(value, str) else json.dumps(value)
        producer.produce(topic, key=key.encode(), value=payload.encode(), timestamp=int(epoch_seconds * 1000))
    assert producer.flush(30) == 0


def test_retention_deletes_exactly_the_rows_older_than_each_window_and_gold_never_changes(settings, spark):
    load_source_rows(settings)
    records = known_records(settings)
    produce_at(settings.kafka_bootstrap_servers, records[:9], T0 - 3 * DAY)  # dated three days before T0
    produce_at(settings.kafka_bootstrap_servers, records[9:], T0)
    lh = Lakehouse(spark, replace(settings, retention_bronze_days=2.0, retention_heart_rate_days=1.0))
    run_batch(lh)
    bronze, readings = lh.read(KAFKA_MULTIPLEX_BZ).collect(), lh.read(HEART_RATE).collect()
    untouched = {t.full_name: sorted(lh.read(t).collect()) for t in ALL_TABLES
                 if t not in (KAFKA_MULTIPLEX_BZ, HEART_RATE, PIPELINE_RUNS)}  # fmt: skip

    now = ts(DAY + 1000)
    run_stage(StageRun(lh), MAINTAIN, "batch", partial(maintain, now=now))

    # bronze retires whole days: those before the day of now - 2 days; heart_rate the readings before now - 1 day
    first_kept_day = (now - timedelta(days=2)).date()
    kept_bronze = sorted(r for r in bronze if r.date >= first_kept_day)
    kept_readings = sorted(r for r in readings if r.time >= now - timedelta(days=1))
    assert len(kept_bronze) == len(records) - 9 and len(kept_readings) == 3  # each window retires some, not all
    assert sorted(lh.read(KAFKA_MULTIPLEX_BZ).collect()) == kept_bronze
    assert sorted(lh.read(HEART_RATE).collect()) == kept_readings
    for table in ALL_TABLES:
        if table.full_name in untouched:
            assert sorted(lh.read(table).collect()) == untouched[table.full_name], table.full_name
    [row] = [r for r in lh.read(PIPELINE_RUNS).collect() if r.stage == MAINTAIN]
    assert (row.status, row.rows_in) == ("succeeded", 9 + len(readings) - 3)

    # a later change makes gold recompute every session of member 1: from workout_bpm, not from retired readings
    write_profile_changes(settings.source_db_path, [profile(1, "update", 100, "Boston")])
    run_batch(lh)
    sessions = [{**r.asDict(), "city": "Boston"} for r in expected_workout_bpm_summary(spark).collect()]
    assertDataFrameEqual(lh.read(WORKOUT_BPM_SUMMARY), spark.createDataFrame(sessions, WORKOUT_BPM_SUMMARY.ddl))
    assertDataFrameEqual(lh.read(GYM_SUMMARY), expected_gym_summary(spark))


def check_kafka_with_spark(request: pytest.FixtureRequest) -> Callable[[Settings], object]:
    return lambda s: check_kafka(Lakehouse(request.getfixturevalue("spark"), s))


# every place that creates the contract's topics: `./dev up`/`kafka start`, the pipeline's bronze, the simulator
TOPIC_CREATORS = {
    "ensure_kafka": lambda request: ensure_kafka,
    "bronze_check_kafka": check_kafka_with_spark,
    "simulator_check_broker": lambda request: check_broker,
}


@pytest.mark.parametrize("creator", TOPIC_CREATORS)
def test_topics_are_created_with_the_bronze_retention(settings, request, creator):
    # a prefix of its own: the settings fixture has already created its topics, without a window
    own = replace(settings, kafka_topic_prefix=f"{settings.kafka_topic_prefix}{creator}.", retention_bronze_days=2.5)
    TOPIC_CREATORS[creator](request)(own)
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    resources = [ConfigResource(ConfigResource.Type.TOPIC, topic) for topic in own.topics.values()]

    def retention_ms() -> dict[str, str]:
        futures = admin.describe_configs(resources)
        return {r.name: f.result(timeout=30)["retention.ms"].value for r, f in futures.items()}

    # a new topic's metadata reaches the broker's config view a moment after its creation returns
    expected = {topic: str(round(2.5 * DAY * 1000)) for topic in own.topics.values()}
    assert wait_until(retention_ms, 60, "the topics' config", retry_on=(KafkaException,)) == expected
    assert topic_config(settings) == {}  # no bronze window: the cluster's default


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RETENTION_BRONZE_DAYS": "0"}, "RETENTION_BRONZE_DAYS=0: a retention window must be more than 0 days"),
        ({"RETENTION_HEART_RATE_DAYS": "-3"}, "RETENTION_HEART_RATE_DAYS=-3: a retention window must be more than 0"),
        ({"RETENTION_HEART_RATE_DAYS": "0.1"}, "shorter than the stream's late-data lookback of 4 h"),
        ({"RETENTION_BRONZE_DAYS": "a week"}, "RETENTION_BRONZE_DAYS='a week' is not a number"),
        ({"LAKEHOUSE_MAINTENANCE_INTERVAL": "hourly"}, "LAKEHOUSE_MAINTENANCE_INTERVAL='hourly' is not a number"),
        ({"LAKEHOUSE_MAINTENANCE_INTERVAL": "-1"}, "LAKEHOUSE_MAINTENANCE_INTERVAL=-1: give 0"),
        ({"LAKEHOUSE_VACUUM_RETENTION_HOURS": "0"}, "VACUUM must keep unused files at least 1 h"),
        ({"LAKEHOUSE_VACUUM_RETENTION_HOURS": "nan"}, "is not a number"),
    ],
)
def test_bad_maintenance_settings_are_one_clear_error(env, message):
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(".", r"\.")):
        Settings.from_env(env)


def test_maintenance_settings_defaults_and_values():
    default = Settings.from_env({})
    assert (default.maintenance_interval, default.retention_bronze_days, default.retention_heart_rate_days,
            default.vacuum_retention_hours) == (3600.0, None, None, 168.0)  # fmt: skip
    s = Settings.from_env({"LAKEHOUSE_MAINTENANCE_INTERVAL": "0", "RETENTION_BRONZE_DAYS": "30",
                           "RETENTION_HEART_RATE_DAYS": "0.25", "LAKEHOUSE_VACUUM_RETENTION_HOURS": "24"})  # fmt: skip
    assert (s.maintenance_interval, s.retention_bronze_days, s.retention_heart_rate_days,
            s.vacuum_retention_hours) == (0.0, 30.0, 0.25, 24.0)  # fmt: skip


def test_maintain_with_a_bad_setting_stops_with_one_line_and_touches_nothing(tmp_path):
    lakehouse = tmp_path / "lakehouse"
    (lakehouse / "silver" / "heart_rate").mkdir(parents=True)
    (lakehouse / "silver" / "heart_rate" / "part-0.parquet").write_bytes(b"rows")
    before = sorted((str(p), p.stat().st_mtime_ns) for p in lakehouse.rglob("*"))
    env = {**os.environ, "LAKEHOUSE_DIR": str(lakehouse), "LAKEHOUSE_DATA_DIR": str(tmp_path / "data"),
           "RETENTION_HEART_RATE_DAYS": "0"}  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "pipeline", "run", "--stage", "maintain"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        "error: RETENTION_HEART_RATE_DAYS=0: a retention window must be more than 0 days (unset keeps everything)"
    ]
    assert sorted((str(p), p.stat().st_mtime_ns) for p in lakehouse.rglob("*")) == before
