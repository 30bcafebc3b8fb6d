"""Bronze: raw rows from the source database (incremental, JDBC: pipeline.source_ingest) and every Kafka record (the
multiplex table)."""

from __future__ import annotations

import logging
from functools import partial

from pyspark.sql import DataFrame
from pyspark.sql.streaming import StreamingQuery

from core.connections import confluent_kafka_config, spark_kafka_options
from core.contract import KAFKA_MULTIPLEX_BZ, PROFILE_CHANGES_BZ, REGISTERED_USERS_BZ, Table
from core.kafka_broker import BrokerError, create_topics, topic_config
from core.settings import Settings
from pipeline.errors import PipelineError
from pipeline.run_state import StageRun
from pipeline.source_identity import RECORD_DIR, SourceRecord
from pipeline.source_ingest import ingest_planned, plan_source_ingest, source_identity
from pipeline.storage import Lakehouse
from pipeline.streams import BatchSink, Trigger, append_each_batch_once, run_available_now, run_parallel, start_stream
from pipeline.transforms import kafka_to_multiplex

log = logging.getLogger(__name__)

# source table -> (bronze table, its key: the incremental ingest's watermark); an allow-list for the SQL text
SOURCE_TABLES: dict[str, tuple[Table, str]] = {
    "registrations": (REGISTERED_USERS_BZ, "user_id"),
    "profile_changes": (PROFILE_CHANGES_BZ, "change_id"),
}


def check_kafka(lh: Lakehouse) -> None:
    """Fail fast with one line when the broker is down; create the contract's topics if missing, with the bronze
    retention (`topic_config`) so Kafka keeps records as long as bronze keeps their rows."""
    if lh.settings.kafka_sasl_mechanism == "AWS_MSK_IAM":
        log.info("MSK IAM: no admin client can sign in here; the topics must exist, Spark's Kafka source checks")
        return
    try:
        create_topics(
            lh.settings.kafka_bootstrap_servers,
            list(lh.settings.topics.values()),
            client_config=confluent_kafka_config(lh.settings),
            config=topic_config(lh.settings),
        )
    except BrokerError as exc:
        raise PipelineError(str(exc)) from exc


def kafka_read_options(settings: Settings) -> dict[str, str]:
    """Spark's Kafka source on every contract topic from its earliest record, with the cluster's security options."""
    topics = ",".join(settings.topics.values())
    return {"kafka.bootstrap.servers": settings.kafka_bootstrap_servers, "subscribe": topics,
            "startingOffsets": "earliest", **spark_kafka_options(settings)}  # fmt: skip


def kafka_source(lh: Lakehouse, max_offsets_per_trigger: int | None = None) -> DataFrame:
    reader = lh.spark.readStream.format("kafka").options(**kafka_read_options(lh.settings))
    if max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(max_offsets_per_trigger))
    return reader.load()


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
    """Every source table's new rows into bronze (pipeline.source_ingest), the tables side by side. Every table is
    probed and checked first, so a database that is down, refuses the sign-in or lacks a table or column stops the
    step before any table is written."""
    record = SourceRecord(run.lh.checkpoint(RECORD_DIR))
    source = source_identity(run.lh)
    recorded = record.check(source)  # another database than the lakehouse's: one line, nothing read or written
    plans = [plan_source_ingest(run.lh, name, table, key) for name, (table, key) in SOURCE_TABLES.items()]
    count = run_parallel(run, *[partial(ingest_planned, plan=plan) for plan in plans])
    if recorded is None and (count or any(run.lh.version(table) for table, _ in SOURCE_TABLES.values())):
        # the first rows in bronze name its source; a lakehouse loaded before sources were recorded takes the
        # database that loads it next
        record.save(source)
    return count
