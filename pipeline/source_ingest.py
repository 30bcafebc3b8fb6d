"""Incremental ingest of a source-database table into bronze through Spark's JDBC source, exactly once even while
several applications write the database at once (contract 1.1; docs/SOURCE_INGEST.md has the whole argument).

PostgreSQL: a settled watermark. Every run first probes, in ONE statement, the table's greatest visible key M and
the transactions open at that moment (`pg_locks`' virtualxid locks, which every transaction holds from its start to
after its commit is visible, xid or not; prepared ones by gid). Keys are allocated in time order inside the writing
transaction (an identity with CACHE 1), so any row with a key <= M that is not visible yet belongs to one of those
open transactions. Once none of them is open any more, every key <= M is settled: its row is visible forever or never
will be. A run reads the rows with a key above the last settled one (nothing when M is not above it), merges them
insert-only on the key (rows bronze already has are dropped), and only then records what it settled, beside the
stream checkpoints: a crash in between costs a re-read, never a row.

SQLite (one writer at a time: keys become visible in order) and other JDBC databases keep the plain rule, key above
the highest in bronze; for the latter a warning says it is only right with one writer at a time.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import DataFrame, DataFrameReader, Observation
from pyspark.sql import functions as F
from pyspark.sql.types import StringType

from core.connections import jdbc_properties
from core.contract import Table
from pipeline.errors import PipelineError, first_line
from pipeline.run_state import StageRun
from pipeline.source_identity import RECORD_DIR, SourceIdentity, jdbc_identity, sqlite_identity, write_atomically
from pipeline.storage import Lakehouse
from pipeline.transforms import conform

log = logging.getLogger(__name__)

DRIVERS = {"jdbc:sqlite:": "org.sqlite.JDBC", "jdbc:postgresql:": "org.postgresql.Driver"}
MAX_PENDING = 8  # probes waiting to settle, at most; dropping one only delays settling
FETCH_ROWS = 10_000  # rows per round trip of a PostgreSQL read
# PgJDBC receives results in binary only for a server-prepared statement, which prepareThreshold=-1 makes of the first
# execution; binary for numbers only (no decimal text printed by the server and parsed here): every other type stays
# text, so a text column's raw bytes are its UTF-8 string (see _text_as_bytes)
PG_READ_OPTIONS = {"fetchsize": str(FETCH_ROWS), "prepareThreshold": "-1", "binaryTransfer": "false",
                   "binaryTransferEnable": "INT2,INT4,INT8,FLOAT4,FLOAT8"}  # fmt: skip
PARTITION_ROWS = 200_000  # a read range wider than this many keys is read over several connections
LOAD_MICROS = "bronze_load_micros"  # a PostgreSQL read's extra column: the run's load time (see _conform_stamped)
_JAVA_ERROR = re.compile(r"(?:PSQLException|SQLException|SQLiteException|SQLTimeoutException)[^:\n]*:\s*(.+)")

# The probe (PostgreSQL): max key and open transactions under one statement snapshot. The transaction lists are read
# while the statement runs, after its snapshot was taken, so a transaction that committed before the snapshot is
# visible, and one still open at the snapshot is either listed or finished (visible to any later read). Sessions of
# other databases cannot write this table and are left out; a session whose database cannot be seen is kept.
PROBE_POSTGRES = """SELECT (SELECT max({key}) FROM {table}) AS max_key, ARRAY(
    SELECT DISTINCT 'vxid:' || l.virtualtransaction FROM pg_locks l
    WHERE l.locktype = 'virtualxid' AND l.pid IS DISTINCT FROM pg_backend_pid()
      AND (l.pid IS NULL OR l.pid NOT IN (SELECT a.pid FROM pg_stat_activity a
                                          WHERE a.datname IS NOT NULL AND a.datname <> current_database()))
    UNION SELECT 'prepared:' || p.gid FROM pg_prepared_xacts p WHERE p.database = current_database()
) AS open_transactions"""


def jdbc_driver(url: str) -> str | None:
    return next((driver for prefix, driver in DRIVERS.items() if url.startswith(prefix)), None)


def jdbc_error(exc: BaseException) -> str:
    """The database's own message from a JDBC error (Spark wraps it in pages of JVM stack), on one line."""
    found = _JAVA_ERROR.search(str(exc))
    return first_line(Exception(found.group(1))) if found else first_line(exc, 300)


def source_reader(lh: Lakehouse) -> DataFrameReader:
    """Spark's JDBC source on the source database, with its driver and credentials."""
    settings = lh.settings
    if not settings.source_db_is_jdbc and not settings.source_db_path.exists():
        raise PipelineError(f"source database {settings.source_db_path} does not exist: run "
                            "`python -m simulator history` first or set SOURCE_DB_URL")  # fmt: skip
    url = settings.source_jdbc_url
    reader = lh.spark.read.format("jdbc").option("url", url)
    driver = jdbc_driver(url)
    if driver:
        reader = reader.option("driver", driver)
    if url.startswith("jdbc:postgresql:"):
        # with a fetch size PgJDBC reads through a cursor (Spark turns autocommit off), not the whole result at once
        reader = reader.options(**PG_READ_OPTIONS)
    return reader.options(**jdbc_properties(settings))


def _load(reader: DataFrameReader, what: str) -> DataFrame:
    try:
        return reader.load()  # connects and reads the result's schema: errors surface here
    except Exception as exc:  # noqa: BLE001 - JDBC errors arrive as Py4J/Analysis exceptions
        raise PipelineError(f"cannot read {what} from the source database: {jdbc_error(exc)}") from exc


# --- the settled watermark: pure --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pending:
    """A probe not settled yet: keys up to `max_key` are final once none of `open` is open any more."""

    max_key: int
    open: tuple[str, ...]


@dataclass(frozen=True)
class Watermark:
    """Every source row with a key <= `settled` is in bronze and no other can appear; `pending` probes wait."""

    settled: int | None = None
    pending: tuple[Pending, ...] = ()

    def to_json(self) -> str:
        return json.dumps({"settled": self.settled, "pending": [[p.max_key, list(p.open)] for p in self.pending]})

    @classmethod
    def from_json(cls, text: str) -> Watermark:
        data = json.loads(text)
        return cls(data["settled"], tuple(Pending(int(m), tuple(o)) for m, o in data["pending"]))


@dataclass(frozen=True)
class Probe:
    max_key: int | None  # the greatest visible key (None: no row)
    open: frozenset[str] = field(default_factory=frozenset)  # transactions open at the probe


def _covers(a: Pending, b: Pending) -> bool:
    """Whether `a` settles at least as far as `b`, no later."""
    return a.max_key >= b.max_key and set(a.open) <= set(b.open)


def settle(mark: Watermark, probe: Probe) -> Watermark:
    """The watermark after `probe`: every pending probe whose transactions are all closed now is settled, and so is
    this probe itself when no transaction was open. Rows up to the new `settled` are final by the probe's time, so a
    read that starts after it, from the old `settled` up, gets every one of them."""
    waiting = list(mark.pending)
    if probe.max_key is not None:
        waiting.append(Pending(probe.max_key, tuple(sorted(probe.open))))
    done = [p.max_key for p in waiting if not probe.open.intersection(p.open)]
    settled = max([k for k in (mark.settled, *done) if k is not None], default=None)
    kept: list[Pending] = []
    for p in waiting:  # a probe that reaches as far while waiting for fewer transactions makes another redundant
        if settled is not None and p.max_key <= settled or any(_covers(q, p) for q in kept):
            continue
        kept = [q for q in kept if not _covers(p, q)] + [p]
    waiting = kept
    if len(waiting) > MAX_PENDING:  # keep the oldest (they settle first) and the newest (it reaches furthest)
        waiting = waiting[: MAX_PENDING - 1] + waiting[-1:]
    return Watermark(settled, tuple(waiting))


# --- where the watermark is kept ---------------------------------------------------------------------------------


class WatermarkStore:
    """One table's watermark as a JSON file beside the stream checkpoints (`<checkpoints>/bronze_source_<table>/`),
    replaced atomically; it is written only after the bronze commit it describes."""

    def __init__(self, lh: Lakehouse, source_table: str) -> None:
        self.path = Path(lh.checkpoint(f"bronze_source_{source_table}")) / "watermark.json"

    def load(self) -> Watermark:
        try:
            return Watermark.from_json(self.path.read_text())
        except FileNotFoundError:
            return Watermark()
        except (ValueError, KeyError, TypeError) as exc:
            raise PipelineError(f"the source watermark {self.path} is unreadable ({exc}): delete it to read the "
                                "source table again from its start (bronze keeps no row twice)") from exc  # fmt: skip

    def save(self, mark: Watermark) -> None:
        write_atomically(self.path, mark.to_json())


# --- one table's ingest: planned (every check) first, then written ----------------------------------------------


@dataclass
class SourcePlan:
    """What one run reads of a source table, checked against the database before anything is written."""

    source_table: str
    table: Table
    key: str
    rows: DataFrame | None  # conformed to the bronze table, not read yet; None: nothing new to read
    store: WatermarkStore | None = None  # PostgreSQL: where the watermark goes once the rows are in bronze
    before: Watermark | None = None
    after: Watermark | None = None


def _probe_postgres(reader: DataFrameReader, source_table: str, key: str) -> Probe:
    probe = _load(reader.option("query", PROBE_POSTGRES.format(key=key, table=source_table)), source_table)
    try:
        row = probe.collect()[0]
    except Exception as exc:  # noqa: BLE001
        raise PipelineError(f"cannot read {source_table} from the source database: {jdbc_error(exc)}") from exc
    return Probe(None if row.max_key is None else int(row.max_key), frozenset(row.open_transactions or ()))


# The database's identity whatever host name or port reaches it: the cluster's system identifier and the database's
# name. A server may withhold pg_control_system() (its privilege is checked when a statement starts, whether the
# statement would call it or not): then the URL names the database.
PG_MAY_NAME_ITSELF = "SELECT has_function_privilege('pg_control_system()', 'EXECUTE') AS allowed"
PG_NAME = "SELECT system_identifier::text || '/' || current_database() AS server_key FROM pg_control_system()"
_pg_identities: dict[tuple[str, str | None], SourceIdentity] = {}  # per URL and user: a stream asks once


def source_identity(lh: Lakehouse) -> SourceIdentity:
    """The source database's identity (pipeline.source_identity): a SQLite file by its path, PostgreSQL by what its
    server says (asked once per process), any other database by its URL."""
    settings = lh.settings
    if not settings.source_db_is_jdbc:
        return sqlite_identity(settings, Path(lh.checkpoint(RECORD_DIR)).parent)
    if not settings.source_jdbc_url.startswith("jdbc:postgresql:"):
        return jdbc_identity(settings)
    cached = (settings.source_jdbc_url, settings.source_db_user)
    if cached not in _pg_identities:

        def ask(query: str) -> object:
            try:
                return _load(source_reader(lh).option("query", query), "the server's name").first()[0]
            except PipelineError:
                raise
            except Exception as exc:  # noqa: BLE001
                raise PipelineError(f"cannot read the source database's name: {jdbc_error(exc)}") from exc

        name = ask(PG_NAME) if ask(PG_MAY_NAME_ITSELF) else None
        _pg_identities[cached] = jdbc_identity(settings, name)
    return _pg_identities[cached]


def _read_above(lh: Lakehouse, reader: DataFrameReader, source_table: str, table: Table, key: str, above: int | None,
                upper: int | None = None, loaded: int | None = None) -> DataFrame:  # fmt: skip
    """Rows with a key above `above` (every row when None). With `upper` (the probe's max key) a wide range is read
    over several connections, split by key: each row falls in one part, and a row a part misses is above the new
    settled key (it was not final at the probe), so a later run reads it. With `loaded` (microseconds since the
    epoch) every row carries it as LOAD_MICROS. From PostgreSQL, see `_text_as_bytes`."""
    # source_table and key come from the allow-list in pipeline.bronze; the numbers are ints we computed.
    columns = "*" if loaded is None else f"*, CAST({int(loaded)} AS BIGINT) AS {LOAD_MICROS}"
    where = "" if above is None else f" WHERE {key} > {int(above)}"
    low = -1 if above is None else int(above)
    if upper is not None and upper - low > PARTITION_ROWS:
        parts = max(2, min(lh.spark.sparkContext.defaultParallelism, 8))
        reader = (reader.option("partitionColumn", key).option("lowerBound", str(low + 1))
                  .option("upperBound", str(int(upper) + 1)).option("numPartitions", str(parts)))  # fmt: skip
        reader = reader.option("dbtable", f"(SELECT {columns} FROM {source_table}{where}) AS src")
    else:
        reader = reader.option("query", f"SELECT {columns} FROM {source_table}{where}")
    rows = _load(reader, source_table)
    if lh.settings.source_jdbc_url.startswith("jdbc:postgresql:"):
        rows = _text_as_bytes(reader, rows, source_table, table)
    return rows


def _text_as_bytes(reader: DataFrameReader, rows: DataFrame, source_table: str, table: Table) -> DataFrame:
    """The read again (one more schema query) with the bronze STRING columns that Spark reads as strings
    (PostgreSQL's text types) fetched as BINARY (`customSchema`): PgJDBC hands over the bytes it received, already the
    UTF-8 string (it sets the client encoding), and the cast to STRING wraps them as they are, instead of each value
    being decoded to a Java string that Spark encodes back. Other columns keep their type: a number's bytes would be
    binary, not text."""
    text = {c.name for c in table.columns if c.type == "STRING"}
    raw = [f"`{f.name}` BINARY" for f in rows.schema if f.name in text and isinstance(f.dataType, StringType)]
    return _load(reader.option("customSchema", ", ".join(raw)), source_table) if raw else rows


def _conform_stamped(rows: DataFrame, table: Table) -> DataFrame:
    """`conform` with load_time from the read's LOAD_MICROS column instead of current_timestamp(). Spark compiles a
    literal time into the code it generates for the write, so with current_timestamp() every run compiled its write
    anew (Janino, then the JIT's optimising compiler over again for the hot loop: a tenth of the CPU of a warm
    1.1M-row first load); with a column the code is the same from run to run and stays compiled. A constant column
    from SQLite reads as a decimal, so PostgreSQL only."""
    return rows.select(*[F.timestamp_micros(LOAD_MICROS).alias(c.name) if c.name == "load_time"
                         else F.col(c.name).cast(c.type).alias(c.name) for c in table.columns])  # fmt: skip


def plan_source_ingest(lh: Lakehouse, source_table: str, table: Table, key: str) -> SourcePlan:
    """Probe the database and plan the read; raises a one-line PipelineError (server down, sign-in refused, missing
    table or column) before anything is written."""
    reader = source_reader(lh)
    url = lh.settings.source_jdbc_url
    store = before = after = None
    if url.startswith("jdbc:postgresql:"):
        store = WatermarkStore(lh, source_table)
        before = store.load()
        if before.settled is not None and not lh.version(table):
            # rows up to the settled key were merged into bronze, so it has a commit after its creation (version 0):
            # without one, bronze was created again while its checkpoints stayed
            log.warning("bronze %s is new but the source watermark of %s is not: reading the table from its start",
                        table.name, source_table)  # fmt: skip
            before = Watermark()
        probe = _probe_postgres(source_reader(lh), source_table, key)  # a reader keeps its options: one per query
        after = settle(before, probe)
        if probe.max_key is None or before.settled is not None and probe.max_key <= before.settled:
            # every key the probe saw is settled, so in bronze: a row committed since has a higher key, which the
            # next run reads
            return SourcePlan(source_table, table, key, None, store, before, after)
        rows = _read_above(lh, reader, source_table, table, key, before.settled, upper=probe.max_key,
                           loaded=time.time_ns() // 1000)  # fmt: skip
    else:
        if not url.startswith("jdbc:sqlite:"):
            log.warning("source %s: no commit-order watermark for this database, reading keys above bronze's "
                        "highest: right only while one application writes at a time", source_table)  # fmt: skip
        above = lh.max_value(table, key)
        rows = _read_above(lh, reader, source_table, table, key, above)
    try:
        conformed = _conform_stamped(rows, table) if store is not None else conform(rows, table)
    except Exception as exc:  # noqa: BLE001 - a missing column is an AnalysisException
        raise PipelineError(f"source table {source_table} does not match the contract: {first_line(exc, 300)}") from exc
    return SourcePlan(source_table, table, key, conformed, store, before, after)


def _read_failed(plan: SourcePlan, exc: Exception) -> Exception:
    """A JDBC error (the server may go away between the probe and the read) as one line; any other error as it is."""
    if _JAVA_ERROR.search(str(exc)):
        return PipelineError(f"cannot read {plan.source_table} from the source database: {jdbc_error(exc)}")
    return exc


def ingest_planned(run: StageRun, plan: SourcePlan) -> int:
    """Read the planned rows into bronze, then record the watermark. Into an empty bronze table (no commit since its
    creation) the rows go in one pass, JDBC straight into a Delta append; otherwise they are merged insert-only on the
    key. A crash before the watermark is recorded leaves a commit, so the next run merges. With nothing to read
    (`plan.rows` None) no Spark job runs."""
    lh, started = run.lh, time.monotonic()
    if plan.rows is None:
        count = 0
    elif not lh.version(plan.table):
        # Delta's file statistics on every column cost more than the rest of the write (300k profile changes: 5.1 s
        # against 1.8 s without); the merges of later runs skip files by the key's alone
        lh.spark.sql(f"ALTER TABLE {lh.storage.sql_ref(plan.table)} SET TBLPROPERTIES "
                     f"('delta.dataSkippingStatsColumns' = '{plan.key}')")  # fmt: skip
        counted = Observation()  # rows counted on their way into the append: reading the commit back costs 0.3 s
        try:
            lh.append(plan.table, plan.rows.observe(counted, F.count(F.lit(1)).alias("rows")))
        except Exception as exc:  # noqa: BLE001
            raise _read_failed(plan, exc) from exc
        count = int(counted.get["rows"])
        run.stats.add(count)
    else:
        rows = plan.rows.cache()
        try:
            try:
                count = rows.count()
            except Exception as exc:  # noqa: BLE001
                raise _read_failed(plan, exc) from exc
            if count:
                run.stats.add(lh.insert_new(plan.table, rows, [plan.key], bounded_by=plan.key))
        finally:
            rows.unpersist()
    if plan.store is not None and plan.after is not None and plan.after != plan.before:
        plan.store.save(plan.after)  # after the bronze commit: a crash before this line only repeats the read
    # the pipeline's step line (benchmarks read it): rows read, re-reads of unsettled keys included
    log.info("bronze_source_%s: %d input rows in %.1fs", plan.source_table, count, time.monotonic() - started)
    return count
