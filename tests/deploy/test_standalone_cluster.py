"""The batch pipeline on a real multi-process Spark standalone cluster gives the same gold as local mode."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from pyspark.testing import assertDataFrameEqual

from core.cluster import StandaloneCluster
from core.contract import ALL_TABLES, GYM_SUMMARY, WORKOUT_BPM_SUMMARY
from pipeline.runner import run_batch
from pipeline.storage import Lakehouse
from tests.helpers import produce, write_profile_changes, write_registrations

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_750_000_000.0  # 2025-06-15T15:06:40Z
GOLD = [t for t in ALL_TABLES if t.layer == "gold"]


@pytest.fixture(scope="module")
def standalone_cluster(tmp_path_factory: pytest.TempPathFactory):
    """A master and two 1-core workers on 127.0.0.1, each its own JVM; stopped however the tests end."""
    with StandaloneCluster(work_dir=tmp_path_factory.mktemp("spark-cluster"), workers=2, cores=1, memory="1g") as c:
        yield c


def load_inputs(settings) -> None:
    """Three members, one profile, two gym visits, completed and incomplete workouts, readings and one bad record."""
    db = settings.source_db_path
    write_registrations(db, [(1, 101, "aa:bb:cc:dd:ee:01", T0 - 86400), (2, 102, "aa:bb:cc:dd:ee:02", T0 - 86400),
                             (3, 103, "aa:bb:cc:dd:ee:03", T0 - 3600)])  # fmt: skip
    write_profile_changes(db, [(1, "new", T0 - 86000, "1990-02-03", "F", "female", "Ada", "L", "1 Main St",
                                "Springfield", "IL", "62701")])  # fmt: skip
    bpm, wk, gym = settings.topic("bpm"), settings.topic("workout"), settings.topic("gym")

    def workout(user: int, workout_id: int, action: str, at: float) -> dict:
        return {"user_id": user, "workout_id": workout_id, "session_id": 1, "action": action, "time": T0 + at}

    produce(settings.kafka_bootstrap_servers, [
        (gym, "aa:bb:cc:dd:ee:01", {"mac_address": "aa:bb:cc:dd:ee:01", "gym": 7, "login": T0 - 600, "logout": None}),
        (gym, "aa:bb:cc:dd:ee:01", {"mac_address": "aa:bb:cc:dd:ee:01", "gym": 7, "login": T0 - 600,
                                    "logout": T0 + 9000}),
        (gym, "aa:bb:cc:dd:ee:02", {"mac_address": "aa:bb:cc:dd:ee:02", "gym": 8, "login": T0 - 60, "logout": None}),
        (wk, "1", workout(1, 1, "start", 0)),
        (wk, "1", workout(1, 1, "stop", 1800)),
        (wk, "2", workout(2, 1, "start", 0)),
        (wk, "2", workout(2, 1, "stop", 4 * 3600)),  # longer than 3 hours: not completed
        (wk, "1", workout(1, 3, "start", 7200)),
        (wk, "1", workout(1, 3, "start", 7200)),  # delivered twice
        (wk, "1", workout(1, 3, "stop", 7800)),
        *[(bpm, "101", {"device_id": 101, "time": T0 + t, "heartrate": 90.0 + t / 60}) for t in range(0, 7900, 300)],
        (bpm, "102", {"device_id": 102, "time": T0 + 60, "heartrate": 110.0}),
        (bpm, "101", "not json at all"),
    ])  # fmt: skip


def start_on_cluster(master_url: str, settings, log_file: Path) -> subprocess.Popen:
    """`python -m pipeline run --mode batch` as its own driver process, configured only through the environment."""
    env = {
        **os.environ,
        "SPARK_MASTER": master_url,
        "LAKEHOUSE_DIR": str(settings.lakehouse_dir),
        "LAKEHOUSE_DATA_DIR": str(settings.data_dir),
        "SOURCE_DB_URL": str(settings.source_db_path),
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": settings.kafka_topic_prefix,
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_DRIVER_MEMORY": "1g",
        # small inputs on a shared 2-core machine: schedule tasks at once wherever a core is free, and spend little
        # CPU on JIT compilation in the short-lived driver and executor JVMs
        "PYSPARK_SUBMIT_ARGS": "--conf spark.locality.wait=0s "
        "--conf spark.driver.defaultJavaOptions=-XX:TieredStopAtLevel=1 "
        "--conf spark.executor.defaultJavaOptions=-XX:TieredStopAtLevel=1 pyspark-shell",
    }
    with open(log_file, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "pipeline", "run", "--mode", "batch"], cwd=ROOT, env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip


def test_batch_pipeline_on_a_standalone_cluster_gives_the_same_gold_as_local_mode(
    standalone_cluster, settings, spark, tmp_path
):
    load_inputs(settings)
    on_cluster = replace(settings, lakehouse_dir=tmp_path / "lakehouse-cluster")
    in_local_mode = replace(settings, lakehouse_dir=tmp_path / "lakehouse-local")

    # both runs at once over the same inputs: the cluster's driver in its own process, local mode in this one
    log_file = tmp_path / "cluster-driver.log"
    driver = start_on_cluster(standalone_cluster.master_url, on_cluster, log_file)
    try:
        run_batch(Lakehouse(spark, in_local_mode))
        returncode = driver.wait(timeout=600)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    assert returncode == 0, log_file.read_text()[-4000:]

    # the run really was distributed: the master saw the application, and each worker ran one of its executors
    # (running or finished: the driver's exit reaches the master and workers asynchronously)
    master = standalone_cluster.status()
    apps = [a for a in master["activeapps"] + master["completedapps"] if a["name"] == "pipeline-all-batch"]
    assert len(apps) == 1, master
    for worker in standalone_cluster.worker_status():
        executors = worker["executors"] + worker["finishedexecutors"]
        assert [e for e in executors if e["appid"] == apps[0]["id"]], worker

    cluster_lh, local_lh = Lakehouse(spark, on_cluster), Lakehouse(spark, in_local_mode)
    assert local_lh.read(WORKOUT_BPM_SUMMARY).count() == 2 and local_lh.read(GYM_SUMMARY).count() == 2
    for table in GOLD:
        assertDataFrameEqual(cluster_lh.read(table), local_lh.read(table))
