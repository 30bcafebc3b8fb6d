"""Crash safety: the streaming pipeline is killed (SIGKILL, the whole process group, JVM included) in the middle of
its work several times while the simulator keeps producing, then restarted; in the end every table holds exactly
what one batch run over the same inputs produces — nothing lost, nothing doubled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from pyspark.sql import DataFrame
from pyspark.testing import assertDataFrameEqual

from core.contract import ALL_TABLES, HEART_RATE, KAFKA_MULTIPLEX_BZ, PIPELINE_RUNS, WORKOUT_BPM_SUMMARY
from core.service import exited, wait_until
from core.settings import Settings
from pipeline.runner import run_batch
from pipeline.storage import Lakehouse

VOLATILE = {"load_time", "detected_at"}  # stamped when written, so they differ between two runs by design
ROOT = Path(__file__).resolve().parents[2]


def environment(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": settings.kafka_topic_prefix,
        "SOURCE_DB_URL": settings.source_db_url,
        "LAKEHOUSE_DIR": str(settings.lakehouse_dir),
        "LAKEHOUSE_DATA_DIR": str(settings.data_dir),
        "LAKEHOUSE_CACHE_DIR": str(settings.cache_dir),
    }


def start(settings: Settings, *args: str, log: Path) -> subprocess.Popen:
    """A child in its own process group, so a kill reaches everything it started (Spark's JVM too)."""
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=environment(settings), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip


def commits(settings: Settings, table) -> int:
    log = settings.table_path(table.layer, table.name) / "_delta_log"
    return len(list(log.glob("*.json"))) if log.exists() else 0


def stable(df: DataFrame) -> DataFrame:
    return df.drop(*[c for c in df.columns if c in VOLATILE])


@pytest.mark.timeout(2400)  # three pipeline start-ups (a JVM each) and two batch runs: minutes on a busy machine
def test_killed_stream_restarts_with_nothing_lost_or_doubled(settings, spark, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    simulator = start(settings, "-m", "simulator", "live", "--members", "20", "--speed", "600", "--seed", "7",
                      "--dup-rate", "0.02", "--late-rate", "0.02", "--malformed-rate", "0.01",
                      "--ooo-profile-rate", "0.2", "--outlier-rate", "0.01", log=logs / "simulator.log")  # fmt: skip
    try:
        wait_until(settings.source_db_path.exists, 120, "the simulator's first registrations", abort=exited(simulator))
        # each round kills the pipeline right after a commit of a different layer, while the rest is mid-flight
        for round_, table in enumerate((KAFKA_MULTIPLEX_BZ, HEART_RATE, WORKOUT_BPM_SUMMARY)):
            before = commits(settings, table)
            pipeline = start(settings, "-m", "pipeline", "run", "--mode", "stream", "--interval", "0.5",
                             log=logs / f"pipeline-{round_}.log")  # fmt: skip
            try:
                wait_until(lambda t=table, b=before: commits(settings, t) > max(b, 1), 900,
                           f"a new commit of {table.full_name} (round {round_})",
                           abort=exited(pipeline, simulator))  # fmt: skip
            finally:
                os.killpg(pipeline.pid, signal.SIGKILL)
                pipeline.wait(60)
            assert pipeline.returncode == -signal.SIGKILL
    finally:
        simulator.send_signal(signal.SIGTERM)
        simulator.wait(60)
    assert simulator.returncode == 0, (logs / "simulator.log").read_text()[-2000:]

    crashed = Lakehouse(spark, settings)
    run_batch(crashed)  # the restart: picks up after the last kill and processes everything left
    reference = Lakehouse(spark, replace(settings, lakehouse_dir=tmp_path / "reference", checkpoint_dir=None))
    run_batch(reference)  # one batch run over the same inputs

    multiplex = crashed.read(KAFKA_MULTIPLEX_BZ)
    assert multiplex.count() == multiplex.select("topic", "partition", "offset").distinct().count()
    assert crashed.read(WORKOUT_BPM_SUMMARY).count() > 0, "the simulator produced no completed workout"
    for table in ALL_TABLES:
        if table is not PIPELINE_RUNS:
            assertDataFrameEqual(stable(crashed.read(table)), stable(reference.read(table)))
    runs = crashed.read(PIPELINE_RUNS)
    assert runs.where("status = 'failed'").count() == 0
