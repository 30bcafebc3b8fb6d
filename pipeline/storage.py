"""Where tables live and how they are written: one storage strategy for local Delta paths, one for Unity Catalog
names, chosen once from settings. `Lakehouse` reads and writes through it and keeps nothing of a run."""

from __future__ import annotations

import logging
import uuid
from abc import ABC, abstractmethod
from pathlib import Path

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, DataFrameReader, DataFrameWriter, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import DataStreamReader

from core.contract import ALL_TABLES, Table
from core.settings import Settings
from pipeline.errors import PipelineError

log = logging.getLogger(__name__)


def table_properties(table: Table, settings: Settings) -> dict[str, str]:
    """Delta properties of every table: its change feed, and how long its log and unused files are kept.

    Log retention is at least 7 days and never shorter than the file retention: a stream stopped for longer than it
    cannot resume (its commits are gone). Deleted files are kept `vacuum_retention_hours` (VACUUM's own check holds
    every VACUUM to at least that). The Kafka multiplex table has optimized writes: each micro-batch writes one file
    per topic and week instead of one per Kafka partition and topic and week. Auto compaction stays off (Delta's
    default): it rewrites up to its size limit in the writer's own thread, inside the stream's rounds, where the
    scheduled OPTIMIZE does it between them."""
    file_seconds = round(settings.vacuum_retention_hours * 3600)
    log_seconds = max(file_seconds, 7 * 24 * 3600)
    props = {
        "delta.checkpointInterval": "10",
        "delta.logRetentionDuration": f"interval {log_seconds} seconds",
        "delta.deletedFileRetentionDuration": f"interval {file_seconds} seconds",
    }
    if table.change_feed:
        props["delta.enableChangeDataFeed"] = "true"
    if table.partition_by:
        props["delta.autoOptimize.optimizeWrite"] = "true"
    return props


class Storage(ABC):
    """Where the contract's tables and the streams' checkpoints live, and how Spark names them there."""

    parallel_creates = True  # tables may be created side by side, a thread each

    def __init__(self, spark: SparkSession, settings: Settings):
        self.spark = spark
        self.settings = settings

    @property
    @abstractmethod
    def root(self) -> str:
        """Where the tables are, for messages: the lakehouse directory or the catalog."""

    @abstractmethod
    def location(self, table: Table) -> str:
        """The table's path or catalog name."""

    @abstractmethod
    def sql_ref(self, table: Table) -> str:
        """How SQL text names the table."""

    @abstractmethod
    def exists(self, table: Table) -> bool: ...

    @abstractmethod
    def version(self, table: Table) -> int | None:
        """The table's latest Delta version (None if it does not exist)."""

    @abstractmethod
    def delta(self, table: Table) -> DeltaTable: ...

    @abstractmethod
    def checkpoint(self, name: str) -> str:
        """The checkpoint location of the stream `name`."""

    @abstractmethod
    def _load(self, reader: DataFrameReader | DataStreamReader, table: Table) -> DataFrame: ...

    @abstractmethod
    def _save(self, writer: DataFrameWriter, table: Table) -> None: ...

    @abstractmethod
    def check_writable(self) -> None:
        """Fail with one line when the tables or checkpoints cannot be written, before anything is."""

    def absent(self, tables: tuple[Table, ...]) -> list[Table]:
        """Those of `tables` that do not exist."""
        return [t for t in tables if not self.exists(t)]

    def ensure(self, table: Table) -> None:
        """Create the table empty with its contract schema and properties if it does not exist (idempotent)."""
        partition = f" PARTITIONED BY ({', '.join(table.partition_by)})" if table.partition_by else ""
        props = ", ".join(f"'{k}' = '{v}'" for k, v in table_properties(table, self.settings).items())
        self.spark.sql(f"CREATE TABLE IF NOT EXISTS {self.sql_ref(table)} ({table.ddl}) USING DELTA{partition} "
                       f"TBLPROPERTIES ({props})")  # fmt: skip

    def update_properties(self, table: Table) -> list[str]:
        """Set the table properties that differ from `table_properties` (one metadata commit, none when all match)
        and return their names. A metadata commit fails a concurrent append: only before any stream starts."""
        wanted = table_properties(table, self.settings)
        current = self.delta(table).detail().select("properties").first()[0] or {}
        changed = {k: v for k, v in wanted.items() if current.get(k) != v}
        if changed:
            props = ", ".join(f"'{k}' = '{v}'" for k, v in changed.items())
            self.spark.sql(f"ALTER TABLE {self.sql_ref(table)} SET TBLPROPERTIES ({props})")
        return sorted(changed)

    def read(self, table: Table) -> DataFrame:
        return self._load(self.spark.read.format("delta"), table)

    def read_stream(self, table: Table, appends_only: bool = False) -> DataFrame:
        """Stream a table's new rows; `appends_only` skips commits that rewrite rows (merges that update). A table
        with a retention column is always read so: its retention deletes are no rows to process."""
        reader = self.spark.readStream.format("delta")
        if appends_only or table.retention_column:
            reader = reader.option("skipChangeCommits", "true")
        return self._load(reader, table)

    def read_changes(self, table: Table) -> DataFrame:
        """Stream a table's row changes (Change Data Feed): the current rows first, then every insert/update/delete."""
        return self._load(self.spark.readStream.format("delta").option("readChangeFeed", "true"), table)

    def append(self, table: Table, df: DataFrame, user_metadata: str | None = None) -> None:
        writer = df.write.format("delta").mode("append")
        if user_metadata is not None:
            writer = writer.option("userMetadata", user_metadata)
        self._save(writer, table)


class LocalStorage(Storage):
    """Delta tables at `$LAKEHOUSE_DIR/<layer>/<table>`, named `delta.`path`` in SQL (contract 6.4)."""

    @property
    def root(self) -> str:
        return str(self.settings.lakehouse_dir)

    def location(self, table: Table) -> str:
        return str(self.settings.table_path(table.layer, table.name).resolve())

    def sql_ref(self, table: Table) -> str:
        return f"delta.`{self.location(table)}`"

    def exists(self, table: Table) -> bool:
        return DeltaTable.isDeltaTable(self.spark, self.location(table))

    def version(self, table: Table) -> int | None:
        """From the log's file names: no Spark job."""
        log_dir = Path(self.location(table)) / "_delta_log"
        if not log_dir.exists():
            return None
        return max((int(p.name[:20]) for p in log_dir.glob("*.json") if p.name[:20].isdigit()), default=None)

    def delta(self, table: Table) -> DeltaTable:
        return DeltaTable.forPath(self.spark, self.location(table))

    def checkpoint(self, name: str) -> str:
        return str((Path(self.settings.checkpoints) / name).resolve())

    def _load(self, reader: DataFrameReader | DataStreamReader, table: Table) -> DataFrame:
        return reader.load(self.location(table))

    def _save(self, writer: DataFrameWriter, table: Table) -> None:
        writer.save(self.location(table))

    def check_writable(self) -> None:
        for root in dict.fromkeys([self.settings.lakehouse_dir, self.settings.checkpoints]):
            try:
                root.mkdir(parents=True, exist_ok=True)
                probe = root / f".write-probe-{uuid.uuid4().hex}"
                probe.write_bytes(b"")
                probe.unlink()
            except OSError as exc:
                raise PipelineError(f"the lakehouse at {root} is not writable: {exc.strerror or exc}") from exc

    def absent(self, tables: tuple[Table, ...]) -> list[Table]:
        return [t for t in tables if self.version(t) is None]  # from the logs' file names: no Spark job

    def ensure(self, table: Table) -> None:
        if self.version(table) is None:  # a table with a commit needs no Spark statement planned
            super().ensure(table)


class CatalogStorage(Storage):
    """Unity Catalog tables named `<catalog>.<layer>.<table>` (contract 6.4); each layer is a schema."""

    parallel_creates = False  # each create makes its layer's schema first: one at a time

    @property
    def root(self) -> str:
        return str(self.settings.catalog)

    def location(self, table: Table) -> str:
        return f"{self.settings.catalog}.{table.layer}.{table.name}"

    def sql_ref(self, table: Table) -> str:
        return self.location(table)

    def exists(self, table: Table) -> bool:
        return self.spark.catalog.tableExists(self.location(table))

    def version(self, table: Table) -> int | None:
        if not self.exists(table):
            return None
        return int(self.delta(table).history(1).select("version").first()[0])

    def delta(self, table: Table) -> DeltaTable:
        return DeltaTable.forName(self.spark, self.location(table))

    def checkpoint(self, name: str) -> str:
        return f"{self.settings.checkpoints}/{name}"

    def _load(self, reader: DataFrameReader | DataStreamReader, table: Table) -> DataFrame:
        return reader.table(self.location(table))

    def _save(self, writer: DataFrameWriter, table: Table) -> None:
        writer.saveAsTable(self.location(table))

    def check_writable(self) -> None:
        """Nothing to probe: the catalog's permissions answer at its first write."""

    def ensure(self, table: Table) -> None:
        self.spark.sql(f"CREATE SCHEMA IF NOT EXISTS {self.settings.catalog}.{table.layer}")
        super().ensure(table)


def storage_for(spark: SparkSession, settings: Settings) -> Storage:
    """The catalog's storage when settings name one (Databricks), the local Delta paths otherwise."""
    return CatalogStorage(spark, settings) if settings.catalog else LocalStorage(spark, settings)


def _affected(metrics: DataFrame | None) -> int:
    """Rows a merge inserted, updated or deleted, from the metrics row it returns."""
    row = metrics.first() if metrics is not None else None
    return int(row["num_affected_rows"] or 0) if row is not None and "num_affected_rows" in row else 0


def _on(keys: list[str]) -> str:
    return " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)


def _differs(columns: list[str]) -> str:
    return " OR ".join(f"NOT (t.`{c}` <=> s.`{c}`)" for c in columns)


class Lakehouse:
    """The contract's tables on one storage: reads, idempotent merges and tagged appends. It keeps nothing of a run:
    a write returns the rows it changed and the runner counts them (pipeline.run_state)."""

    def __init__(self, spark: SparkSession, settings: Settings, storage: Storage | None = None,
                 history_page: int = 100):  # fmt: skip
        self.spark = spark
        self.settings = settings
        self.storage = storage or storage_for(spark, settings)
        self.history_page = history_page  # commits `last_batch` reads before it reads a table's whole history

    # --- where and what: the storage's ---------------------------------------------------------------------------

    def location(self, table: Table) -> str:
        return self.storage.location(table)

    def exists(self, table: Table) -> bool:
        return self.storage.exists(table)

    def version(self, table: Table) -> int | None:
        return self.storage.version(table)

    def delta(self, table: Table) -> DeltaTable:
        return self.storage.delta(table)

    def checkpoint(self, name: str) -> str:
        return self.storage.checkpoint(name)

    def ensure(self, table: Table) -> None:
        self.storage.ensure(table)

    def update_properties(self, table: Table) -> list[str]:
        return self.storage.update_properties(table)

    def delete_where(self, table: Table, condition: str) -> int:
        """Delete the rows matching `condition` (SQL built by the caller from allow-listed names and numbers) and
        return how many went."""
        return _affected(self.spark.sql(f"DELETE FROM {self.storage.sql_ref(table)} WHERE {condition}"))

    def ensure_all(self) -> None:
        for table in ALL_TABLES:
            self.storage.ensure(table)

    def read(self, table: Table) -> DataFrame:
        return self.storage.read(table)

    def read_stream(self, table: Table, appends_only: bool = False) -> DataFrame:
        return self.storage.read_stream(table, appends_only)

    def read_changes(self, table: Table) -> DataFrame:
        return self.storage.read_changes(table)

    def append(self, table: Table, df: DataFrame, user_metadata: str | None = None) -> None:
        self.storage.append(table, df, user_metadata)

    def max_value(self, table: Table, column: str) -> int | None:
        row = self.read(table).agg(F.max(column)).first()
        return None if row is None else row[0]

    def writer_id(self, name: str) -> str:
        """A stable id for idempotent writes of one stream, kept beside (not inside) its checkpoint."""
        marker = Path(self.checkpoint(name) + ".writer-id")
        if marker.exists():
            return marker.read_text().strip()
        marker.parent.mkdir(parents=True, exist_ok=True)
        value = f"{name}-{uuid.uuid4().hex}"
        marker.write_text(value)
        return value

    # --- merges: each returns the rows it inserted, updated or deleted -------------------------------------------

    def insert_new(self, table: Table, df: DataFrame, keys: list[str], bounded_by: str | None = None) -> int:
        """Insert rows whose key is not in the table yet (idempotent: a replayed batch inserts nothing).

        `bounded_by`, a key column, limits the target rows the merge reads to the batch's range of that column, so
        Delta skips every file outside it (by its min/max statistics) instead of scanning the whole table.
        """
        cond = _on(keys)
        if bounded_by is None:
            return self._insert_unmatched(table, df, cond)
        assert bounded_by in keys, "only a key column bounds the matching rows"
        df = df.persist()
        try:
            is_time = dict(df.dtypes)[bounded_by] == "timestamp"
            column = F.unix_micros(bounded_by) if is_time else F.col(bounded_by)
            low, high = df.agg(F.min(column), F.max(column)).first()  # micros: no time zone on the way
            if low is None:
                return 0
            bound = "timestamp_micros({})" if is_time else "{}"
            cond += f" AND t.`{bounded_by}` BETWEEN {bound.format(int(low))} AND {bound.format(int(high))}"
            return self._insert_unmatched(table, df, cond)
        finally:
            df.unpersist()

    def _insert_unmatched(self, table: Table, df: DataFrame, cond: str) -> int:
        return _affected(self.delta(table).alias("t").merge(df.alias("s"), cond).whenNotMatchedInsertAll().execute())

    def upsert(self, table: Table, df: DataFrame, keys: list[str]) -> int:
        """Insert new keys and update rows whose values changed; untouched rows are not rewritten."""
        changed = _differs([c for c in df.columns if c not in keys])
        merge = self.delta(table).alias("t").merge(df.alias("s"), _on(keys))
        merge = merge.whenMatchedUpdateAll(condition=changed) if changed else merge
        return _affected(merge.whenNotMatchedInsertAll().execute())

    def upsert_max(self, table: Table, df: DataFrame, keys: list[str], column: str) -> int:
        """Insert new keys; raise `column` of existing ones to a greater value of `df` (NULL is the lowest), never
        lower it: a repeated or late record cannot undo a newer one."""
        s, t = f"s.`{column}`", f"t.`{column}`"
        raised = f"{s} > {t} OR ({t} IS NULL AND {s} IS NOT NULL)"
        merge = self.delta(table).alias("t").merge(df.alias("s"), _on(keys))
        return _affected(merge.whenMatchedUpdate(condition=raised, set={column: s}).whenNotMatchedInsertAll().execute())

    def apply_changes(self, table: Table, changes: DataFrame, keys: list[str]) -> int:
        """Apply a change set: the table's columns and `change`. `delete` removes the key's row; any other change
        (insert, update, upsert) writes the row where its values differ. An empty set commits nothing."""
        values = {c: f"s.`{c}`" for c in table.column_names}
        differs = _differs([c for c in table.column_names if c not in keys])
        merge = (
            self.delta(table).alias("t").merge(changes.alias("s"), _on(keys))
            .whenMatchedDelete(condition="s.change = 'delete'")
            .whenMatchedUpdate(condition=differs, set={c: v for c, v in values.items() if c not in keys})
            .whenNotMatchedInsert(condition="s.change <> 'delete'", values=values)
        )  # fmt: skip
        return _affected(merge.execute())

    # --- appends tagged with their stream's batch id (pipeline.streams.append_each_batch_once) -------------------

    def append_batch(self, table: Table, df: DataFrame, writer_id: str, batch_id: int) -> None:
        """Append one micro-batch, its commit tagged `writer_id:batch_id` (see `last_batch`). Unlike an append with
        Delta's `txnAppId`, Delta looks nothing up: in Delta 4.0 that lookup rebuilds the table's whole state in a
        Spark job at every commit."""
        self.append(table, df, user_metadata=f"{writer_id}:{batch_id}")

    def last_batch(self, table: Table, writer_id: str) -> int:
        """The highest batch id `append_batch` committed for `writer_id` (-1 if none), from the commit history: one
        small job over the commit files, no state rebuilt. The newest `history_page` commits first; all of them if
        ours are not there."""
        prefix = f"{writer_id}:"
        for limit in (self.history_page, None):
            history = self.delta(table).history(limit) if limit else self.delta(table).history()
            tags = [r.userMetadata for r in history.select("userMetadata").collect()]
            ours = [int(t.removeprefix(prefix)) for t in tags if t and t.startswith(prefix)]
            if ours:
                return max(ours)
            if limit is not None and len(tags) < limit:
                break
        return -1
