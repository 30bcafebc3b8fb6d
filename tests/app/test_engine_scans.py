"""Tables the local engine does not mirror (bronze, silver) are read in place at every query: with DuckDB's Parquet
reader over the version's files, partition columns from the log, or through deltalake's Arrow dataset where a plain
read of the files would not give the version's rows. Real Delta tables written by deltalake."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from app.engines import LocalEngine, local_view_name
from app.queries import BoundQuery
from core.contract import KAFKA_MULTIPLEX_BZ, WORKOUT_BPM, Table
from core.settings import Settings
from tests.support.demo_data import arrow_schema

T = datetime(2026, 11, 20, 8, tzinfo=UTC)


def bronze(topic: str, week: str, offsets: range) -> pa.Table:
    n = len(offsets)
    columns = {"key": [f"k{o}" for o in offsets], "value": [f'{{"o": {o}}}' for o in offsets], "topic": [topic] * n,
               "partition": [o % 2 for o in offsets], "offset": list(offsets),
               "timestamp": [T + timedelta(seconds=o) for o in offsets], "date": [date(2026, 11, 20)] * n,
               "week_part": [week] * n, "load_time": [T] * n}  # fmt: skip
    schema = arrow_schema(KAFKA_MULTIPLEX_BZ)
    return pa.table({f.name: pa.array(columns[f.name]).cast(f.type) for f in schema}, schema=schema)


@pytest.fixture
def engine(tmp_path: Path):
    eng = LocalEngine(Settings.from_env({}, lakehouse_dir=tmp_path), recheck_seconds=0)
    yield eng
    eng.close()


def shown(engine: LocalEngine, table: Table) -> tuple[str, list[str]]:
    """How the engine reads the table (its view's SQL) and its rows, timestamps naive UTC, sorted."""
    rows = engine.query_any(f"SELECT * FROM {{{table.full_name}}}", {}).to_pylist()
    sql = engine._con.sql(f"SELECT sql FROM duckdb_views() WHERE view_name = '{local_view_name(table)}'").fetchall()
    return sql[0][0], sorted(map(repr, rows))


def expected(path: Path) -> list[str]:
    rows = DeltaTable(str(path)).to_pyarrow_table().to_pylist()
    return sorted(repr({k: v.replace(tzinfo=None) if isinstance(v, datetime) else v for k, v in r.items()})
                  for r in rows)  # fmt: skip


def test_a_partitioned_table_is_read_in_place_with_its_partition_values_from_the_log(
    engine: LocalEngine, tmp_path: Path
) -> None:
    path = tmp_path / "bronze" / "kafka_multiplex_bz"
    for topic, week, offsets in (("p.bpm", "2026-47", range(0, 5)), ("p.gym", "2026-47", range(0, 3)),
                                 ("p.bpm", "week 48 'b'", range(5, 9))):  # fmt: skip
        write_deltalake(str(path), bronze(topic, week, offsets), mode="append", partition_by=["topic", "week_part"])
    sql, rows = shown(engine, KAFKA_MULTIPLEX_BZ)
    assert "read_parquet" in sql
    assert rows == expected(path) and len(rows) == 12
    offsets = BoundQuery("offsets", "SELECT k.topic, max(k.offset) AS top, count(*) AS n FROM "
                         "{bronze.kafka_multiplex_bz} k GROUP BY k.topic ORDER BY k.topic", ordered=True)  # fmt: skip
    assert engine.query_any(offsets.sql, {}).to_pylist() == [{"topic": "p.bpm", "top": 8, "n": 9},
                                                             {"topic": "p.gym", "top": 2, "n": 3}]  # fmt: skip
    DeltaTable(str(path)).delete("topic = 'p.gym'")  # a new version without that partition's file
    assert shown(engine, KAFKA_MULTIPLEX_BZ)[1] == expected(path) and len(expected(path)) == 9


def test_a_table_whose_files_lack_a_contract_column_is_read_through_an_arrow_dataset(
    engine: LocalEngine, tmp_path: Path
) -> None:
    path = tmp_path / "silver" / "workout_bpm"
    schema = arrow_schema(WORKOUT_BPM)
    kept = [f for f in schema if f.name != "heartrate"]  # written before a column existed
    write_deltalake(str(path), pa.table({f.name: pa.array([1, 2]).cast(f.type) if f.type != pa.timestamp("us", "UTC")
                                         else pa.array([T, T]) for f in kept}))  # fmt: skip
    sql, rows = shown(engine, WORKOUT_BPM)
    assert "read_parquet" not in sql
    assert rows == expected(path) and len(rows) == 2
