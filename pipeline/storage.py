"""Where tables live and how they are written: local Delta paths or Unity Catalog names, chosen by settings."""

from __future__ import annotations

import logging
import threading
import uuid
from pathlib import Path

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from core.contract import ALL_TABLES, Table
from core.settings import Settings

log = logging.getLogger(__name__)


class Lakehouse:
    """Reads, writes and creates the contract's tables; the pipeline never builds a path or a name itself."""

    def __init__(self, spark: SparkSession, settings: Settings):
        self.spark = spark
        self.settings = settings
        self.rows_written = 0  # rows inserted or updated by merges since the counter was last reset
        self._lock = threading.Lock()  # steps may run side by side (pipeline.streams.run_parallel)
        self.seen_versions: dict[str, tuple[int | None, ...]] = {}  # step name -> input versions it last caught up to
        self.history_page = 100  # commits `last_batch` reads before it reads a table's whole history

    def location(self, table: Table) -> str:
        if self.settings.catalog:
            return f"{self.settings.catalog}.{table.layer}.{table.name}"
        return str(self.settings.table_path(table.layer, table.name).resolve())

    def _sql_ref(self, table: Table) -> str:
        return self.location(table) if self.settings.catalog else f"delta.`{self.location(table)}`"

    def ensure(self, table: Table) -> None:
        """Create the table empty with its contract schema if it does not exist (idempotent)."""
        if not self.settings.catalog and self.version(table) is not None:
            return  # a local table with a commit: nothing to do, and no Spark statement to plan (0.3 s each)
        if self.settings.catalog:
            self.spark.sql(f"CREATE SCHEMA IF NOT EXISTS {self.settings.catalog}.{table.layer}")
        partition = f" PARTITIONED BY ({', '.join(table.partition_by)})" if table.partition_by else ""
        props = " TBLPROPERTIES (delta.enableChangeDataFeed = true)" if table.change_feed else ""
        self.spark.sql(f"CREATE TABLE IF NOT EXISTS {self._sql_ref(table)} ({table.ddl}) USING DELTA{partition}{props}")

    def ensure_all(self) -> None:
        for table in ALL_TABLES:
            self.ensure(table)

    def exists(self, table: Table) -> bool:
        if self.settings.catalog:
            return self.spark.catalog.tableExists(self.location(table))
        return DeltaTable.isDeltaTable(self.spark, self.location(table))

    def read(self, table: Table) -> DataFrame:
        if self.settings.catalog:
            return self.spark.read.table(self.location(table))
        return self.spark.read.format("delta").load(self.location(table))

    def read_stream(self, table: Table, appends_only: bool = False) -> DataFrame:
        """Stream a table's new rows; `appends_only` skips commits that rewrite rows (merges that update)."""
        reader = self.spark.readStream.format("delta")
        if appends_only:
            reader = reader.option("skipChangeCommits", "true")
        if self.settings.catalog:
            return reader.table(self.location(table))
        return reader.load(self.location(table))

    def read_changes(self, table: Table) -> DataFrame:
        """Stream a table's row changes (Change Data Feed): the current rows first, then every insert/update/delete."""
        reader = self.spark.readStream.format("delta").option("readChangeFeed", "true")
        if self.settings.catalog:
            return reader.table(self.location(table))
        return reader.load(self.location(table))

    def version(self, table: Table) -> int | None:
        """The table's latest Delta version (None if it does not exist): from the log's file names when local."""
        if self.settings.catalog:
            if not self.exists(table):
                return None
            return int(self.delta(table).history(1).select("version").first()[0])
        log_dir = Path(self.location(table)) / "_delta_log"
        if not log_dir.exists():
            return None
        return max((int(p.name[:20]) for p in log_dir.glob("*.json") if p.name[:20].isdigit()), default=None)

    def delta(self, table: Table) -> DeltaTable:
        if self.settings.catalog:
            return DeltaTable.forName(self.spark, self.location(table))
        return DeltaTable.forPath(self.spark, self.location(table))

    def checkpoint(self, name: str) -> str:
        return (
            str((Path(self.settings.checkpoints) / name).resolve())
            if not self.settings.catalog
            else (f"{self.settings.checkpoints}/{name}")
        )

    def writer_id(self, name: str) -> str:
        """A stable id for idempotent writes of one stream, kept beside (not inside) its checkpoint."""
        marker = Path(self.checkpoint(name) + ".writer-id")
        if marker.exists():
            return marker.read_text().strip()
        marker.parent.mkdir(parents=True, exist_ok=True)
        value = f"{name}-{uuid.uuid4().hex}"
        marker.write_text(value)
        return value

    # --- writes -------------------------------------------------------------------------------------------

    def insert_new(self, table: Table, df: DataFrame, keys: list[str], bounded_by: str | None = None) -> None:
        """Insert rows whose key is not in the table yet (idempotent: a replayed batch inserts nothing).

        `bounded_by`, a key column, limits the target rows the merge reads to the batch's range of that column, so
        Delta skips every file outside it (by its min/max statistics) instead of scanning the whole table.
        """
        cond = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
        if bounded_by is not None:
            assert bounded_by in keys, "only a key column bounds the matching rows"
            df = df.persist()
            is_time = dict(df.dtypes)[bounded_by] == "timestamp"
            column = F.unix_micros(bounded_by) if is_time else F.col(bounded_by)
            low, high = df.agg(F.min(column), F.max(column)).first()  # micros: no time zone on the way
            if low is None:
                df.unpersist()
                return
            bound = "timestamp_micros({})" if is_time else "{}"
            cond += f" AND t.`{bounded_by}` BETWEEN {bound.format(int(low))} AND {bound.format(int(high))}"
            try:
                self._count(self.delta(table).alias("t").merge(df.alias("s"), cond).whenNotMatchedInsertAll().execute())
            finally:
                df.unpersist()
            return
        self._count(self.delta(table).alias("t").merge(df.alias("s"), cond).whenNotMatchedInsertAll().execute())

    def upsert(self, table: Table, df: DataFrame, keys: list[str]) -> None:
        """Insert new keys and update rows whose values changed; untouched rows are not rewritten."""
        cond = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
        changed = " OR ".join(f"NOT (t.`{c}` <=> s.`{c}`)" for c in df.columns if c not in keys)
        merge = self.delta(table).alias("t").merge(df.alias("s"), cond)
        merge = merge.whenMatchedUpdateAll(condition=changed) if changed else merge
        self._count(merge.whenNotMatchedInsertAll().execute())

    def _count(self, metrics: DataFrame | None) -> None:
        row = metrics.first() if metrics is not None else None
        if row is not None and "num_affected_rows" in row:
            with self._lock:
                self.rows_written += int(row["num_affected_rows"] or 0)

    def sync(self, table: Table, df: DataFrame, keys: list[str]) -> None:
        """Make the table equal to `df` (a small, fully recomputed table), writing only rows that differ."""
        current = self.read(table)
        changed = df.exceptAll(current)
        gone = current.select(*keys).exceptAll(df.select(*keys))
        if changed.isEmpty() and gone.isEmpty():
            return
        cond = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
        values = " OR ".join(f"NOT (t.`{c}` <=> s.`{c}`)" for c in df.columns if c not in keys)
        merge = self.delta(table).alias("t").merge(df.alias("s"), cond)
        merge = merge.whenMatchedUpdateAll(condition=values) if values else merge
        self._count(merge.whenNotMatchedInsertAll().whenNotMatchedBySourceDelete().execute())

    def append_batch(self, table: Table, df: DataFrame, writer_id: str, batch_id: int) -> None:
        """Append one micro-batch, its commit tagged `writer_id:batch_id` (see `last_batch`). Unlike an append with
        Delta's `txnAppId`, Delta looks nothing up: in Delta 4.0 that lookup rebuilds the table's whole state in a
        Spark job (0.4-1.2 s on 2 cores), at every commit."""
        self.append(table, df, user_metadata=f"{writer_id}:{batch_id}")

    def last_batch(self, table: Table, writer_id: str) -> int:
        """The highest batch id `append_batch` committed for `writer_id` (-1 if none), from the commit history: one
        small job over the commit files (0.3 s), no state rebuilt. The newest `history_page` commits first; all of
        them if ours are not there."""
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

    def append(self, table: Table, df: DataFrame, user_metadata: str | None = None) -> None:
        writer = df.write.format("delta").mode("append")
        if user_metadata is not None:
            writer = writer.option("userMetadata", user_metadata)
        if self.settings.catalog:
            writer.saveAsTable(self.location(table))
        else:
            writer.save(self.location(table))

    def max_value(self, table: Table, column: str) -> int | None:
        row = self.read(table).agg(F.max(column)).first()
        return None if row is None else row[0]
