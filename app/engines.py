"""The two query engines behind the dashboard; both take the same templated SQL and bound values.

- `LocalEngine`: embedded DuckDB over the local Delta tables: gold and ops mirrored file by file from the Delta log
  (app.delta_mirror), the rest read with the `deltalake` package (no DuckDB extension).
- `DatabricksEngine`: a Databricks SQL warehouse through databricks-sql-connector.
Neither knows about Streamlit; `app.data` picks one from the settings and caches it.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from app.delta_mirror import (
    FileChanges,
    KeptTables,
    NotMirrorable,
    apply,
    file_changes,
    mirror_name,
    scan_sql,
    version_files,
    view_sql,
)
from app.queries import BoundQuery, render, to_dollar_params
from core.connections import DatabricksOAuth
from core.contract import Table, render_refs
from core.contract import referenced_tables as contract_tables
from core.settings import Settings

log = logging.getLogger(__name__)


class DataUnavailable(Exception):
    """The data behind a view cannot be read right now; the message is meant for the person looking at the page."""


class AccessDenied(DataUnavailable):
    """The signed-in principal may not read this (the access policy, governance/policy.yml)."""

    def __init__(self, message: str, table: str | None = None) -> None:
        self.table = table
        super().__init__(message)


class TableMissing(DataUnavailable):
    def __init__(self, table: Table, where: str = "") -> None:
        self.table = table
        super().__init__(f"Table {table.full_name} does not exist yet{f' ({where})' if where else ''}.")


class WarehouseStarting(DataUnavailable):
    """The SQL warehouse is waking up; the page retries on its next refresh."""


class WarehouseUnreachable(DataUnavailable):
    """The SQL warehouse or the local lakehouse cannot be reached at all."""


class Engine(Protocol):
    name: str

    def query(self, q: BoundQuery) -> pa.Table: ...

    def last_commit(self, table: Table) -> datetime | None: ...

    def close(self) -> None: ...


# --- local: DuckDB over Delta ---------------------------------------------------------------------------------------

# Spark built-ins the dashboard's SQL uses that DuckDB lacks, with Spark's meaning.
DUCKDB_MACROS = (
    "CREATE OR REPLACE MACRO unix_seconds(ts) AS CAST(floor(epoch(ts)) AS BIGINT)",
)  # fmt: skip

# Tables mirrored into the engine's DuckDB file, following their Delta log file by file (app.delta_mirror): fast
# repeated queries; the rest (and any table whose files a plain Parquet read cannot take) are scanned via deltalake.
MIRRORED_LAYERS = ("gold", "ops")
# Row order of new rows: the pages filter on these, and DuckDB skips row groups outside the range.
SORT_KEYS = {"gold.workout_bpm_summary": "start_time", "gold.gym_summary": "date, login"}
THREADS = 2
MEMORY_LIMIT_MB = 512  # DuckDB's buffer pool; mirrored tables beyond it stay in the engine's file on disk


def local_view_name(table: Table) -> str:
    return f"{table.layer}_{table.name}"


def _naive_utc(schema: pa.Schema) -> list[str]:
    """Select list that turns every TIMESTAMP WITH TIME ZONE into a naive UTC timestamp, as Spark shows it."""
    cols = []
    for f in schema:
        name = f'"{f.name}"'
        if pa.types.is_timestamp(f.type) and f.type.tz is not None:
            cols.append(f"CAST({name} AS TIMESTAMP) AS {name}")
        else:
            cols.append(name)
    return cols


def _release(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    """Close the engine's DuckDB connection and delete its folder (the mirror holds copies of gold's rows)."""
    con.close()
    shutil.rmtree(folder, ignore_errors=True)


class LocalEngine:
    """DuckDB over the Delta tables at `$LAKEHOUSE_DIR/<layer>/<table>`; follows each table's Delta version.

    Its DuckDB database is a file in a private temporary folder, removed by `close`; `memory_limit_mb` bounds DuckDB's
    memory however large gold grows."""

    name = "local"

    def __init__(self, settings: Settings, recheck_seconds: float = 2.0,
                 memory_limit_mb: int = MEMORY_LIMIT_MB) -> None:  # fmt: skip
        self.settings = settings
        self.recheck_seconds = recheck_seconds
        self._dir = Path(tempfile.mkdtemp(prefix="lakehouse-dashboard-"))  # owner-only: gold holds personal data
        self.database_file = self._dir / "mirror.duckdb"
        # Unordered results may come back in any order (every ordered query says ORDER BY): faster scans and joins.
        self._con = duckdb.connect(str(self.database_file), config={
            "threads": THREADS, "preserve_insertion_order": False, "memory_limit": f"{memory_limit_mb}MB",
            "temp_directory": str(self._dir / "spill")})  # fmt: skip
        # closed and removed by close(), or when the engine is collected or the interpreter exits without it
        self._release = weakref.finalize(self, _release, self._con, self._dir)
        self._con.execute("SET TimeZone = 'UTC'")
        for macro in DUCKDB_MACROS:
            self._con.execute(macro)
        self._lock = threading.Lock()
        self._writing = threading.Lock()  # one mirror update at a time: each runs DuckDB on one thread (_advance)
        self._versions: dict[str, int] = {}  # the Delta version each view shows
        self._files: dict[str, frozenset[str]] = {}  # the data files of that version, for mirrored tables
        self._loading: set[str] = set()  # tables whose mirror is moving to a newer version in the background
        self._checked: dict[str, float] = {}
        self._tables = KeptTables()  # the DeltaTable of each table's last check, brought up to date at the next

    def shown_version(self, table: Table) -> int | None:
        """The Delta version the table's view shows now (None before its first query)."""
        with self._lock:
            return self._versions.get(table.full_name)

    def _path(self, table: Table) -> Path:
        return self.settings.table_path(table.layer, table.name)

    def _open(self, table: Table):
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError

        path = self._path(table)
        try:
            return DeltaTable(str(path))
        except TableNotFoundError as exc:
            raise TableMissing(table, f"no Delta table at {path}") from exc

    def _ensure(self, table: Table) -> None:
        """Make the table's view current; cheap when it was checked a moment ago. Called holding the lock.

        A mirrored table's first version is loaded at once; a later one is applied in the background (the files
        that left the version out, the new ones in) while queries keep reading the previous one."""
        key = table.full_name
        now = time.monotonic()
        if key in self._versions and now - self._checked.get(key, 0.0) < self.recheck_seconds:
            return
        dt = self._tables.latest(key, self._path(table), lambda: self._open(table))
        version = dt.version()
        self._checked[key] = now
        if self._versions.get(key) == version or key in self._loading:
            return
        files = None
        if table.layer in MIRRORED_LAYERS:
            try:
                files = version_files(table, dt)
            except NotMirrorable as exc:
                log.warning("local engine: %s; reading its files in place instead", exc)
        if files is None:
            self._scan(table, dt, version)
        elif key not in self._files:
            self._advance(table, version, files, frozenset())
            self._mirrored(table, version, files)
        else:
            self._loading.add(key)
            threading.Thread(target=self._refresh, args=(table, version, files, self._files[key]), daemon=True,
                             name=f"load-{local_view_name(table)}").start()  # fmt: skip

    def _scan(self, table: Table, dt, version: int) -> None:
        """The view reads the version's files in place at every query (no copy): with DuckDB's Parquet reader, or
        through deltalake's Arrow dataset where a plain read of the files would not give the version's rows."""
        view = local_view_name(table)
        try:
            self._con.execute(scan_sql(table, dt, view))
        except NotMirrorable:
            dataset = dt.to_pyarrow_dataset()
            self._con.register(f"_raw_{view}", dataset)
            self._con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT {', '.join(_naive_utc(dataset.schema))} "
                              f"FROM _raw_{view}")  # fmt: skip
        if self._files.pop(table.full_name, None) is not None:
            self._con.execute(f"DROP TABLE IF EXISTS {mirror_name(view)}")
        self._versions[table.full_name] = version

    def _advance(self, table: Table, version: int, files: frozenset[str], mirrored: frozenset[str]) -> None:
        """Move the table's mirror from the files it holds to the version's, on a cursor of its own."""
        changes = file_changes(mirrored, files)
        if mirrored and changes.empty:  # a commit that moved no data file (properties, a VACUUM, an empty OPTIMIZE)
            return
        with self._writing:
            self._apply(table, changes)
        log.info("local engine: %s to Delta version %s (%d files out, %d in)", table.full_name, version,
                 len(changes.removed), len(changes.added))  # fmt: skip

    def _apply(self, table: Table, changes: FileChanges) -> None:
        cursor = self._con.cursor()
        try:
            # one thread while it runs: DuckDB 2.0 spills a sort to disk then, where two threads ran out of memory
            # (1.5M rows in 100 MB; one thread sorted 8M in 100 MB)
            cursor.execute("SET threads = 1")
            cursor.execute("SET TimeZone = 'UTC'")  # the casts to naive UTC timestamps, on this cursor's session too
            apply(cursor, table, local_view_name(table), changes, SORT_KEYS.get(table.full_name))
        finally:
            cursor.execute(f"SET threads = {THREADS}")
            cursor.close()

    def _mirrored(self, table: Table, version: int, files: frozenset[str]) -> None:
        """Record the version the mirror now holds (holding the lock)."""
        self._con.execute(view_sql(table, local_view_name(table)))
        self._files[table.full_name] = files
        self._versions[table.full_name] = version

    def _refresh(self, table: Table, version: int, files: frozenset[str], mirrored: frozenset[str]) -> None:
        try:
            self._advance(table, version, files, mirrored)
            with self._lock:
                self._mirrored(table, version, files)
        except Exception:  # noqa: BLE001 - a failed step rolls back and leaves the previous version in service
            log.exception("loading %s version %s failed; still serving the previous version", table.full_name, version)
        finally:
            with self._lock:
                self._loading.discard(table.full_name)

    def sql_for(self, q: BoundQuery) -> str:
        return to_dollar_params(render(q.sql, local_view_name))

    def query(self, q: BoundQuery) -> pa.Table:
        return self._execute(self.sql_for(q), q.params, q.tables)

    def query_any(self, sql: str, params: Mapping[str, Any]) -> pa.Table:
        """Templated SQL over any table of the contract, not only the dashboard's allow-list (`python -m app query`,
        which the access policy guards instead)."""
        rendered = render_refs(sql, local_view_name)
        return self._execute(to_dollar_params(rendered), params, contract_tables(sql))

    def _execute(self, sql: str, params: Mapping[str, Any], tables: tuple[Table, ...]) -> pa.Table:
        # One connection, one query at a time: registered Arrow scans are visible to this connection only, and
        # the dashboard's queries take milliseconds.
        with self._lock:
            for table in tables:
                self._ensure(table)
            return self._con.sql(sql, params=dict(params)).to_arrow_table()

    def last_commit(self, table: Table) -> datetime | None:
        history = self._open(table).history(1)
        if not history:
            return None
        return datetime.fromtimestamp(history[0]["timestamp"] / 1000, tz=UTC)

    def close(self) -> None:
        self._release()


# --- Databricks SQL warehouse -----------------------------------------------------------------------------------------

_EXPIRED = re.compile(r"invalid ?session ?handle|session.*(expired|closed|not found)|RESOURCE_DOES_NOT_EXIST", re.I)
_STARTING = re.compile(r"warehouse.*(start|not running|stopped)|TEMPORARILY_UNAVAILABLE|\b503\b|starting", re.I)
_TABLE_MISSING = re.compile(r"TABLE_OR_VIEW_NOT_FOUND", re.I)


def quote_identifier(part: str) -> str:
    return "`" + part.replace("`", "``") + "`"


class DatabricksEngine:
    """One connection to a Databricks SQL warehouse, replaced when its session expires or it gets old."""

    name = "databricks"
    RETRY_WAIT_SECONDS = 4.0  # first wait for a starting warehouse; the n-th wait is n times this (bounded retries)

    def __init__(self, settings: Settings, catalog: str | None = None, connect: Callable[..., Any] | None = None,
                 max_age_seconds: float = 1800.0, start_retries: int = 3, retry_wait_seconds: float | None = None,
                 sleep: Callable[[float], None] | None = None) -> None:  # fmt: skip
        if not settings.databricks_configured:
            raise ValueError("set DATABRICKS_SERVER_HOSTNAME, DATABRICKS_HTTP_PATH and either DATABRICKS_CLIENT_ID "
                             "and DATABRICKS_CLIENT_SECRET (OAuth) or DATABRICKS_TOKEN")  # fmt: skip
        self.settings = settings
        self.catalog = catalog
        self._connect = connect
        self.max_age_seconds = max_age_seconds
        self.start_retries = start_retries
        self.retry_wait_seconds = self.RETRY_WAIT_SECONDS if retry_wait_seconds is None else retry_wait_seconds
        self._sleep = sleep or time.sleep
        self._conn: Any = None
        self._oauth: DatabricksOAuth | None = None
        self._opened_at = 0.0
        self._lock = threading.Lock()

    def qualify(self, table: Table) -> str:
        parts = ([self.catalog] if self.catalog else []) + [table.layer, table.name]
        return ".".join(quote_identifier(p) for p in parts)

    def sql_for(self, q: BoundQuery) -> str:
        return render(q.sql, self.qualify)

    def _new_connection(self) -> Any:
        connect = self._connect
        if connect is None:
            from databricks import sql as dbsql

            connect = dbsql.connect
        s = self.settings
        if s.databricks_oauth:  # the service principal's short-lived OAuth tokens, never a long-lived one
            self._oauth = self._oauth or DatabricksOAuth(s)
            return connect(server_hostname=s.databricks_server_hostname, http_path=s.databricks_http_path,
                           credentials_provider=self._oauth, _socket_timeout=60)  # fmt: skip
        return connect(server_hostname=s.databricks_server_hostname, http_path=s.databricks_http_path,
                       access_token=s.databricks_token, _socket_timeout=60)  # fmt: skip

    def _connection(self) -> Any:
        if self._conn is not None and time.monotonic() - self._opened_at > self.max_age_seconds:
            self._drop()
        if self._conn is None:
            self._conn = self._new_connection()
            self._opened_at = time.monotonic()
        return self._conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - an expired session may refuse to close; it is gone either way
                log.debug("closing an expired Databricks connection failed", exc_info=True)

    def _execute(self, sql: str, params: Mapping[str, Any]) -> pa.Table:
        with self._connection().cursor() as cursor:
            cursor.execute(sql, parameters=dict(params))
            return cursor.fetchall_arrow()

    def run(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        """Run SQL: reconnect and retry once on an expired session; wait a bounded time for a starting warehouse."""
        params = params or {}
        with self._lock:
            reconnected, waits = False, 0
            while True:
                try:
                    return self._execute(sql, params)
                except Exception as exc:  # noqa: BLE001 - the connector raises many types; classify by message
                    text = f"{type(exc).__name__}: {exc}"
                    if _TABLE_MISSING.search(text):
                        raise DataUnavailable(f"A table is missing in the warehouse: {exc}") from exc
                    self._drop()
                    if _EXPIRED.search(text) and not reconnected:
                        log.info("Databricks session expired; reconnecting once")
                        reconnected = True
                        continue
                    if _STARTING.search(text):
                        if waits < self.start_retries:
                            waits += 1
                            log.info("SQL warehouse starting; retry %d/%d", waits, self.start_retries)
                            self._sleep(self.retry_wait_seconds * waits)
                            continue
                        raise WarehouseStarting(
                            "The Databricks SQL warehouse is starting. This page retries on its next refresh."
                        ) from exc
                    raise WarehouseUnreachable(f"The Databricks SQL warehouse cannot be queried: {exc}") from exc

    def query(self, q: BoundQuery) -> pa.Table:
        return self.run(self.sql_for(q), q.params)

    def last_commit(self, table: Table) -> datetime | None:
        rows = self.run(f"DESCRIBE HISTORY {self.qualify(table)} LIMIT 1").to_pylist()
        if not rows:
            return None
        ts = rows[0]["timestamp"]
        return ts if ts.tzinfo else ts.replace(tzinfo=UTC)

    def close(self) -> None:
        with self._lock:
            self._drop()
