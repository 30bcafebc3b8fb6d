"""A real multi-process Spark standalone cluster on this machine: one master and N workers from the pyspark install.

It is what `SPARK_MASTER=spark://127.0.0.1:7077` points at when there is no other cluster: each daemon is its own JVM,
executors run in separate processes, and the driver only schedules. `lakehouse cluster start|status|stop`
(or `scripts/spark_cluster.sh`) runs it in the background; tests use `StandaloneCluster` as a context manager.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from core.service import free_port, pid_alive

log = logging.getLogger(__name__)

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


class ClusterError(RuntimeError):
    """The cluster did not come up, or is not in the state asked for."""


def spark_home() -> Path:
    """The pyspark package directory: it ships bin/spark-class and the jars a standalone daemon needs."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def _json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=2) as response:
        return json.load(response)


def _is_spark_daemon(pid: int) -> bool:
    """True if `pid` is still one of our Spark daemons (guards against a recycled pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return pid_alive(pid)
    return "org.apache.spark.deploy." in cmdline


def terminate(pid: int, timeout: float = 20.0) -> None:
    """SIGTERM one daemon (and the process group it leads), then SIGKILL it if it outlives `timeout`."""
    if not pid_alive(pid) or not _is_spark_daemon(pid):
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)  # reaps it when it is our child
            except ChildProcessError:
                done = 0 if pid_alive(pid) else pid
            if done or not pid_alive(pid):
                return
            threading.Event().wait(0.1)
    raise ClusterError(f"Spark daemon {pid} did not exit")


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
    pids: dict[str, int] = field(default_factory=dict)
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
        logs = self.work_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with open(logs / f"{name}.log", "ab") as out:
            proc = subprocess.Popen(
                [str(spark_home() / "bin" / "spark-class"), main_class, *args],
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends exactly this daemon and its children
            )
        self.pids[name] = proc.pid
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

    def _wait(self, ready, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            dead = [name for name, pid in self.pids.items() if not pid_alive(pid)]
            if dead:
                raise ClusterError(f"Spark {', '.join(dead)} exited during start-up; see {self.work_dir / 'logs'}")
            try:
                if ready():
                    return
            except OSError as exc:  # not listening yet
                last = exc
            threading.Event().wait(0.25)
        raise ClusterError(f"{what} not ready after {timeout:.0f} s (last error: {last}); see {self.work_dir / 'logs'}")

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
            self._wait(lambda: self.alive_workers() == self.workers, f"{self.workers} Spark workers", timeout)
        except BaseException:
            self.stop()
            raise
        log.info("Spark standalone cluster up at %s (%d workers; UI %s)", self.master_url, self.workers, self.master_ui)
        return self.master_url

    def alive_workers(self) -> int:
        return sum(1 for w in self.status().get("workers", []) if w.get("state") == "ALIVE")

    def stop(self) -> None:
        """Stop the workers, then the master; idempotent."""
        for name in sorted(self.pids, key=lambda n: n == "master"):
            terminate(self.pids[name])
        self.pids.clear()
        if self.state_file.exists():
            self.state_file.unlink()

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
                   pids=state["pids"], worker_ui_ports=state["worker_ui_ports"])  # fmt: skip
