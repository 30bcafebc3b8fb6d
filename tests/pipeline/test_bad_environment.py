"""A bad environment (broker down, source database missing, lakehouse not writable) gives one clear line, a failed
run in ops.pipeline_runs where ops can be written, and no table written halfway."""

from __future__ import annotations

from dataclasses import replace

import pytest

from core.contract import (
    ALL_TABLES,
    GYM_SUMMARY,
    KAFKA_MULTIPLEX_BZ,
    PIPELINE_RUNS,
    REGISTERED_USERS_BZ,
    USER_BINS,
    WORKOUT_BPM_SUMMARY,
)
from core.service import free_port
from pipeline import cli
from pipeline.errors import PipelineError
from pipeline.run_state import StageRun
from pipeline.runner import run_batch, run_stage, setup
from pipeline.storage import Lakehouse
from tests.helpers import write_registrations

MEMBER = (1, 11, "aa:bb:cc:dd:ee:01", 1_700_000_000.0)


def failed_runs(lh: Lakehouse) -> list[tuple[str, str]]:
    rows = lh.read(PIPELINE_RUNS).where("status = 'failed'").select("stage", "error").collect()
    return [(r.stage, r.error) for r in rows]


def test_a_broker_that_is_down_fails_bronze_before_anything_is_written(settings, spark):
    down = replace(settings, kafka_bootstrap_servers=f"127.0.0.1:{free_port()}")
    write_registrations(down.source_db_path, [MEMBER])
    lh = Lakehouse(spark, down)
    with pytest.raises(PipelineError, match=r"Kafka at 127\.0\.0\.1:\d+ is not reachable"):
        run_batch(lh)
    [(stage, error)] = failed_runs(lh)
    assert stage == "bronze" and "not reachable" in error
    assert lh.read(REGISTERED_USERS_BZ).count() == 0  # the source rows were not taken without their events
    assert lh.read(KAFKA_MULTIPLEX_BZ).count() == 0


def test_a_missing_source_database_fails_bronze_with_a_hint_and_records_it(settings, spark):
    lh = Lakehouse(spark, settings)  # the fixture's source database file was never created
    with pytest.raises(PipelineError, match="source database .* does not exist: run `python -m simulator history`"):
        run_batch(lh)
    [(stage, error)] = failed_runs(lh)
    assert stage == "bronze" and "does not exist" in error
    assert lh.read(KAFKA_MULTIPLEX_BZ).count() == 0


def test_a_lakehouse_that_cannot_be_written_fails_before_creating_anything(settings, spark, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the lakehouse should be")
    lh = Lakehouse(spark, replace(settings, lakehouse_dir=blocker / "lakehouse", checkpoint_dir=None))
    with pytest.raises(PipelineError, match=r"the lakehouse at .*not-a-directory/lakehouse is not writable: "):
        run_batch(lh)
    assert blocker.read_text() == "a file where the lakehouse should be"


def test_a_layer_that_cannot_be_written_fails_setup_which_is_recorded(settings, spark):
    write_registrations(settings.source_db_path, [MEMBER])
    settings.lakehouse_dir.mkdir(parents=True)
    (settings.lakehouse_dir / "gold").write_text("a file where the gold layer should be")
    lh = Lakehouse(spark, settings)
    with pytest.raises(PipelineError, match=r"cannot create gold\.workout_bpm_summary at .*/gold/workout_bpm_summary"):
        run_batch(lh)
    [(stage, error)] = failed_runs(lh)
    assert stage == "setup" and "gold.workout_bpm_summary" in error
    assert not any(lh.exists(t) for t in ALL_TABLES if t.layer == "gold")
    assert not lh.exists(KAFKA_MULTIPLEX_BZ) or lh.read(KAFKA_MULTIPLEX_BZ).count() == 0  # no stage ran


def test_the_cli_reports_one_line_and_exit_status_1(settings, spark, monkeypatch, capsys):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", settings.kafka_bootstrap_servers)
    monkeypatch.setenv("KAFKA_TOPIC_PREFIX", settings.kafka_topic_prefix)
    monkeypatch.setenv("SOURCE_DB_URL", settings.source_db_url)  # does not exist
    monkeypatch.setenv("LAKEHOUSE_DIR", str(settings.lakehouse_dir))
    assert cli.main(["run", "--mode", "batch"]) == 1
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith("error: source database "), err
    assert "Traceback" not in err


def test_a_table_rewritten_outside_the_pipeline_fails_gold_with_what_to_do(settings, spark):
    """Gold reads silver.user_bins' change data from its checkpoint; a stretch of the table's history without change
    data (its feed switched off for a while, outside the pipeline) cannot be read by any rerun: one clear line that
    says how to rebuild, recorded, and gold left as it was."""
    lh = Lakehouse(spark, settings)
    setup(lh, "batch")
    bins = lh.storage.sql_ref(USER_BINS)
    spark.sql(f"INSERT INTO {bins} VALUES (1, '25-35', 'F', 'Austin', 'TX')")
    run_stage(StageRun(lh), "gold", "batch")  # the checkpoint now expects change data from the next version on
    spark.sql(f"ALTER TABLE {bins} SET TBLPROPERTIES (delta.enableChangeDataFeed = false)")
    spark.sql(f"INSERT INTO {bins} VALUES (2, '25-35', 'M', 'Austin', 'TX')")
    spark.sql(f"ALTER TABLE {bins} SET TBLPROPERTIES (delta.enableChangeDataFeed = true)")
    gold_before = {t.name: lh.version(t) for t in (WORKOUT_BPM_SUMMARY, GYM_SUMMARY)}

    with pytest.raises(PipelineError) as raised:
        run_stage(StageRun(lh), "gold", "batch")
    message = str(raised.value)
    assert "the gold stage's checkpoints expect change data that a table it reads no longer has" in message
    assert "change data was not recorded for version [" in message
    assert f"delete the lakehouse's tables ({settings.lakehouse_dir}) and its checkpoints ({settings.checkpoints})" in (
        message
    )
    assert "DELTA_MISSING_CHANGE_DATA" in str(raised.value.__cause__)  # Spark's own error stays attached
    [(stage, error)] = failed_runs(lh)
    assert stage == "gold" and error == message
    assert {t.name: lh.version(t) for t in (WORKOUT_BPM_SUMMARY, GYM_SUMMARY)} == gold_before
