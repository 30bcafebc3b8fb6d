"""Bronze: raw rows from the source database (incremental, JDBC) and every Kafka record (the multiplex table)."""

from __future__ import annotations

import logging
from functools import partial

from pyspark.sql import DataFrame
from pyspark.sql.streaming import StreamingQuery

from core.connections import confluent_kafka_config, jdbc_properties, spark_kafka_options
from core.contract import KAFKA_MULTIPLEX_BZ, PROFILE_CHANGES_BZ, REGISTERED_USERS_BZ, Table
from core.kafka_broker import BrokerError, create_topics
from pipeline.errors import PipelineError, first_line
from pipeline.run_state import StageRun
from pipeline.storage import Lakehouse
from pipeline.streams import BatchSink, Trigger, append_each_batch_once, run_available_now, run_parallel, start_stream
from pipeline.transforms import conform, kafka_to_multiplex

log = logging.getLogger(__name__)

# source table -> (bronze table, high-watermark key)
SOURCE_TABLES: dict[str, tuple[Table, str]] = {
    "registrations": (REGISTERED_USERS_BZ, "user_id"),
    "profile_changes": (PROFILE_CHANGES_BZ, "change_id"),
}


def _jdbc_driver(url: str) -> str | None:
    return {"jdbc:sqlite:": "org.sqlite.JDBC", "jdbc:postgresql:": "org.postgresql.Driver"}.get(
        next((p for p in ("jdbc:sqlite:", "jdbc:postgresql:") if url.startswith(p)), ""), None
    )


def read_source_rows(lh: Lakehouse, source_table: str, key: str, above: int) -> DataFrame:
    """Rows of a source table whose key is above the high-watermark, read through Spark's JDBC source."""
    settings = lh.settings
    if not settings.source_db_is_jdbc and not settings.source_db_path.exists():
        raise PipelineError(f"source database {settings.source_db_path} does not exist: run "
                            "`python -m simulator history` first or set SOURCE_DB_URL")  # fmt: skip
    url = settings.source_jdbc_url
    reader = lh.spark.read.format("jdbc").option("url", url)
    driver = _jdbc_driver(url)
    if driver:
        reader = reader.option("driver", driver)
    reader = reader.options(**jdbc_properties(settings))
    # source_table and key come from SOURCE_TABLES (an allow-list); `above` is an int we computed.
    query = f"SELECT * FROM {source_table} WHERE {key} > {int(above)}"
    try:
        return reader.option("query", query).load()
    except Exception as exc:  # noqa: BLE001 - JDBC errors arrive as Py4J/Analysis exceptions
        raise PipelineError(f"cannot read {source_table} from the source database: {first_line(exc, 300)}") from exc


def ingest_source_table(run: StageRun, source_table: str) -> int:
    """Copy new source rows into bronze exactly once: key above the bronze maximum, insert-only merge."""
    lh = run.lh
    table, key = SOURCE_TABLES[source_table]
    above = lh.max_value(table, key)
    rows = conform(read_source_rows(lh, source_table, key, -1 if above is None else above), table).cache()
    try:
        count = rows.count()
        if count:
            run.stats.add(lh.insert_new(table, rows, [key]))
        log.info("bronze %s: %d new source rows", table.name, count)
        return count
    finally:
        rows.unpersist()


def check_kafka(lh: Lakehouse) -> None:
    """Fail fast with one line when the broker is down; create the contract's topics if missing."""
    if lh.settings.kafka_sasl_mechanism == "AWS_MSK_IAM":
        log.info("MSK IAM: no admin client can sign in here; the topics must exist, Spark's Kafka source checks")
        return
    try:
        create_topics(
            lh.settings.kafka_bootstrap_servers,
            list(lh.settings.topics.values()),
            client_config=confluent_kafka_config(lh.settings),
        )
    except BrokerError as exc:
        raise PipelineError(str(exc)) from exc


def kafka_source(lh: Lakehouse, max_offsets_per_trigger: int | None = None) -> DataFrame:
    reader = (
        lh.spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", lh.settings.kafka_bootstrap_servers)
        .option("subscribe", ",".join(lh.settings.topics.values()))
        .option("startingOffsets", "earliest")
    )
    if max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(max_offsets_per_trigger))
    return reader.options(**spark_kafka_options(lh.settings)).load()


KAFKA_QUERY = "bronze_kafka_multiplex"


def kafka_ingest(lh: Lakehouse) -> tuple[DataFrame, BatchSink]:
    """The Kafka source as bronze.kafka_multiplex_bz rows, and the sink that appends them (exactly once per offset)."""
    return kafka_source(lh).transform(kafka_to_multiplex), append_each_batch_once(lh, KAFKA_MULTIPLEX_BZ, KAFKA_QUERY)


def start_kafka_ingest(lh: Lakehouse, trigger: Trigger) -> StreamingQuery:
    """Every Kafka record into bronze.kafka_multiplex_bz, continuously."""
    check_kafka(lh)
    source, sink = kafka_ingest(lh)
    return start_stream(lh, KAFKA_QUERY, source, trigger, sink)


def run_bronze(run: StageRun) -> int:
    """One bronze pass over everything available now: Kafka and both source tables side by side (the broker is
    checked first, so a broker that is down stops the stage before anything is written)."""
    check_kafka(run.lh)

    def from_kafka(run: StageRun) -> int:
        source, sink = kafka_ingest(run.lh)
        return run_available_now(run, KAFKA_QUERY, source, sink=sink)

    return run_parallel(run, from_kafka, ingest_sources)


def ingest_sources(run: StageRun) -> int:
    """Every source table's new rows into bronze, the tables side by side."""
    return run_parallel(run, *[partial(ingest_source_table, source_table=name) for name in SOURCE_TABLES])
