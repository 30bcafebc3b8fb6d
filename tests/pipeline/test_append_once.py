"""Exactly-once appends (Kafka -> bronze, the quarantine): each micro-batch once, a batch run again after a restart
skipped, by its stream's own commit tags only."""

from __future__ import annotations

from datetime import UTC, datetime

from core.contract import KAFKA_MULTIPLEX_BZ
from pipeline.storage import Lakehouse
from pipeline.streams import append_each_batch_once


def records(spark, first_offset: int, count: int):
    at = datetime(2026, 11, 26, 12, 0, tzinfo=UTC).replace(tzinfo=None)
    rows = [
        ("k", f'{{"n":{o}}}', "bpm", 0, o, at, at.date(), "2026-48", at)
        for o in range(first_offset, first_offset + count)
    ]
    return spark.createDataFrame(rows, KAFKA_MULTIPLEX_BZ.ddl)


def offsets(lh: Lakehouse) -> list[int]:
    return sorted(r.offset for r in lh.read(KAFKA_MULTIPLEX_BZ).select("offset").collect())


def test_a_batch_committed_before_a_restart_is_skipped_and_later_ones_appended(settings, spark):
    lh = Lakehouse(spark, settings)
    lh.ensure(KAFKA_MULTIPLEX_BZ)
    first_run = append_each_batch_once(lh, KAFKA_MULTIPLEX_BZ, "ingest")
    first_run(records(spark, 0, 2), 0)
    first_run(records(spark, 2, 2), 1)  # committed; then the process dies before Spark marks batch 1 done
    other = append_each_batch_once(lh, KAFKA_MULTIPLEX_BZ, "another-stream")
    other(records(spark, 100, 1), 7)  # another writer's higher batch id is not this stream's

    restarted = append_each_batch_once(lh, KAFKA_MULTIPLEX_BZ, "ingest")
    restarted(records(spark, 2, 2), 1)  # Spark runs batch 1 again, first of the new run: nothing appended
    restarted(records(spark, 4, 2), 2)
    assert offsets(lh) == [0, 1, 2, 3, 4, 5, 100]

    fresh = append_each_batch_once(lh, KAFKA_MULTIPLEX_BZ, "ingest")
    fresh(records(spark, 6, 1), 3)  # the first batch of a run that is new is appended
    assert offsets(lh) == [0, 1, 2, 3, 4, 5, 6, 100]


def test_the_check_reads_the_whole_history_when_other_commits_hide_this_streams(settings, spark):
    lh = Lakehouse(spark, settings, history_page=2)
    lh.ensure(KAFKA_MULTIPLEX_BZ)
    append_each_batch_once(lh, KAFKA_MULTIPLEX_BZ, "ingest")(records(spark, 0, 1), 0)
    for n in range(3):  # more commits by others than one page of history
        lh.append(KAFKA_MULTIPLEX_BZ, records(spark, 100 + n, 1))
    assert lh.last_batch(KAFKA_MULTIPLEX_BZ, lh.writer_id("ingest")) == 0
    append_each_batch_once(lh, KAFKA_MULTIPLEX_BZ, "ingest")(records(spark, 0, 1), 0)
    assert offsets(lh) == [0, 100, 101, 102]
