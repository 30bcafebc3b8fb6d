"""A real single-node Apache Kafka broker (KRaft) on 127.0.0.1, its jars from Maven Central.

The jars are resolved once with the Ivy jar that ships inside pyspark (no Maven install needed) into the
project's cache directory; the broker's data and log live under `<data_dir>/kafka`.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from core.connections import confluent_kafka_config
from core.service import Service, ServiceError, port_open
from core.settings import Settings

log = logging.getLogger(__name__)

KAFKA_VERSION = "4.1.1"
SCALA_VERSION = "2.13"
LOG4J_VERSION = "2.24.3"
DEFAULT_PARTITIONS = 2


class BrokerError(RuntimeError):
    """The local broker cannot be installed, started or reached; the message is one line for the user."""


def _ivy_jar() -> Path:
    import pyspark

    jars = sorted((Path(pyspark.__file__).parent / "jars").glob("ivy-*.jar"))
    if not jars:
        raise BrokerError("pyspark's bundled Ivy jar was not found; reinstall requirements.txt")
    return jars[-1]


def java_executable() -> str:
    """Path of a Java 17+ runtime, or a one-line error."""
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java or not Path(java).exists():
        raise BrokerError("Java 17 or newer is needed for Kafka and Spark, but no `java` was found on PATH")
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    match = re.search(r'version "(\d+)', out)
    if not match or int(match.group(1)) < 17:
        raise BrokerError(f"Java 17 or newer is needed; `{java} -version` says: {out.splitlines()[0] if out else '?'}")
    return java


_IVY_XML = """<ivy-module version="2.0">
  <info organisation="local" module="wearable-lakehouse-kafka"/>
  <dependencies>
    <dependency org="org.apache.kafka" name="kafka_{scala}" rev="{kafka}" conf="default"/>
    <dependency org="org.apache.kafka" name="kafka-tools" rev="{kafka}" conf="default"/>
    <dependency org="org.apache.logging.log4j" name="log4j-slf4j-impl" rev="{log4j}" conf="default"/>
  </dependencies>
</ivy-module>
"""


def ensure_kafka_jars(cache_dir: Path) -> Path:
    """Resolve Kafka's jars from Maven Central once; return the directory holding them."""
    lib = cache_dir / f"kafka_{SCALA_VERSION}-{KAFKA_VERSION}" / "lib"
    if (lib / ".complete").exists():
        return lib
    lib.mkdir(parents=True, exist_ok=True)
    with open(lib.parent / ".lock", "w") as lock:  # one download at a time, across processes
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (lib / ".complete").exists():
            _download_kafka_jars(lib, cache_dir)
    return lib


def _download_kafka_jars(lib: Path, cache_dir: Path) -> None:
    java = java_executable()
    ivy_xml = lib.parent / "ivy.xml"
    ivy_xml.write_text(_IVY_XML.format(scala=SCALA_VERSION, kafka=KAFKA_VERSION, log4j=LOG4J_VERSION))
    log.info("downloading Apache Kafka %s jars from Maven Central into %s (first run only)", KAFKA_VERSION, lib)
    cmd = [
        java, "-jar", str(_ivy_jar()), "-ivy", str(ivy_xml), "-confs", "default",
        "-cache", str(cache_dir / "ivy" / "cache"),
        "-retrieve", str(lib / "[artifact]-[revision](-[classifier]).[ext]"),
    ]  # fmt: skip
    for attempt in range(3):  # Maven Central occasionally drops a connection mid-resolution
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode == 0 and any(lib.glob("kafka_*.jar")):
            (lib / ".complete").write_text(KAFKA_VERSION)
            return
        log.warning("Kafka jar download attempt %d failed", attempt + 1)
    problems = [ln.strip() for ln in (proc.stdout + proc.stderr).splitlines() if "not found" in ln or "FAILED" in ln]
    raise BrokerError(f"could not download Kafka {KAFKA_VERSION} from Maven Central: {'; '.join(problems[:3])}")


@dataclass
class LocalBroker:
    """One KRaft broker+controller process; its state lives in `data_dir`."""

    data_dir: Path
    cache_dir: Path
    port: int = 9092
    controller_port: int = 9093
    host: str = "127.0.0.1"
    heap: str = "512m"
    sasl_users: dict[str, str] | None = None  # user -> password: clients must sign in with SASL/PLAIN (no TLS)

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalBroker:
        host, _, port = settings.kafka_bootstrap_servers.partition(":")
        return cls(data_dir=settings.data_dir / "kafka", cache_dir=settings.cache_dir, host=host or "127.0.0.1",
                   port=int(port or 9092), controller_port=int(port or 9092) + 1)  # fmt: skip

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def service(self) -> Service:
        """The broker's JVM: `<data_dir>/broker.pid` and `broker.log`."""
        return Service("broker", self.data_dir, stop_timeout=30.0)

    @property
    def pid_file(self) -> Path:
        return self.service.pid_file

    @property
    def log_file(self) -> Path:
        return self.service.log_file

    def pid(self) -> int | None:
        return self.service.pid()

    def is_running(self) -> bool:
        return self.pid() is not None and port_open(self.host, self.port)

    def _write_config(self) -> Path:
        logs = (self.data_dir / "logs").resolve()
        listener = "SASL_PLAINTEXT" if self.sasl_users else "PLAINTEXT"
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{self.host}:{self.controller_port}",
            "listeners": f"{listener}://{self.host}:{self.port},CONTROLLER://{self.host}:{self.controller_port}",
            "advertised.listeners": f"{listener}://{self.host}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": listener,
            "listener.security.protocol.map": f"CONTROLLER:PLAINTEXT,{listener}:{listener}",
            "log.dirs": str(logs),
            "num.partitions": str(DEFAULT_PARTITIONS),
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
            "log.retention.hours": "-1",
        }
        if self.sasl_users:
            admin, password = next(iter(self.sasl_users.items()))  # the first user also signs the broker in to itself
            users = " ".join(f'user_{u}="{p}"' for u, p in self.sasl_users.items())
            props.update({
                "sasl.enabled.mechanisms": "PLAIN",
                "sasl.mechanism.inter.broker.protocol": "PLAIN",
                "listener.name.sasl_plaintext.plain.sasl.jaas.config":
                    f'org.apache.kafka.common.security.plain.PlainLoginModule required username="{admin}" '
                    f'password="{password}" {users};',
            })  # fmt: skip
        config = self.data_dir / "server.properties"
        config.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        log4j = self.data_dir / "log4j2.properties"
        log4j.write_text(
            "rootLogger.level = WARN\nrootLogger.appenderRef.stdout.ref = STDOUT\n"
            "appender.stdout.type = Console\nappender.stdout.name = STDOUT\n"
            "appender.stdout.layout.type = PatternLayout\nappender.stdout.layout.pattern = [%d] %p %m (%c)%n\n"
            "logger.kafka.name = kafka.server.KafkaRaftServer\nlogger.kafka.level = INFO\n"
        )
        return config

    def _java_cmd(self, main: str, *args: str) -> list[str]:
        lib = ensure_kafka_jars(self.cache_dir)
        return [
            java_executable(), f"-Xmx{self.heap}", "-Xms128m", "-XX:+UseG1GC", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={(self.data_dir / 'log4j2.properties').resolve()}",
            "-cp", f"{lib}/*", main, *args,
        ]  # fmt: skip

    def start(self, timeout: float = 90.0) -> str:
        """Start the broker (or reuse the running one) and return its bootstrap address."""
        if self.is_running():
            log.info("Kafka broker already running at %s (pid %s)", self.bootstrap, self.pid())
            return self.bootstrap
        for port in (self.port, self.controller_port):
            if port_open(self.host, port):
                raise BrokerError(f"port {self.host}:{port} is already in use by another process; free it or set "
                                  "KAFKA_BOOTSTRAP_SERVERS to use an existing cluster")  # fmt: skip
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        if not (self.data_dir / "logs" / "meta.properties").exists():
            cluster_id = _kafka_cluster_id()
            fmt = subprocess.run(self._java_cmd("kafka.tools.StorageTool", "format", "-t", cluster_id,
                                                "-c", str(config), "--ignore-formatted"),
                                 capture_output=True, text=True)  # fmt: skip
            if fmt.returncode != 0:
                raise BrokerError(f"formatting Kafka storage failed: {(fmt.stderr or fmt.stdout).strip()[-300:]}")
        try:
            pid = self.service.start(self._java_cmd("kafka.Kafka", str(config)), timeout=timeout,
                                     ready=lambda: port_open(self.host, self.port)
                                     and _metadata_ok(self.bootstrap, self.client_config()))  # fmt: skip
        except ServiceError as exc:
            raise BrokerError(f"Kafka {exc}") from exc
        log.info("Kafka broker %s up at %s (pid %s)", KAFKA_VERSION, self.bootstrap, pid)
        return self.bootstrap

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the broker cleanly (SIGTERM, then SIGKILL after `timeout`); False if none was running."""
        return self.service.stop(timeout=timeout)

    def client_config(self) -> dict[str, str]:
        """What a confluent-kafka client needs to reach this broker (the first SASL user's sign-in, if any)."""
        if not self.sasl_users:
            return {"bootstrap.servers": self.bootstrap}
        user, password = next(iter(self.sasl_users.items()))
        return {"bootstrap.servers": self.bootstrap, "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
                "sasl.username": user, "sasl.password": password}  # fmt: skip

    def status(self) -> dict[str, object]:
        pid = self.pid()
        return {"bootstrap": self.bootstrap, "pid": pid, "running": self.is_running(), "data_dir": str(self.data_dir),
                "log": str(self.log_file), "version": KAFKA_VERSION}  # fmt: skip


def _kafka_cluster_id() -> str:
    import base64

    while True:  # as Kafka's own Uuid.randomUuid: an id starting with '-' would read as an option on the command line
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _metadata_ok(bootstrap: str, client_config: Mapping[str, str] | None = None) -> bool:
    from confluent_kafka.admin import AdminClient

    try:
        AdminClient({"bootstrap.servers": bootstrap, **(client_config or {})}).list_topics(timeout=2)
        return True
    except Exception:  # noqa: BLE001 - any failure means "not ready yet"
        return False


def topic_config(settings: Settings) -> dict[str, str]:
    """Configuration of the contract's topics: with a bronze retention window, Kafka keeps records as long as bronze
    keeps their rows (`retention.ms`; both count from the record's Kafka timestamp), so bronze rebuilt from Kafka
    holds what bronze holds. Without one, the cluster's default (the local broker keeps everything)."""
    if settings.retention_bronze_days is None:
        return {}
    return {"retention.ms": str(round(settings.retention_bronze_days * 86_400_000))}


def create_topics(bootstrap: str, topics: list[str], partitions: int = DEFAULT_PARTITIONS,
                  client_config: Mapping[str, str] | None = None,
                  config: Mapping[str, str] | None = None) -> list[str]:  # fmt: skip
    """Create the topics that do not exist yet, with topic `config` (see `topic_config`); return the names created.
    Existing topics keep their configuration.

    `client_config` is the full confluent-kafka configuration (SASL/SSL included, see
    `core.connections.confluent_kafka_config`); without it the cluster is reached in plaintext. New topics take
    the cluster's default replication factor (1 on the local broker, 3 on managed clusters).
    """
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap, **(client_config or {})})
    try:
        existing = set(admin.list_topics(timeout=15).topics)
    except Exception as exc:  # noqa: BLE001
        raise BrokerError(f"Kafka at {bootstrap} is not reachable: {exc}") from exc
    missing = [t for t in topics if t not in existing]
    if not missing:
        return []
    new = [NewTopic(t, num_partitions=partitions, replication_factor=-1, config=dict(config or {})) for t in missing]
    futures = admin.create_topics(new)
    created = []
    for topic, future in futures.items():
        try:
            future.result(timeout=30)
            created.append(topic)
        except Exception as exc:  # noqa: BLE001
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise BrokerError(f"could not create topic {topic}: {exc}") from exc
    return created


def ensure_kafka(settings: Settings) -> str:
    """Start the local broker unless KAFKA_BOOTSTRAP_SERVERS names a cluster; create the contract's topics."""
    if settings.kafka_external:
        log.info("using the Kafka cluster at %s (KAFKA_BOOTSTRAP_SERVERS); starting no broker",
                 settings.kafka_bootstrap_servers)  # fmt: skip
        bootstrap = settings.kafka_bootstrap_servers
    else:
        bootstrap = LocalBroker.from_settings(settings).start()
    create_topics(bootstrap, list(settings.topics.values()), client_config=confluent_kafka_config(settings),
                  config=topic_config(settings))  # fmt: skip
    return bootstrap
