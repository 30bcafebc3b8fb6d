"""A DuckDB table kept in step with one Delta table, file by file, for the dashboard's local engine.

Each Delta version is a set of Parquet files, taken from the table's transaction log (never from its folder, which
also holds files that merges, deletes and OPTIMIZE have removed from the current version but VACUUM has not deleted).
Going from one version to the next deletes the rows of the files that left the set and inserts those of the files
that joined it, in one DuckDB transaction: queries keep reading the previous version until it commits. A version is
never copied whole, except the first, and the DuckDB database lives in a file, so gold can outgrow the engine's
memory limit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pyarrow as pa

from core.contract import Table

log = logging.getLogger(__name__)

FILE_COLUMN = "_delta_file"  # which Delta data file a mirrored row came from

_DUCKDB_TYPES = {"BIGINT": "BIGINT", "INT": "INTEGER", "STRING": "VARCHAR", "DOUBLE": "DOUBLE",
                 "TIMESTAMP": "TIMESTAMP", "DATE": "DATE", "BOOLEAN": "BOOLEAN"}  # fmt: skip


class NotMirrorable(Exception):
    """The table's files cannot be read as plain Parquet (deletion vectors, column mapping, partition columns)."""


@dataclass(frozen=True)
class FileChanges:
    """What one step from a mirrored version to another does: files whose rows go, files whose rows come."""

    removed: frozenset[str]
    added: frozenset[str]

    @property
    def empty(self) -> bool:
        return not self.removed and not self.added


def file_changes(mirrored: Iterable[str], current: Iterable[str]) -> FileChanges:
    """The step from the files a mirror holds to a version's files (an OPTIMIZE removes many and adds a few)."""
    old, new = frozenset(mirrored), frozenset(current)
    return FileChanges(removed=old - new, added=new - old)


def version_files(table: Table, dt) -> frozenset[str]:
    """The data files of a `deltalake.DeltaTable`'s loaded version, from its log; NotMirrorable when a plain Parquet
    read of them would not give the version's rows."""
    if table.partition_by:
        raise NotMirrorable(f"{table.full_name} is partitioned: its partition columns are not in its files")
    _check_plain_files(table, dt)
    return frozenset(dt.file_uris())


def scan_sql(table: Table, dt, view: str) -> str:
    """A view that reads the version's data files in place with DuckDB (no copy, no Arrow dataset to build), columns
    as the contract types them and partition columns from the log; NotMirrorable when a plain read of the files
    would not give the version's rows, or there are none."""
    _check_plain_files(table, dt)
    actions = pa.table(dt.get_add_actions(flatten=True))
    if not actions.num_rows:
        raise NotMirrorable(f"{table.full_name} has no data file")
    root = Path(unquote(urlparse(dt.table_uri).path))
    files = [str(root / unquote(p)) for p in actions.column("path").to_pylist()]
    present = set(pa.schema(dt.schema()).names)
    unread = [c.name for c in table.columns if c.type not in _DUCKDB_TYPES or c.name not in present]
    if unread:
        raise NotMirrorable(f"{table.full_name}: {', '.join(unread)} cannot be read as the contract types them")
    parts = [c.name for c in table.columns if c.name in table.partition_by]
    read = (f"read_parquet([{', '.join(_literal(f) for f in files)}], filename = true, union_by_name = true, "
            f"hive_partitioning = false) d")  # fmt: skip
    if parts:  # the files do not hold their partition values: a row of them per file, from the log
        values = actions.select([f"partition.{name}" for name in parts]).to_pylist()
        rows = ", ".join(f"({_literal(f)}, {', '.join(_literal(v) for v in row.values())})"
                         for f, row in zip(files, values, strict=True))  # fmt: skip
        names = ", ".join(f'"{n}"' for n in parts)
        read += f" JOIN (VALUES {rows}) AS p(filename, {names}) USING (filename)"
    columns = ", ".join(f'CAST({"p" if c.name in parts else "d"}."{c.name}" AS {_DUCKDB_TYPES[c.type]}) AS "{c.name}"'
                        for c in table.columns)  # fmt: skip
    return f"CREATE OR REPLACE VIEW {view} AS SELECT {columns} FROM {read}"


def _literal(value: object) -> str:
    """A SQL literal of a path or a partition value (NULL for a null partition)."""
    return "NULL" if value is None else "'" + str(value).replace("'", "''") + "'"


def _check_plain_files(table: Table, dt) -> None:
    """NotMirrorable when the version's rows are not those of its Parquet files read as they are."""
    if "deletionVectors" in (dt.protocol().reader_features or []):
        raise NotMirrorable(f"{table.full_name} may have deletion vectors")
    if dt.metadata().configuration.get("delta.columnMapping.mode", "none") != "none":
        raise NotMirrorable(f"{table.full_name} maps column names")


def mirror_name(view: str) -> str:
    return f"{view}__mirror"


def create_sql(table: Table, view: str) -> str:
    """The mirror table: the contract's columns and the file column."""
    cols = ", ".join(f'"{c.name}" {_DUCKDB_TYPES[c.type]}' for c in table.columns)
    return f"CREATE TABLE IF NOT EXISTS {mirror_name(view)} ({cols}, {FILE_COLUMN} VARCHAR)"


def view_sql(table: Table, view: str) -> str:
    """The view the queries read: the mirror without its file column."""
    names = ", ".join(f'"{c}"' for c in table.column_names)
    return f"CREATE OR REPLACE VIEW {view} AS SELECT {names} FROM {mirror_name(view)}"


def insert_sql(table: Table, view: str, order_by: str | None = None) -> str:
    """Rows of the files in `$files`, as the contract types them: a timestamp is naive UTC, as Spark shows it,
    whether the file stores it as INT96 (Spark) or as UTC-adjusted micros (deltalake). Sorted by `order_by`, so the
    pages' range filters skip row groups (DuckDB sorts beyond its memory limit on disk when it runs one thread)."""
    casts = ", ".join(f'CAST("{c.name}" AS {_DUCKDB_TYPES[c.type]})' for c in table.columns)
    order = f" ORDER BY {order_by}" if order_by else ""
    return (f"INSERT INTO {mirror_name(view)} SELECT {casts}, filename FROM read_parquet($files, filename = true, "
            f"union_by_name = true, hive_partitioning = false){order}")  # fmt: skip


def delete_sql(view: str) -> str:
    return f"DELETE FROM {mirror_name(view)} WHERE {FILE_COLUMN} IN (SELECT unnest($files))"


def apply(cursor, table: Table, view: str, changes: FileChanges, order_by: str | None = None) -> None:
    """Move the mirror by `changes` in one transaction (on its own cursor: running queries see the old version)."""
    cursor.begin()
    try:
        cursor.execute(create_sql(table, view))
        if changes.removed:
            cursor.execute(delete_sql(view), {"files": sorted(changes.removed)})
        if changes.added:
            cursor.execute(insert_sql(table, view, order_by), {"files": sorted(changes.added)})
        cursor.commit()
    except BaseException:
        cursor.rollback()
        raise


def log_identity(table_path: Path) -> tuple[int, int] | None:
    """Which log a Delta table has: its first commit file's inode and modification time (a table removed and created
    anew has another), or None once log clean-up has removed that file."""
    try:
        st = (table_path / "_delta_log" / f"{0:020d}.json").stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


class KeptTables:
    """Each table's DeltaTable from its last check. Opening a table reads its last checkpoint and every commit after
    it; bringing a kept one up to date reads only the commits made since. A table is opened anew the first time,
    when its log was started again (removed and created anew: another first commit), when its first commit is no
    longer there to tell, or when the update fails. Not thread-safe: the caller holds its lock."""

    def __init__(self) -> None:
        self._kept: dict[str, tuple[Any, tuple[int, int]]] = {}

    def latest(self, key: str, path: Path, open_table: Callable[[], Any]):
        identity = log_identity(path)
        kept = self._kept.get(key)
        if kept is not None and identity is not None and kept[1] == identity:
            try:
                kept[0].update_incremental()
                return kept[0]
            except Exception:  # noqa: BLE001 - whatever the update met, a table opened anew is the answer
                log.info("%s: reopened after a failed update", key, exc_info=True)
        table = open_table()
        if identity is None:
            self._kept.pop(key, None)
        else:
            self._kept[key] = (table, identity)
        return table
