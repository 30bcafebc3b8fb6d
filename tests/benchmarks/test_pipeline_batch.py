"""The pure parts of the batch throughput benchmark: arguments, sizing, and parsing what the tools print."""

from __future__ import annotations

import logging

import pytest

from benchmarks.kafka import KafkaRead, SparkFloor, parse_consumer_perf
from benchmarks.pipeline_batch import (
    StepCapture,
    StepTime,
    history_size,
    parse_args,
    parse_step_line,
    report,
    stage_of,
    summarise_steps,
)

# What Kafka 4.1.1's ConsumerPerformance prints without --show-detailed-stats
CONSUMER_PERF_OUTPUT = """\
start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, \
fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
2025-11-25 20:48:45:123, 2025-11-25 20:48:50:456, 2.4383, 0.4573, 49748, 9330.1, 3012, 2321, 1.0505, 21433.9
"""


def test_arguments_default_to_a_million_compact_events_and_reject_nonsense():
    args = parse_args([])
    assert (args.events, args.members, args.days, args.encoding) == (1_000_000, None, None, "compact")
    assert parse_args(["--events", "50000", "--members", "40"]).members == 40
    assert parse_args(["--encoding", "generic"]).encoding == "generic"
    bad_args = (["--events", "10"], ["--members", "0"], ["--days", "0"], ["--members", "5", "--days", "1"],
                ["--encoding", "xml"])  # fmt: skip
    for bad in bad_args:
        with pytest.raises(SystemExit):
            parse_args(bad)


def test_history_size_picks_members_for_days_or_days_for_members():
    assert history_size(1_000_000, 500.0, None, None) == (1000, 2.0)
    assert history_size(1_000_000, 500.0, None, 4.0) == (500, 4.0)
    assert history_size(1_000_000, 500.0, 250, None) == (250, 8.0)
    assert history_size(10, 500.0, None, 1.0)[0] == 1  # never zero members


def test_step_lines_of_the_pipeline_are_parsed_and_others_ignored():
    assert parse_step_line("silver_heart_rate: 49748 input rows in 25.6s") == ("silver_heart_rate", 49748, 25.6)
    assert parse_step_line("bronze registered_users_bz: 56 new source rows") is None
    assert (stage_of("gold_sessions_from_readings"), stage_of("bronze_kafka_multiplex"), stage_of("x")) == (
        "gold", "bronze", "other")  # fmt: skip


def test_consumer_performance_result_row_is_read_by_column_name():
    row = parse_consumer_perf("some warning\n" + CONSUMER_PERF_OUTPUT)
    assert (row["data.consumed.in.nMsg"], row["nMsg.sec"], row["fetch.time.ms"]) == ("49748", "9330.1", "2321")
    with pytest.raises(ValueError):
        parse_consumer_perf("WARN: no records consumed\n")


def test_steps_are_summed_per_step_slowest_first():
    steps = [StepTime("silver", "a", 10, 1.0), StepTime("gold", "b", 5, 3.0), StepTime("silver", "a", 20, 1.5)]
    assert summarise_steps(steps) == [("gold", "b", 1, 5, 3.0), ("silver", "a", 2, 30, 2.5)]


def test_step_capture_collects_pipeline_step_records_and_restores_the_logger():
    logger = logging.getLogger("pipeline")
    before = (logger.level, logger.propagate, list(logger.handlers))
    with StepCapture() as capture:
        logging.getLogger("pipeline.streams").info("%s: %d input rows in %.1fs", "gold_x", 7, 2.3)
        logging.getLogger("pipeline.bronze").info("bronze %s: %d new source rows", "t", 3)
    assert [(s.stage, s.step, s.rows, s.seconds) for s in capture.steps] == [("gold", "gold_x", 7, 2.3)]
    assert capture.steps[0].at > 0
    assert (logger.level, logger.propagate, list(logger.handlers)) == before


def test_report_puts_the_pipeline_rate_beside_kafka_the_spark_floor_and_the_targets():
    kafka = KafkaRead(messages=100_000, seconds=2.0, fetch_seconds=1.0, per_topic={"bpm": 50_000.0})
    steps = [StepTime("silver", "silver_heart_rate", 90_000, 4.0), StepTime("gold", "gold_x", 10, 1.0)]
    lines = report(100_000, {"bpm": 99_000, "workout": 600, "gym": 400}, 50, 2.0, kafka, 10.0,
                   {"setup": 0.5, "bronze": 2.0, "silver": 5.0, "gold": 2.0}, steps, {"gold rows": 7},
                   ["uptime: load average 1.00"], 3.0, "generic", SparkFloor(100_000, 4.0))  # fmt: skip
    text = "\n".join(lines)
    assert "2 days; generic encoding of record values" in lines[0]
    assert "Kafka ConsumerPerformance (raw read)" in text and "50,000" in text
    assert "pipeline run_batch, bronze -> gold" in text and "10,000" in text and "(20.0% of the raw read)" in text
    assert "Spark: Kafka -> one Delta table (the floor)       25,000       4.0" in text
    assert "(20.0% of the raw read), 40.0% of the floor" in text
    targets = [line.split() for line in lines if line.startswith("target (")]
    assert [(t[2], t[3], " ".join(t[4:])) for t in targets] == [
        ("4)", "30,000", "NOT met"),
        ("23)", "60,000", "NOT met"),
    ]
    assert "setup" in text and "other        0.5 s" in text
    assert "silver_heart_rate" in text and "uptime: load average 1.00" in text
    assert lines[-1] == (
        "RESULT events_per_s=10000.0 batch_s=10.00 kafka_raw_read_per_s=50000.0 "
        "share_of_raw_read=0.200 spark_floor_per_s=25000.0"
    )
