"""Stream mode: the same records arriving in chunks, out of order across topics and sources, while the
pipeline runs continuously, end in exactly the gold rows of one batch run."""

from __future__ import annotations

import threading

from pyspark.testing import assertDataFrameEqual

from core.contract import GYM_SUMMARY, KAFKA_MULTIPLEX_BZ, WORKOUT_BPM_SUMMARY
from core.service import wait_until
from pipeline.runner import STAGES, run_stream
from pipeline.storage import Lakehouse
from tests.helpers import produce, write_registrations
from tests.pipeline.test_end_to_end import (
    expected_gym_summary,
    expected_workout_bpm_summary,
    known_records,
    load_source_rows,
)


def stream_failed(failed: list[BaseException]):
    """An `abort` for wait_until: the stream thread's exception, once it has one."""
    return lambda: failed and f"the stream failed: {failed[0]!r}"


def test_stream_fed_in_out_of_order_chunks_ends_in_the_batch_gold_rows(settings, spark):
    lh = Lakehouse(spark, settings)
    records = known_records(settings)
    gym_chunk, workout_chunk, bpm_chunk = records[18:], records[:8], records[8:18]
    write_registrations(settings.source_db_path, [])  # the source database exists, with no member yet
    produce(settings.kafka_bootstrap_servers, gym_chunk)  # gym visits before anything else

    stop, failed = threading.Event(), []

    def stream() -> None:
        try:
            run_stream(lh, STAGES, stop, interval_seconds=0.5)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            failed.append(exc)

    worker = threading.Thread(target=stream, name="pipeline-stream")
    worker.start()
    try:
        produce(settings.kafka_bootstrap_servers, bpm_chunk)  # readings before their workouts
        wait_until(lambda: lh.exists(KAFKA_MULTIPLEX_BZ) and lh.read(KAFKA_MULTIPLEX_BZ).count() >= 15, 600,
                   "the first chunks in bronze", interval=1.0, abort=stream_failed(failed))  # fmt: skip
        load_source_rows(settings)  # registrations and profiles after the events
        produce(settings.kafka_bootstrap_servers, workout_chunk)

        expected_sessions = sorted(expected_workout_bpm_summary(spark).collect())
        expected_visits = sorted(expected_gym_summary(spark).collect())

        def gold_complete() -> bool:
            sessions = sorted(lh.read(WORKOUT_BPM_SUMMARY).collect())
            return sessions == expected_sessions and sorted(lh.read(GYM_SUMMARY).collect()) == expected_visits

        wait_until(gold_complete, 900, "the gold rows", interval=1.0, abort=stream_failed(failed))
    finally:
        stop.set()
        worker.join(timeout=300)
    assert not worker.is_alive(), "the stream did not stop after the stop signal"
    assert not failed, failed
    assertDataFrameEqual(lh.read(WORKOUT_BPM_SUMMARY), expected_workout_bpm_summary(spark))
    assert lh.read(KAFKA_MULTIPLEX_BZ).count() == len(records)
