"""Runs stages in order, as one batch or continuously, and records every stage run in ops.pipeline_runs."""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

from core.contract import ALL_TABLES, PIPELINE_RUNS, QUARANTINE, STAGES, Table
from pipeline.bronze import ingest_sources, run_bronze, start_kafka_ingest
from pipeline.errors import PipelineError, first_line
from pipeline.gold import run_gold
from pipeline.silver import run_silver
from pipeline.storage import Lakehouse
from pipeline.streams import Trigger, run_parallel, stop_between_batches

log = logging.getLogger(__name__)

OPS_TABLES = (PIPELINE_RUNS, QUARANTINE)
STAGE_FUNCS: dict[str, Callable[[Lakehouse], int]] = {"bronze": run_bronze, "silver": run_silver, "gold": run_gold}


def check_writable(lh: Lakehouse) -> None:
    """Fail with one line when the local lakehouse or its checkpoints cannot be written (before anything is)."""
    if lh.settings.catalog:
        return
    for root in dict.fromkeys([lh.settings.lakehouse_dir, lh.settings.checkpoints]):
        try:
            root.mkdir(parents=True, exist_ok=True)
            probe = root / f".write-probe-{uuid.uuid4().hex}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise PipelineError(f"the lakehouse at {root} is not writable: {exc.strerror or exc}") from exc


def _create(lh: Lakehouse, table: Table) -> int:
    try:
        lh.ensure(table)
        return 0
    except Exception as exc:  # noqa: BLE001 - Spark's error, reduced to one line a user can act on
        raise PipelineError(f"cannot create {table.full_name} at {lh.location(table)}: {first_line(exc, 300)}") from exc


def create_tables(lh: Lakehouse) -> int:
    """Every table of the contract that does not exist yet, created empty (idempotent). A create is a few hundred
    milliseconds of the driver's own work (planning, the first commit), so local tables are created side by side, a
    thread each; run_parallel raises the first failure in the contract's order. A catalog's go one at a time (their
    schemas are created on the way)."""
    missing = [t for t in ALL_TABLES if lh.settings.catalog or lh.version(t) is None]
    if lh.settings.catalog:
        for table in missing:
            _create(lh, table)
        return 0
    return run_parallel(lh, *[partial(_create, table=t) for t in missing])


def setup(lh: Lakehouse, mode: str = "batch") -> None:
    """The setup stage: the operations tables first, so that any later failure, this stage's own included, is
    recorded in ops.pipeline_runs; then every other table."""
    check_writable(lh)
    for table in OPS_TABLES:
        _create(lh, table)
    run_stage(lh, "setup", mode, create_tables, record_empty=mode == "batch")


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def record_run(lh: Lakehouse, run: dict[str, object]) -> None:
    from pyspark.sql import Row

    lh.append(PIPELINE_RUNS, lh.spark.createDataFrame([Row(**run)], PIPELINE_RUNS.ddl))


def _explained(exc: Exception, lh: Lakehouse, stage: str) -> Exception:
    """Spark's error, or a PipelineError saying what to do where the cause is known: change data that a stream's
    checkpoint expects and the table no longer has (it was rewritten outside the pipeline, e.g. its change data feed
    switched off for a while, or by another version of it) cannot be read by any rerun."""
    text = str(exc)
    if "DELTA_MISSING_CHANGE_DATA" not in text:
        return exc
    seen = re.search(r"change data was not\s+recorded for version \[[^\]]*\]", text)
    tables = lh.settings.catalog or str(lh.settings.lakehouse_dir)
    return PipelineError(
        f"the {stage} stage's checkpoints expect change data that a table it reads no longer has "
        f"({' '.join(seen.group(0).split()) if seen else 'DELTA_MISSING_CHANGE_DATA'}): the table was rewritten "
        f"outside the pipeline or by another version of it. Rebuild from the sources: delete the lakehouse's tables "
        f"({tables}) and its checkpoints ({lh.settings.checkpoints})"
    )


def run_stage(lh: Lakehouse, stage: str, mode: str, func: Callable[[Lakehouse], int] | None = None,
              record_empty: bool = True) -> int:  # fmt: skip
    """Run one stage, record it (status, rows in/out, error) and return its input row count."""
    func = func or STAGE_FUNCS[stage]
    run = {"run_id": uuid.uuid4().hex, "stage": stage, "mode": mode, "started_at": _utcnow(), "finished_at": None,
           "status": "running", "rows_in": 0, "rows_out": 0, "error": None}  # fmt: skip
    lh.rows_written = 0
    try:
        rows = func(lh)
        run.update(status="succeeded", rows_in=rows)
        return rows
    except Exception as exc:
        error = _explained(exc, lh, stage)
        run.update(status="failed", error=first_line(error, 1000))
        if error is exc:
            raise
        raise error from exc
    finally:
        run.update(finished_at=_utcnow(), rows_out=lh.rows_written)
        if record_empty or run["rows_in"] or run["status"] != "succeeded":
            try:
                record_run(lh, run)
            except Exception:  # noqa: BLE001 - never hide the stage's own error behind a bookkeeping one
                log.exception("could not record the %s run in ops.pipeline_runs", stage)


def run_batch(lh: Lakehouse, stages: tuple[str, ...] = STAGES) -> dict[str, int]:
    """Every requested stage once over everything available now, in contract order."""
    setup(lh, "batch")
    return {stage: run_stage(lh, stage, "batch") for stage in STAGES if stage in stages}


def run_stream(lh: Lakehouse, stages: tuple[str, ...] = STAGES, stop: threading.Event | None = None,
               interval_seconds: float = 2.0) -> None:  # fmt: skip
    """Kafka -> bronze as a continuous stream; the database, silver and gold in incremental rounds until `stop`, one
    round every `interval_seconds` (the next at once when a round took longer)."""
    stop = stop or threading.Event()
    setup(lh, "stream")
    kafka: list = []  # the continuous Kafka -> bronze query, once started

    def start_ingest(lh: Lakehouse) -> int:
        kafka.append(start_kafka_ingest(lh, Trigger(available_now=False, interval=f"{interval_seconds} seconds")))
        return 0

    if "bronze" in stages:
        run_stage(lh, "bronze", "stream", start_ingest, record_empty=False)  # a broker that is down: recorded, raised
    kafka_query = kafka[0] if kafka else None
    try:
        while not stop.is_set():
            began = time.monotonic()
            if kafka_query is not None and not kafka_query.isActive:
                raise kafka_query.exception() or RuntimeError("the Kafka ingest stream stopped")
            # a stop asked for during a stage ends the round after that stage: the next start goes on from there
            if "bronze" in stages:
                run_stage(lh, "bronze", "stream", ingest_sources, record_empty=False)
            for stage in ("silver", "gold"):
                if stage in stages and not stop.is_set():
                    run_stage(lh, stage, "stream", record_empty=False)
            # rounds start every interval, or at once when a round took longer (a processing-time trigger): input
            # that arrived during a long round waits for no pause on top of it
            stop.wait(max(0.0, interval_seconds - (time.monotonic() - began)))
    finally:
        if kafka_query is not None:
            stop_between_batches(kafka_query)
        log.info("pipeline stream stopped")
