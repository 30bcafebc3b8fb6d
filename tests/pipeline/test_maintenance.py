"""The maintain stage: every table keeps exactly its rows while its small files are compacted, VACUUM never deletes a
file a stream has still to read, and a stream that runs across maintenance ends in the batch run's gold rows."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest
from pyspark.testing import assertDataFrameEqual

from core.contract import (
    ALL_TABLES,
    GYM_SUMMARY,
    HEART_RATE,
    KAFKA_MULTIPLEX_BZ,
    MAINTAIN,
    PIPELINE_RUNS,
    QUARANTINE,
    STAGES,
    WORKOUT_BPM_SUMMARY,
)
from core.service import wait_until
from pipeline.runner import run_batch, run_stream, setup
from pipeline.storage import Lakehouse
from tests.helpers import produce, write_registrations
from tests.pipeline.test_end_to_end import (
    expected_gym_summary,
    expected_workout_bpm_summary,
    known_records,
    load_source_rows,
)
from tests.pipeline.test_stream import stream_failed

CONTENT_TABLES = tuple(t for t in ALL_TABLES if t != PIPELINE_RUNS)  # ops.pipeline_runs gains the maintain row


def contents(lh: Lakehouse) -> dict[str, list]:
    return {t.full_name: sorted(lh.read(t).collect()) for t in CONTENT_TABLES}


def live_files(lh: Lakehouse) -> dict[str, int]:
    return {t.full_name: lh.delta(t).detail().first().numFiles for t in ALL_TABLES}


def files_on_disk(lh: Lakehouse) -> int:
    return sum(len(list(Path(lh.location(t)).rglob("*.parquet"))) for t in ALL_TABLES)


def maintain_rows(lh: Lakehouse) -> list:
    return [r for r in lh.read(PIPELINE_RUNS).collect() if r.stage == MAINTAIN]


def test_maintenance_keeps_every_row_compacts_and_vacuum_spares_what_a_lagging_stream_reads(settings, spark):
    # VACUUM with no retention at all deletes every file no current version uses, at once: only the stream
    # positions it reads keep the files silver has not read yet
    lh = Lakehouse(spark, replace(settings, vacuum_retention_hours=0.0))
    load_source_rows(settings)
    records = known_records(settings)
    produce(settings.kafka_bootstrap_servers, records[:12])
    run_batch(lh)
    produce(settings.kafka_bootstrap_servers, records[12:])
    run_batch(lh, ("bronze",))  # silver is now behind bronze's last appends

    before, files_before, disk_before = contents(lh), live_files(lh), files_on_disk(lh)
    run_batch(lh, (MAINTAIN,))

    assert contents(lh) == before
    files_after = live_files(lh)
    assert all(files_after[t] <= files_before[t] for t in files_before), (files_before, files_after)
    assert files_after[KAFKA_MULTIPLEX_BZ.full_name] < files_before[KAFKA_MULTIPLEX_BZ.full_name]
    assert files_after[PIPELINE_RUNS.full_name] == 2 < files_before[PIPELINE_RUNS.full_name]  # + the maintain row
    assert files_on_disk(lh) < disk_before  # VACUUM deleted the files compaction replaced where no stream lags
    [row] = maintain_rows(lh)
    assert (row.status, row.mode, row.rows_in) == ("succeeded", "batch", 0)
    # files taken out, counted from the stage's start: after the setup stage's row, before the maintain row itself
    assert row.rows_out == sum(files_before.values()) + 1 - (sum(files_after.values()) - 1)
    properties = lh.delta(HEART_RATE).detail().first().properties
    assert properties["delta.deletedFileRetentionDuration"] == "interval 0 seconds"
    assert properties["delta.checkpointInterval"] == "10"

    run_batch(lh, ("silver", "gold"))  # the lagging streams restart from their checkpoints after VACUUM
    assertDataFrameEqual(lh.read(WORKOUT_BPM_SUMMARY), expected_workout_bpm_summary(spark))
    assertDataFrameEqual(lh.read(GYM_SUMMARY), expected_gym_summary(spark))
    assert len(lh.read(QUARANTINE).collect()) == 3


def test_setup_brings_existing_tables_to_the_settings_and_commits_nothing_when_they_match(settings, spark):
    setup(Lakehouse(spark, settings))  # every table created with the default retention
    lh = Lakehouse(spark, replace(settings, vacuum_retention_hours=2.0))
    setup(lh)
    for table in ALL_TABLES:
        properties = lh.delta(table).detail().first().properties
        assert properties["delta.deletedFileRetentionDuration"] == "interval 7200 seconds", table.full_name
    versions = {t.full_name: lh.version(t) for t in ALL_TABLES if t != PIPELINE_RUNS}
    setup(lh)
    assert {t.full_name: lh.version(t) for t in ALL_TABLES if t != PIPELINE_RUNS} == versions


def test_setup_in_a_catalog_creates_what_is_missing_and_updates_what_exists(settings, spark):
    # Spark's own session catalog stands in for Unity Catalog: the same `<catalog>.<layer>.<table>` names
    lh = Lakehouse(spark, replace(settings, catalog="spark_catalog"))
    try:
        spark.sql(f"CREATE SCHEMA IF NOT EXISTS spark_catalog.{PIPELINE_RUNS.layer}")
        spark.sql(
            f"CREATE TABLE spark_catalog.{PIPELINE_RUNS.layer}.{PIPELINE_RUNS.name} ({PIPELINE_RUNS.ddl}) USING DELTA"
        )
        setup(lh)
        assert lh.storage.absent(ALL_TABLES) == []
        properties = lh.delta(PIPELINE_RUNS).detail().first().properties  # created before: brought to the settings
        assert properties["delta.checkpointInterval"] == "10"
    finally:
        for layer in dict.fromkeys(t.layer for t in ALL_TABLES):
            spark.sql(f"DROP SCHEMA IF EXISTS spark_catalog.{layer} CASCADE")


@pytest.mark.timeout(1200)
def test_stream_across_maintenance_runs_loses_and_doubles_nothing(settings, spark):
    # maintenance after every round; the bronze window retires nothing here (every record is dated today), but its
    # DELETE runs beside the Kafka ingest's appends
    lh = Lakehouse(spark, replace(settings, maintenance_interval=1.0, retention_bronze_days=1.0))
    records = known_records(settings)
    first, second = records[:12], records[12:]
    write_registrations(settings.source_db_path, [])
    produce(settings.kafka_bootstrap_servers, first)

    stop, failed = threading.Event(), []

    def stream() -> None:
        try:
            run_stream(lh, STAGES, stop, interval_seconds=0.5)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            failed.append(exc)

    worker = threading.Thread(target=stream, name="pipeline-stream")
    worker.start()
    try:
        wait_until(lambda: lh.exists(PIPELINE_RUNS) and maintain_rows(lh), 600, "a first maintenance run",
                   interval=1.0, abort=stream_failed(failed))  # fmt: skip
        load_source_rows(settings)
        produce(settings.kafka_bootstrap_servers, second)
        expected = sorted(expected_workout_bpm_summary(spark).collect()), sorted(expected_gym_summary(spark).collect())
        maintained = len(maintain_rows(lh))

        def gold_complete_and_maintained_since() -> bool:
            gold = sorted(lh.read(WORKOUT_BPM_SUMMARY).collect()), sorted(lh.read(GYM_SUMMARY).collect())
            return gold == expected and len(maintain_rows(lh)) > maintained

        wait_until(gold_complete_and_maintained_since, 900, "the gold rows and another maintenance run",
                   interval=1.0, abort=stream_failed(failed))  # fmt: skip
    finally:
        stop.set()
        worker.join(timeout=300)
    assert not worker.is_alive(), "the stream did not stop after the stop signal"
    assert not failed, failed
    assertDataFrameEqual(lh.read(WORKOUT_BPM_SUMMARY), expected_workout_bpm_summary(spark))
    assertDataFrameEqual(lh.read(GYM_SUMMARY), expected_gym_summary(spark))
    bronze = lh.read(KAFKA_MULTIPLEX_BZ)
    assert bronze.count() == bronze.select("topic", "partition", "offset").distinct().count() == len(records)
    assert lh.read(HEART_RATE).count() == 7 and lh.read(QUARANTINE).count() == 3
    assert {(r.status, r.mode) for r in maintain_rows(lh)} == {("succeeded", "stream")}
