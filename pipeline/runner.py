"""Runs stages in order, as one batch or continuously, and records every stage run in ops.pipeline_runs."""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial

from core.contract import ALL_TABLES, MAINTAIN, PIPELINE_RUNS, QUARANTINE, STAGES, Table
from pipeline.bronze import ingest_sources, run_bronze, start_kafka_ingest
from pipeline.errors import PipelineError, first_line
from pipeline.gold import run_gold
from pipeline.maintenance import maintain, update_properties
from pipeline.run_state import RunStats, StageRun
from pipeline.silver import run_silver
from pipeline.storage import Lakehouse
from pipeline.streams import Step, Trigger, run_parallel, stop_between_batches

log = logging.getLogger(__name__)

OPS_TABLES = (PIPELINE_RUNS, QUARANTINE)
STAGE_FUNCS: dict[str, Step] = {"bronze": run_bronze, "silver": run_silver, "gold": run_gold, MAINTAIN: maintain}


def _create(run: StageRun, table: Table) -> int:
    try:
        run.lh.ensure(table)
        return 0
    except Exception as exc:  # noqa: BLE001 - Spark's error, reduced to one line a user can act on
        location = run.lh.location(table)
        raise PipelineError(f"cannot create {table.full_name} at {location}: {first_line(exc, 300)}") from exc


def create_tables(run: StageRun, new: tuple[Table, ...]) -> int:
    """Every table of the contract that does not exist yet, created empty (idempotent), and the properties of each
    table that existed before this setup (all but `new`) brought to the settings' values: reading a table's
    properties costs a Spark job, and a table created now already has them. A create is mostly the driver's own work
    (planning, the first commit), so where the storage allows, tables are created side by side, a thread each;
    run_parallel raises the first failure in the contract's order."""
    missing = run.lh.storage.absent(new)  # the operations tables exist by now
    if not run.lh.storage.parallel_creates:
        for table in missing:
            _create(run, table)
    elif missing:
        run_parallel(run, *[partial(_create, table=t) for t in missing])
    existing = tuple(t for t in ALL_TABLES if t not in new)
    return update_properties(run, existing) if existing else 0


def setup(lh: Lakehouse, mode: str = "batch") -> None:
    """The setup stage: the operations tables first, so that any later failure, this stage's own included, is
    recorded in ops.pipeline_runs; then every other table."""
    lh.storage.check_writable()
    run = StageRun(lh)
    new = tuple(lh.storage.absent(ALL_TABLES))
    for table in OPS_TABLES:
        _create(run, table)
    run_stage(run, "setup", mode, partial(create_tables, new=new), record_empty=mode == "batch")


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def record_run(lh: Lakehouse, record: dict[str, object]) -> None:
    from pyspark.sql import Row

    lh.append(PIPELINE_RUNS, lh.spark.createDataFrame([Row(**record)], PIPELINE_RUNS.ddl))


def _explained(exc: Exception, lh: Lakehouse, stage: str) -> Exception:
    """Spark's error, or a PipelineError saying what to do where the cause is known: change data that a stream's
    checkpoint expects and the table no longer has (it was rewritten outside the pipeline, e.g. its change data feed
    switched off for a while, or by another version of it) cannot be read by any rerun."""
    text = str(exc)
    if "DELTA_MISSING_CHANGE_DATA" not in text:
        return exc
    seen = re.search(r"change data was not\s+recorded for version \[[^\]]*\]", text)
    return PipelineError(
        f"the {stage} stage's checkpoints expect change data that a table it reads no longer has "
        f"({' '.join(seen.group(0).split()) if seen else 'DELTA_MISSING_CHANGE_DATA'}): the table was rewritten "
        f"outside the pipeline or by another version of it. Rebuild from the sources: delete the lakehouse's tables "
        f"({lh.storage.root}) and its checkpoints ({lh.settings.checkpoints})"
    )


def run_stage(run: StageRun, stage: str, mode: str, func: Step | None = None, record_empty: bool = True) -> int:
    """Run one stage, record it (status, rows in/out, error) and return its input row count. Its rows out are counted
    from zero; the step state of `run` carries over."""
    func = func or STAGE_FUNCS[stage]
    run = replace(run, stats=RunStats())
    lh = run.lh
    record = {"run_id": uuid.uuid4().hex, "stage": stage, "mode": mode, "started_at": _utcnow(), "finished_at": None,
              "status": "running", "rows_in": 0, "rows_out": 0, "error": None}  # fmt: skip
    try:
        rows = func(run)
        record.update(status="succeeded", rows_in=rows)
        return rows
    except Exception as exc:
        error = _explained(exc, lh, stage)
        record.update(status="failed", error=first_line(error, 1000))
        if error is exc:
            raise
        raise error from exc
    finally:
        record.update(finished_at=_utcnow(), rows_out=run.stats.rows_written)
        if record_empty or record["rows_in"] or record["status"] != "succeeded":
            try:
                record_run(lh, record)
            except Exception:  # noqa: BLE001 - never hide the stage's own error behind a bookkeeping one
                log.exception("could not record the %s run in ops.pipeline_runs", stage)


def run_batch(lh: Lakehouse, stages: tuple[str, ...] = STAGES) -> dict[str, int]:
    """Every requested stage once over everything available now, in contract order; maintenance last."""
    setup(lh, "batch")
    run = StageRun(lh)
    return {stage: run_stage(run, stage, "batch") for stage in (*STAGES, MAINTAIN) if stage in stages}


def run_stream(lh: Lakehouse, stages: tuple[str, ...] = STAGES, stop: threading.Event | None = None,
               interval_seconds: float = 2.0) -> None:  # fmt: skip
    """Kafka -> bronze as a continuous stream; the database, silver and gold in incremental rounds until `stop`, one
    round every `interval_seconds` (the next at once when a round took longer).

    When the stream runs every stage, maintenance runs after a round's gold once `maintenance_interval` seconds
    (settings; 0 = never) have passed since the start or the last one: between rounds, so that it never races a
    merge, while the Kafka ingest goes on appending (OPTIMIZE, VACUUM and retention deletes never conflict with an
    append)."""
    stop = stop or threading.Event()
    every = lh.settings.maintenance_interval if set(STAGES) <= set(stages) else 0.0
    last_maintained = time.monotonic()
    setup(lh, "stream")
    run = StageRun(lh)  # its step state lets an idle round skip the steps with no new input
    kafka: list = []  # the continuous Kafka -> bronze query, once started

    def start_ingest(run: StageRun) -> int:
        kafka.append(start_kafka_ingest(run.lh, Trigger(available_now=False, interval=f"{interval_seconds} seconds")))
        return 0

    if "bronze" in stages:
        run_stage(run, "bronze", "stream", start_ingest, record_empty=False)  # a broker that is down: recorded, raised
    kafka_query = kafka[0] if kafka else None
    try:
        while not stop.is_set():
            began = time.monotonic()
            if kafka_query is not None and not kafka_query.isActive:
                raise kafka_query.exception() or RuntimeError("the Kafka ingest stream stopped")
            # a stop asked for during a stage ends the round after that stage: the next start goes on from there
            if "bronze" in stages:
                run_stage(run, "bronze", "stream", ingest_sources, record_empty=False)
            for stage in ("silver", "gold"):
                if stage in stages and not stop.is_set():
                    run_stage(run, stage, "stream", record_empty=False)
            if every > 0 and time.monotonic() - last_maintained >= every and not stop.is_set():
                run_stage(run, MAINTAIN, "stream")
                last_maintained = time.monotonic()
            # rounds start every interval, or at once when a round took longer (a processing-time trigger): input
            # that arrived during a long round waits for no pause on top of it
            stop.wait(max(0.0, interval_seconds - (time.monotonic() - began)))
    finally:
        if kafka_query is not None:
            stop_between_batches(kafka_query)
        log.info("pipeline stream stopped")
