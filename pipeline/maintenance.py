"""The maintain stage: retention, compaction and VACUUM of every table, one pass, between the streams' rounds.

Per table, in this order: rows older than the table's retention window are deleted (`RETENTION`); small files are
compacted (Delta's OPTIMIZE, bin-packing only: see docs/PERFORMANCE.md, Maintenance, for why no Z-order); files no
table version needs any more are deleted (VACUUM). The stage's row in ops.pipeline_runs counts the rows retention
deleted as `rows_in` and the data files the pass took out of the tables' current versions (files before minus
files after, over every table) as `rows_out`.

Why maintenance loses nothing a stream still needs:
- OPTIMIZE and VACUUM commits change no data: Delta's streaming sources skip them. A retention DELETE does change
  data, so every stream over a table with a retention column reads its appends only (`Storage.read_stream`).
- A stream reads a table's versions one by one from the files each commit added, so rows deleted after they were
  appended still reach it, as long as their files exist; see `vacuum_hours` for why VACUUM keeps them.
- Gold is recomputed from silver.workout_bpm, gym_logs, completed_workouts, users and user_bins, none of which has
  a retention window: retiring bronze or heart-rate rows cannot change a gold row, and gold is only recomputed for
  the keys new silver rows touch. A window is always longer than the contract's lookback
  (core.contract.LOOKBACK_HOURS, checked by Settings), so a late workout record still finds the readings it pairs
  with; heart-rate rows are only retired once silver_workout_bpm, which also reads the table whole, has read every
  append (`_readers_caught_up`). A member registered after their device's readings left the window gets only the
  retained ones.
"""

from __future__ import annotations

import json
import logging
import math
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from urllib.parse import unquote, urlparse

from pyspark.sql import functions as F

from core.contract import ALL_TABLES, HEART_RATE, KAFKA_MULTIPLEX_BZ, Table
from pipeline.run_state import StageRun
from pipeline.storage import Lakehouse, LocalStorage
from pipeline.streams import run_parallel

log = logging.getLogger(__name__)

# table -> (its Settings field of retention days, whether its rows wait until every stream over it caught up).
# heart_rate waits: silver_workout_bpm also reads the whole table to pair readings with sessions. The Kafka
# multiplex table need not: only silver_from_kafka reads it, as a stream, and it is always a little behind.
RETENTION: dict[Table, tuple[str, bool]] = {
    KAFKA_MULTIPLEX_BZ: ("retention_bronze_days", False),
    HEART_RATE: ("retention_heart_rate_days", True),
}
_DATA_WRITES = ("WRITE", "MERGE", "STREAMING UPDATE")  # the operations that add rows a stream must read
_GROUPS = 3  # tables maintained side by side, each group one after the other


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def stream_positions(checkpoints: Path) -> dict[str, int]:
    """For each Delta table (by its id) that a checkpointed stream reads, the oldest table version any of them still
    needs: the offset of its last committed batch (its next batch starts there), or of its first batch when none
    is committed yet (that batch reads the table's snapshot at that version)."""
    needed: dict[str, int] = {}
    for stream in sorted(checkpoints.iterdir()) if checkpoints.is_dir() else ():
        offsets, commits = stream / "offsets", stream / "commits"
        batches = sorted(int(p.name) for p in offsets.iterdir() if p.name.isdigit()) if offsets.is_dir() else []
        if not batches:
            continue
        done = [int(p.name) for p in commits.iterdir() if p.name.isdigit()] if commits.is_dir() else []
        batch = max(done) if done else batches[0]
        try:
            lines = (offsets / str(batch)).read_text().splitlines()
        except FileNotFoundError:  # purged by the running Kafka ingest (which reads no Delta table) meanwhile
            continue
        for line in lines[2:]:  # "v1", then the batch's metadata, then one offset per source
            try:
                offset = json.loads(line)
            except ValueError:
                continue
            if isinstance(offset, dict) and "reservoirId" in offset:
                table_id, version = offset["reservoirId"], int(offset["reservoirVersion"])
                needed[table_id] = min(version, needed.get(table_id, version))
    return needed


def _unread_history(lh: Lakehouse, table: Table, needed: int | None, latest: int):
    """The commits from `needed` to `latest` (newest first) as (version, operation, micros), none if none."""
    if needed is None or needed > latest:
        return []
    history = lh.delta(table).history(latest - needed + 1)
    rows = history.select("version", "operation", F.unix_micros("timestamp").alias("micros")).collect()
    return [(r.version, r.operation, r.micros) for r in rows if r.version >= needed]


def _readers_caught_up(lh: Lakehouse, table: Table, needed: int | None, latest: int) -> bool:
    """Every stream over `table` has read every commit that added rows (none is newer than what it needs next)."""
    return not any(op in _DATA_WRITES for _, op, _ in _unread_history(lh, table, needed, latest))


def retention_condition(table: Table, days: float, now: datetime) -> str:
    """SQL condition of the rows of `table` older than `days` at `now`. A DATE column retires whole days: the rows
    dated before the day that `now - days` falls in."""
    column = table.retention_column
    assert column is not None, f"{table.full_name} has no retention column"
    cutoff = now - timedelta(days=days)
    if table.type_of(column) == "DATE":
        return f"`{column}` < DATE'{cutoff.date().isoformat()}'"
    micros = round((cutoff - datetime(1970, 1, 1)).total_seconds() * 1_000_000)
    return f"`{column}` < timestamp_micros({micros})"


def retire_old_rows(lh: Lakehouse, table: Table, needed: int | None, latest: int, now: datetime) -> int:
    """Delete the rows older than the table's retention window; return how many went (0 without a window)."""
    if table not in RETENTION:
        return 0
    field, wait_for_readers = RETENTION[table]
    days = getattr(lh.settings, field)
    if days is None:
        return 0
    if wait_for_readers and not _readers_caught_up(lh, table, needed, latest):
        log.info("%s: a stream has not read every append yet, retention waits for the next run", table.full_name)
        return 0
    rows = lh.delete_where(table, retention_condition(table, days, now))
    log.info("%s: %d rows older than %g days retired", table.full_name, rows, days)
    return rows


def vacuum_hours(lh: Lakehouse, table: Table, needed: int | None, latest: int) -> float:
    """How long VACUUM keeps the files no current version of `table` uses: the settings' retention, and longer while
    a checkpointed stream still has to read older versions.

    VACUUM deletes a file only once it has been out of the table (removed by OPTIMIZE or a DELETE) for the whole
    retention. A stream whose next version to read is v needs only files that were in the table at v or added
    after it, so removed after v's commit: keeping every file removed since v's commit keeps all of them, whether
    the stream runs now or restarts from its checkpoint later. A reader in flight reads a version it loaded moments
    ago: the retention (1 h at least, Settings) covers it, and writes in flight whose files are not committed yet.
    Delta's retention-duration check stays on: the tables' deletedFileRetentionDuration is this same setting, and
    the hours here are never below it.
    """
    hours = lh.settings.vacuum_retention_hours
    unread = _unread_history(lh, table, needed, latest)
    if unread:
        oldest = min(micros for _, _, micros in unread)
        age = (_utcnow() - datetime(1970, 1, 1)).total_seconds() - oldest / 1_000_000
        hours = max(hours, math.ceil(age / 3600) + 1)
    return hours


def _may_vacuum_something(lh: Lakehouse, table: Table, hours: float) -> bool:
    """Whether VACUUM with `hours` could delete any file: locally, whether a data file no current version uses was
    written more than `hours` ago (VACUUM deletes a file only once it has been out of the table, or never in it,
    that long, and a file leaves the table after it was written). VACUUM costs some twenty Spark jobs even when it
    deletes nothing; this costs a directory listing. Elsewhere always True."""
    if not isinstance(lh.storage, LocalStorage):
        return True
    root = Path(lh.location(table))
    live = {Path(unquote(urlparse(f).path)) for f in lh.read(table).inputFiles()}
    oldest = time.time() - hours * 3600
    return any(p not in live and p.stat().st_mtime < oldest for p in root.rglob("*.parquet")
               if "_delta_log" not in p.parts)  # fmt: skip


def _live_files(lh: Lakehouse, table: Table) -> tuple[str, int]:
    row = lh.delta(table).detail().select("id", "numFiles").first()
    return row.id, int(row.numFiles or 0)


def maintain_table(run: StageRun, table: Table, positions: dict[str, int], now: datetime) -> int:
    """Retention, compaction and VACUUM of one table; return the rows retired, count the files taken out."""
    lh = run.lh
    started = time.monotonic()
    table_id, before = _live_files(lh, table)
    latest = lh.version(table)
    needed = positions.get(table_id)
    rows = retire_old_rows(lh, table, needed, latest, now)
    if before > 1 or rows:
        lh.delta(table).optimize().executeCompaction()  # commits nothing when no bin has two files
    hours = vacuum_hours(lh, table, needed, latest)
    if _may_vacuum_something(lh, table, hours):
        lh.delta(table).vacuum(hours)
    after = _live_files(lh, table)[1]
    run.stats.add(before - after)
    log.info("%s: %d -> %d files (VACUUM keeps %g h), in %.1fs", table.full_name, before, after, hours,
             time.monotonic() - started)  # fmt: skip
    return rows


def maintain(run: StageRun, now: datetime | None = None, tables: tuple[Table, ...] = ALL_TABLES) -> int:
    """One maintenance pass over `tables` (every table that exists), `_GROUPS` of them side by side; return the rows
    retention deleted. `now` (UTC) places the retention windows; it is the clock's time unless given."""
    lh = run.lh
    now = now or _utcnow()
    positions = stream_positions(Path(lh.settings.checkpoints))
    present = [t for t in tables if lh.exists(t)]

    def group(run: StageRun, members: list[Table]) -> int:
        return sum(maintain_table(run, t, positions, now) for t in members)

    groups = [present[i::_GROUPS] for i in range(_GROUPS) if present[i::_GROUPS]]
    return run_parallel(run, *[partial(group, members=g) for g in groups]) if groups else 0


def update_properties(run: StageRun, tables: tuple[Table, ...] = ALL_TABLES) -> int:
    """Bring every existing table's properties to the settings' values (pipeline.storage.table_properties); a
    metadata commit only where one differs. Setup runs it, before any stream starts."""

    def update(run: StageRun, table: Table) -> int:
        changed = run.lh.update_properties(table)
        if changed:
            log.info("%s: set %s", table.full_name, ", ".join(changed))
        return 0

    return run_parallel(run, *[partial(update, table=t) for t in tables])
