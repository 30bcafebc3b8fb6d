"""A real multi-process Spark standalone cluster on this machine: one master and N workers from the pyspark install.

It is what `SPARK_MASTER=spark://127.0.0.1:7077` points at when there is no other cluster: each daemon is its own JVM,
executors run in separate processes, and the driver only schedules. `lakehouse cluster start|status|stop`
(or `scripts/spark_cluster.sh`) runs it in the background; tests use `StandaloneCluster` as a context manager.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from core.service import Service, WaitAborted, free_port, wait_until

log = logging.getLogger(__name__)

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
DAEMON_STOP_SECONDS = 20.0  # a daemon asked to stop shuts down its executors and exits; then its group is ended


class ClusterError(RuntimeError):
    """The cluster did not come up, or is not in the state asked for."""


def spark_home() -> Path:
    """The pyspark package directory: it ships bin/spark-class and the jars a standalone daemon needs."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def _json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=2) as response:
        return json.load(response)


@dataclass
class StandaloneCluster:
    """One master and `workers` workers bound to `host`, logs and scratch space under `work_dir`."""

    work_dir: Path
    workers: int = 2
    cores: int = 1
    memory: str = "1g"
    host: str = "127.0.0.1"
    port: int = 0  # 0: pick a free port
    webui_port: int = 0
    daemon_memory: str = "512m"
    # the daemons only schedule and supervise: a small heap, one GC thread and the quick JIT keep them cheap
    daemon_java_opts: str = "-XX:+UseSerialGC -XX:TieredStopAtLevel=1"
    python: str = sys.executable
    worker_ui_ports: list[int] = field(default_factory=list)

    @property
    def master_url(self) -> str:
        return f"spark://{self.host}:{self.port}"

    @property
    def master_ui(self) -> str:
        return f"http://{self.host}:{self.webui_port}"

    @property
    def state_file(self) -> Path:
        return self.work_dir / "cluster.json"

    @property
    def daemons(self) -> list[str]:
        return ["master", *(f"worker-{i}" for i in range(self.workers))]

    def service(self, name: str) -> Service:
        """One daemon's JVM: pid file and log under `<work_dir>/logs`."""
        return Service(name, self.work_dir / "logs", stop_timeout=DAEMON_STOP_SECONDS)

    @property
    def pids(self) -> dict[str, int]:
        """The pids of the daemons that are running, by name."""
        return {name: pid for name in self.daemons if (pid := self.service(name).pid()) is not None}

    def _env(self) -> dict[str, str]:
        conf_dir = self.work_dir / "conf"  # empty: no stray spark-defaults or spark-env from elsewhere
        conf_dir.mkdir(parents=True, exist_ok=True)
        return {
            **os.environ,
            "SPARK_HOME": str(spark_home()),
            "SPARK_CONF_DIR": str(conf_dir),
            "SPARK_LOCAL_IP": self.host,
            "SPARK_LOG_DIR": str(self.work_dir / "logs"),
            "SPARK_WORKER_DIR": str(self.work_dir / "work"),
            "SPARK_DAEMON_MEMORY": self.daemon_memory,
            "SPARK_DAEMON_JAVA_OPTS": self.daemon_java_opts,
            "PYSPARK_PYTHON": self.python,  # executors' Python workers use this project's interpreter
        }

    def _launch(self, name: str, main_class: str, *args: str) -> None:
        self.service(name).start([str(spark_home() / "bin" / "spark-class"), main_class, *args], env=self._env())
        self._save()

    def _save(self) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        state = {"master_url": self.master_url, "master_ui": self.master_ui, "pids": self.pids,
                 "worker_ui_ports": self.worker_ui_ports}  # fmt: skip
        self.state_file.write_text(json.dumps(state, indent=2))

    def status(self) -> dict:
        """The master's own view (its web UI's JSON): status, workers, running and completed applications."""
        return _json(f"{self.master_ui}/json/")

    def worker_status(self) -> list[dict]:
        return [_json(f"http://{self.host}:{port}/json/") for port in self.worker_ui_ports]

    def _exited(self) -> str | None:
        """Which daemons have exited (for a start-up that waits on them), or None."""
        dead = [name for name in self.daemons if self.service(name).pid() is None]
        return f"Spark {', '.join(dead)} exited" if dead else None

    def start(self, timeout: float = 120.0) -> str:
        """Start the master, then the workers; return the master URL once every worker is registered and alive."""
        self.port = self.port or free_port(self.host)
        self.webui_port = self.webui_port or free_port(self.host)
        self.worker_ui_ports = [free_port(self.host) for _ in range(self.workers)]
        try:
            self._launch("master", MASTER_CLASS, "--host", self.host, "--port", str(self.port),
                         "--webui-port", str(self.webui_port))  # fmt: skip
            # workers start at once, not after the master: each retries its registration until the master answers
            for i, ui_port in enumerate(self.worker_ui_ports):
                self._launch(f"worker-{i}", WORKER_CLASS, self.master_url, "--host", self.host, "--cores",
                             str(self.cores), "--memory", self.memory, "--webui-port", str(ui_port),
                             "--work-dir", str(self.work_dir / "work"))  # fmt: skip
            wait_until(lambda: self.alive_workers() == self.workers, timeout, f"{self.workers} Spark workers",
                       interval=0.25, abort=self._exited, retry_on=(OSError, ValueError))  # fmt: skip
        except (TimeoutError, WaitAborted) as exc:
            self.stop()
            raise ClusterError(f"{exc}; see {self.work_dir / 'logs'}") from exc
        except BaseException:
            self.stop()
            raise
        log.info("Spark standalone cluster up at %s (%d workers; UI %s)", self.master_url, self.workers, self.master_ui)
        return self.master_url

    def alive_workers(self) -> int:
        return sum(1 for w in self.status().get("workers", []) if w.get("state") == "ALIVE")

    def stop(self) -> None:
        """Stop the workers, then the master; idempotent."""
        for name in [*self.daemons[1:], "master"]:
            self.service(name).stop()
        self.state_file.unlink(missing_ok=True)

    def __enter__(self) -> StandaloneCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @classmethod
    def from_state(cls, work_dir: Path) -> StandaloneCluster | None:
        """The cluster a previous `start` left running in `work_dir`, or None."""
        state_file = work_dir / "cluster.json"
        if not state_file.exists():
            return None
        state = json.loads(state_file.read_text())
        host, _, port = state["master_url"].removeprefix("spark://").partition(":")
        return cls(work_dir=work_dir, host=host, port=int(port), webui_port=int(state["master_ui"].rsplit(":", 1)[1]),
                   workers=len(state["worker_ui_ports"]), worker_ui_ports=state["worker_ui_ports"])  # fmt: skip
