"""The local engine follows a Delta table version by version, from its log: appends, merges, deletes and an
OPTIMIZE-like rewrite each give exactly the rows deltalake reads at that version; DuckDB holds no copy per version
and its memory stays under its limit while the table is larger. Real Delta tables written by deltalake."""

from __future__ import annotations

import gc
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from app.delta_mirror import file_changes
from app.engines import LocalEngine, local_view_name
from app.queries import BoundQuery
from core.contract import WORKOUT_BPM_SUMMARY
from core.service import wait_until
from core.settings import Settings
from tests.support.demo_data import arrow_schema

DAY = datetime(2026, 11, 20, 8)
ALL_ROWS = BoundQuery("all_rows", "SELECT * FROM {gold.workout_bpm_summary}")
KEY = ("user_id", "workout_id", "session_id")


def sessions(first: int, count: int, bpm: float = 120.0) -> pa.Table:
    """`count` gold rows with user ids from `first` on."""
    ids = list(range(first, first + count))
    start = [DAY + timedelta(minutes=i) for i in ids]
    columns = {"user_id": ids, "workout_id": [1] * count, "session_id": [1] * count, "start_time": start,
               "end_time": [s + timedelta(minutes=30) for s in start], "gym": [i % 3 for i in ids],
               "age": ["25-35"] * count, "gender": ["F"] * count, "city": ["Austin"] * count,
               "state": ["TX"] * count, "min_bpm": [bpm - 20] * count, "avg_bpm": [bpm] * count,
               "max_bpm": [bpm + 20] * count, "num_recordings": [10] * count}  # fmt: skip
    schema = arrow_schema(WORKOUT_BPM_SUMMARY)
    return pa.table({f.name: pa.array(columns[f.name]).cast(f.type) for f in schema}, schema=schema)


def rows(table: pa.Table) -> list[tuple]:
    """Every row, timestamps naive UTC as the engine shows them, in key order."""
    out = []
    for r in table.to_pylist():
        out.append(tuple(v.replace(tzinfo=None) if isinstance(v, datetime) else v for v in r.values()))
    return sorted(out)


@pytest.fixture
def gold(tmp_path: Path) -> str:
    path = tmp_path / "gold" / "workout_bpm_summary"
    path.parent.mkdir(parents=True)
    write_deltalake(str(path), sessions(1, 5))
    return str(path)


@pytest.fixture
def engine(tmp_path: Path):
    eng = LocalEngine(Settings.from_env({}, lakehouse_dir=tmp_path), recheck_seconds=0)
    yield eng
    eng.close()


def current(engine: LocalEngine, path: str) -> list[tuple]:
    """The engine's rows once it shows the table's latest version (later versions arrive in the background)."""
    version = DeltaTable(path).version()
    wait_until(lambda: engine.query(ALL_ROWS) is not None and engine.shown_version(WORKOUT_BPM_SUMMARY) == version, 30,
               f"the engine at version {version}", interval=0.05)  # fmt: skip
    return rows(engine.query(ALL_ROWS))


def test_an_append_shows_the_new_rows(engine: LocalEngine, gold: str) -> None:
    assert current(engine, gold) == rows(sessions(1, 5))
    write_deltalake(gold, sessions(6, 3), mode="append")
    assert current(engine, gold) == rows(sessions(1, 8))


def test_a_merge_update_replaces_the_rows_of_the_rewritten_file(engine: LocalEngine, gold: str) -> None:
    current(engine, gold)
    updates = sessions(2, 2, bpm=150.0)
    (DeltaTable(gold).merge(updates, " AND ".join(f"t.{k} = s.{k}" for k in KEY), source_alias="s", target_alias="t")
     .when_matched_update_all().when_not_matched_insert_all().execute())  # fmt: skip
    shown = current(engine, gold)
    assert shown == rows(DeltaTable(gold).to_pyarrow_table())
    assert [r[11] for r in shown] == [120.0, 150.0, 150.0, 120.0, 120.0]  # avg_bpm per user, no old copy left


def test_a_delete_removes_exactly_its_rows(engine: LocalEngine, gold: str) -> None:
    current(engine, gold)
    DeltaTable(gold).delete("user_id = 3")
    assert [r[0] for r in current(engine, gold)] == [1, 2, 4, 5]


def test_an_optimize_rewrite_neither_doubles_nor_loses_rows(engine: LocalEngine, gold: str) -> None:
    for first in (6, 9, 12):
        write_deltalake(gold, sessions(first, 3), mode="append")
    assert len(current(engine, gold)) == 14
    metrics = DeltaTable(gold).optimize.compact()
    assert metrics["numFilesRemoved"] == 4 and metrics["numFilesAdded"] == 1
    # the removed files are still in the folder (no VACUUM yet): the engine follows the log, not the folder
    assert len(list(Path(gold).glob("*.parquet"))) == 5
    assert current(engine, gold) == rows(sessions(1, 14))


def test_a_commit_without_data_files_keeps_the_rows(engine: LocalEngine, gold: str) -> None:
    before = current(engine, gold)
    DeltaTable(gold).alter.set_table_properties({"delta.logRetentionDuration": "interval 30 days"})
    assert current(engine, gold) == before


def test_later_versions_are_read_from_the_commits_since_the_last_check_not_by_opening_the_table_again(
    engine: LocalEngine, gold: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = []
    real_open = engine._open
    monkeypatch.setattr(engine, "_open", lambda table: opened.append(table) or real_open(table))
    current(engine, gold)
    for first in (6, 9, 12):
        write_deltalake(gold, sessions(first, 3), mode="append")
        assert current(engine, gold) == rows(sessions(1, first + 2))
    assert len(opened) == 1


def test_a_table_removed_and_created_anew_is_read_from_its_new_log(engine: LocalEngine, gold: str) -> None:
    write_deltalake(gold, sessions(6, 3), mode="append")
    write_deltalake(gold, sessions(9, 3), mode="append")
    assert len(current(engine, gold)) == 11  # version 2
    shutil.rmtree(gold)
    write_deltalake(gold, sessions(100, 2, bpm=90.0))  # a new log, whose version 3 follows the old version 2
    for first in (102, 104, 106):
        write_deltalake(gold, sessions(first, 2, bpm=90.0), mode="append")
    assert current(engine, gold) == rows(sessions(100, 8, bpm=90.0))


def test_an_engine_never_closed_leaves_no_folder_behind(tmp_path: Path, gold: str) -> None:
    engine = LocalEngine(Settings.from_env({}, lakehouse_dir=tmp_path))
    engine.query(ALL_ROWS)
    folder = engine.database_file.parent
    assert folder.is_dir()
    del engine
    gc.collect()
    assert not folder.exists()


def test_a_version_moves_only_the_changed_files() -> None:
    step = file_changes({"a", "b", "c"}, {"b", "c", "d", "e"})
    assert (step.removed, step.added) == ({"a"}, {"d", "e"})
    assert file_changes({"a"}, {"a"}).empty


def test_duckdb_holds_one_table_on_disk_whatever_the_versions(engine: LocalEngine, gold: str) -> None:
    for first in (6, 9):
        write_deltalake(gold, sessions(first, 3), mode="append")
        current(engine, gold)
    con = engine._con
    in_memory = con.sql("SELECT database_name FROM duckdb_databases() WHERE NOT internal AND path IS NULL").fetchall()
    assert in_memory == []  # no in-memory copy of any version
    tables = con.sql("SELECT database_name, table_name FROM duckdb_tables()").fetchall()
    assert tables == [(engine.database_file.stem, f"{local_view_name(WORKOUT_BPM_SUMMARY)}__mirror")]


def test_duckdb_memory_stays_under_its_limit_while_gold_is_larger(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    path = str(tmp_path / "gold" / "workout_bpm_summary")
    expected = 0.0
    for part in range(20):  # twenty files of 100,000 rows with incompressible values
        n = 100_000
        chunk = sessions(part * n + 1, n)
        for column in ("min_bpm", "avg_bpm", "max_bpm"):
            chunk = chunk.set_column(chunk.schema.get_field_index(column), column, pa.array(rng.random(n) * 200))
        for column in ("city", "state"):  # 32 random hex digits each
            noise = rng.bytes(16 * n)
            chunk = chunk.set_column(chunk.schema.get_field_index(column), column,
                                     pa.array([noise[i : i + 16].hex() for i in range(0, 16 * n, 16)]))  # fmt: skip
        expected += pa.compute.sum(chunk.column("avg_bpm")).as_py()
        write_deltalake(path, chunk, mode="append")
    limit = 100 * 1024 * 1024
    engine = LocalEngine(Settings.from_env({}, lakehouse_dir=tmp_path), memory_limit_mb=100)
    try:
        total = engine.query(BoundQuery("sum", "SELECT count(*) AS n, sum(avg_bpm) AS s "
                                               "FROM {gold.workout_bpm_summary}")).to_pylist()[0]  # fmt: skip
        assert total["n"] == 2_000_000 and total["s"] == pytest.approx(expected)
        engine._con.execute("CHECKPOINT")
        used = engine._con.sql("SELECT sum(memory_usage_bytes) AS used FROM duckdb_memory()").fetchall()[0][0]
        assert used <= limit
        assert engine.database_file.stat().st_size > limit  # the table is larger than the memory DuckDB may use
    finally:
        engine.close()
