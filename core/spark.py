"""The one SparkSession factory: local mode with Delta Lake and Spark's Kafka source, or an existing session.

Jars come from Maven Central through Spark's own Ivy resolution (`spark.jars.packages`) into a cache directory
outside the project. After the first resolution the resolved jar list is remembered, so later sessions pass the
jars directly and neither resolve nor download anything.
"""

from __future__ import annotations

import hashlib
import logging
import os
from importlib.metadata import version
from pathlib import Path

from core.settings import Settings

log = logging.getLogger(__name__)

SQLITE_JDBC = "org.xerial:sqlite-jdbc:3.50.3.0"
POSTGRES_JDBC = "org.postgresql:postgresql:42.7.14"


def spark_packages() -> list[str]:
    """Maven coordinates the pipeline needs, matched to the installed pyspark and delta-spark."""
    spark_version = version("pyspark")
    return [
        f"io.delta:delta-spark_2.13:{version('delta-spark')}",
        f"org.apache.spark:spark-sql-kafka-0-10_2.13:{spark_version}",
        SQLITE_JDBC,
        POSTGRES_JDBC,
    ]


def _jar_manifest(cache_dir: Path, packages: list[str]) -> Path:
    digest = hashlib.sha256("\n".join(packages).encode()).hexdigest()[:16]
    return cache_dir / "ivy" / f"resolved-{digest}.txt"


def cached_jars(cache_dir: Path, packages: list[str]) -> list[str] | None:
    """The jar files resolved earlier for exactly these packages, or None if any is missing."""
    manifest = _jar_manifest(cache_dir, packages)
    if not manifest.exists():
        return None
    jars = [line for line in manifest.read_text().splitlines() if line]
    return jars if jars and all(Path(j).exists() for j in jars) else None


def local_conf(settings: Settings) -> dict[str, str]:
    """Configuration for a session this project starts itself: sized for a small machine, UTC, quiet."""
    cores = os.cpu_count() or 2
    return {
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.session.timeZone": "UTC",
        # the JIT's code cache holds the compiled code of every cached generated class (see maxEntries below); the
        # default 240 MB filled up once in a full test run ("Out of space in CodeCache"), so it gets room to grow
        "spark.driver.extraJavaOptions": "-Duser.timezone=UTC -XX:ReservedCodeCacheSize=512m",
        "spark.executor.extraJavaOptions": "-Duser.timezone=UTC -XX:ReservedCodeCacheSize=512m",
        "spark.sql.shuffle.partitions": str(max(2, cores)),
        "spark.default.parallelism": str(max(2, cores)),
        "spark.databricks.delta.snapshotPartitions": "2",
        "spark.sql.adaptive.enabled": "true",
        # A pipeline run generates about 490 distinct classes (Spark's CodegenMetrics, a 20k-event batch), and a
        # stream generates the same ones every round. With Spark's default of 100 cached generated classes, evicted
        # ones are compiled again (Janino, then the JIT) in later rounds; a profile of a 1M-event batch showed the
        # JIT's C2 thread taking a quarter of the CPU.
        "spark.sql.codegen.cache.maxEntries": "2000",
        # A micro-batch's records are cached for its several writers and then dropped: compressing the cached columns
        # (mostly unique JSON text) costs more time than the memory it saves is worth
        "spark.sql.inMemoryColumnarStorage.compressed": "false",
        # OPTIMIZE (pipeline.maintenance) rewrites files under 16 MB into files of up to 128 MB: a compacted file
        # grows with later runs until it leaves the small ones, instead of every table under Delta's default of 1 GB
        # being rewritten whole at every run
        "spark.databricks.delta.optimize.minFileSize": str(16 * 1024 * 1024),
        "spark.databricks.delta.optimize.maxFileSize": str(128 * 1024 * 1024),
        # VACUUM lists a table's files in a job of this many tasks: Spark's default of 10000 made a VACUUM of a
        # small table take tens of seconds here
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": str(max(2, cores)),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.memory": os.environ.get("SPARK_DRIVER_MEMORY", "3g"),
        "spark.sql.warehouse.dir": str((settings.lakehouse_dir / "_warehouse").resolve()),
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.jars.ivy": str((settings.cache_dir / "ivy").resolve()),
    }


def get_spark(settings: Settings, app_name: str = "wearable-lakehouse", extra_conf: dict[str, str] | None = None):
    """Return the active SparkSession (Databricks, tests) or start one configured for this project."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if settings.databricks_runtime_version:  # a Databricks cluster: its own session, its own jars and conf
        return SparkSession.builder.getOrCreate()

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    master = settings.spark_master or f"local[{os.cpu_count() or 2}]"
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in {**local_conf(settings), **(extra_conf or {})}.items():
        builder = builder.config(key, value)

    packages = spark_packages()
    jars = cached_jars(settings.cache_dir, packages)
    if jars:
        builder = builder.config("spark.jars", ",".join(jars))
    else:
        log.info("resolving Spark jars from Maven Central into %s (first run only)", settings.cache_dir / "ivy")
        builder = builder.config("spark.jars.packages", ",".join(packages))

    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    if not jars:
        resolved = [j.removeprefix("file:") for j in spark.conf.get("spark.jars", "").split(",") if j]
        if resolved:
            manifest = _jar_manifest(settings.cache_dir, packages)
            manifest.parent.mkdir(parents=True, exist_ok=True)
            manifest.write_text("\n".join(resolved) + "\n")
    return spark
