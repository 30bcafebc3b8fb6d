"""One settings object, built once from the data contract's environment variables (section 7) and flags."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from core.contract import LOOKBACK_HOURS, TOPICS

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
KAFKA_SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
KAFKA_SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "AWS_MSK_IAM")


class SettingsError(ValueError):
    """A setting has a value the project cannot use."""


def _default_cache_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "wearable-lakehouse"


MIN_VACUUM_RETENTION_HOURS = 1


def _number(env: Mapping[str, str], name: str, unit: str) -> float | None:
    """A finite number from the environment, None when unset or empty."""
    text = (env.get(name) or "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise SettingsError(f"{name}={text!r} is not a number ({unit})")
    return value


def _retention_days(env: Mapping[str, str], name: str) -> float | None:
    """A retention window in days: unset keeps everything; it must be longer than the stream's late-data lookback,
    so that no row a late record still needs is retired."""
    days = _number(env, name, "days; unset keeps everything")
    if days is None:
        return None
    if days <= 0:
        raise SettingsError(f"{name}={days:g}: a retention window must be more than 0 days (unset keeps everything)")
    if days * 24 < LOOKBACK_HOURS:
        raise SettingsError(
            f"{name}={days:g}: {days * 24:g} h is shorter than the stream's late-data lookback of "
            f"{LOOKBACK_HOURS} h (records up to 1 h late, workouts up to 3 h long)"
        )
    return days


@dataclass(frozen=True)
class Settings:
    """Everything a component needs to know about its environment; nothing reads os.environ after this."""

    kafka_bootstrap_servers: str = DEFAULT_BOOTSTRAP
    kafka_external: bool = False  # True when KAFKA_BOOTSTRAP_SERVERS was given: start no broker
    kafka_topic_prefix: str = ""
    source_db_url: str = "data/source.db"
    lakehouse_dir: Path = Path("data/lakehouse")
    checkpoint_dir: Path | None = None
    spark_master: str | None = None
    catalog: str | None = None  # Unity Catalog catalog: tables are `<catalog>.<layer>.<table>` instead of paths
    data_dir: Path = Path("data")
    cache_dir: Path = field(default_factory=lambda: _default_cache_dir(os.environ))
    databricks_server_hostname: str | None = None
    databricks_http_path: str | None = None
    databricks_token: str | None = field(default=None, repr=False)
    # OAuth machine-to-machine (a service principal, e.g. a Databricks App's own): preferred over a long-lived token
    databricks_client_id: str | None = None
    databricks_client_secret: str | None = field(default=None, repr=False)
    # Production connections (lakehouse/connections.py turns these into client options). Unset = the local defaults.
    kafka_security_protocol: str | None = None  # PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL
    kafka_sasl_mechanism: str | None = None  # PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or AWS_MSK_IAM
    kafka_sasl_username: str | None = field(default=None, repr=False)
    kafka_sasl_password: str | None = field(default=None, repr=False)
    kafka_ssl_ca_location: str | None = None  # PEM file of a private CA; public CAs need nothing
    source_db_user: str | None = field(default=None, repr=False)
    source_db_password: str | None = field(default=None, repr=False)
    source_db_writers: int = 1  # concurrent connections the simulator writes the source database through
    secret_scope: str | None = None  # Databricks secret scope holding the credentials not given as env vars
    databricks_runtime_version: str | None = None  # set by Databricks on its clusters
    # Weeks of running (pipeline.maintenance): seconds between maintenance runs in stream mode (0 = none), retention
    # windows in days (None = keep everything), and how long VACUUM keeps files that no table version uses any more
    maintenance_interval: float = 3600.0
    retention_bronze_days: float | None = None
    retention_heart_rate_days: float | None = None
    vacuum_retention_hours: float = 168.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from environment variables (the contract's names), then apply explicit overrides."""
        env = os.environ if env is None else env
        bootstrap = env.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
        prefix = env.get("KAFKA_TOPIC_PREFIX", "")
        if prefix and not all(c.isalnum() or c in "._-" for c in prefix):
            raise SettingsError(f"KAFKA_TOPIC_PREFIX={prefix!r}: only letters, digits, '.', '_' and '-' are allowed")
        checkpoint = env.get("LAKEHOUSE_CHECKPOINT_DIR")
        protocol = (env.get("KAFKA_SECURITY_PROTOCOL") or "").strip().upper() or None
        if protocol and protocol not in KAFKA_SECURITY_PROTOCOLS:
            raise SettingsError(
                f"KAFKA_SECURITY_PROTOCOL={protocol!r}: use one of {', '.join(KAFKA_SECURITY_PROTOCOLS)}"
            )
        mechanism = (env.get("KAFKA_SASL_MECHANISM") or "").strip().upper() or None
        if mechanism and mechanism not in KAFKA_SASL_MECHANISMS:
            raise SettingsError(f"KAFKA_SASL_MECHANISM={mechanism!r}: use one of {', '.join(KAFKA_SASL_MECHANISMS)}")
        writers = env.get("SOURCE_DB_WRITERS") or "1"
        if not writers.isdigit() or int(writers) < 1:
            raise SettingsError(f"SOURCE_DB_WRITERS={writers!r}: give a whole number of connections, 1 or more")
        interval = _number(env, "LAKEHOUSE_MAINTENANCE_INTERVAL", "seconds between maintenance runs, 0 for none")
        if interval is not None and interval < 0:
            raise SettingsError(f"LAKEHOUSE_MAINTENANCE_INTERVAL={interval:g}: give 0 (no maintenance) or more seconds")
        vacuum_hours = _number(env, "LAKEHOUSE_VACUUM_RETENTION_HOURS", "hours")
        if vacuum_hours is not None and vacuum_hours < MIN_VACUUM_RETENTION_HOURS:
            raise SettingsError(
                f"LAKEHOUSE_VACUUM_RETENTION_HOURS={vacuum_hours:g}: VACUUM must keep unused files at "
                f"least {MIN_VACUUM_RETENTION_HOURS} h, longer than any write or read in flight"
            )
        settings = cls(
            kafka_bootstrap_servers=bootstrap or DEFAULT_BOOTSTRAP,
            kafka_external=bool(bootstrap),
            kafka_topic_prefix=prefix,
            source_db_url=env.get("SOURCE_DB_URL") or "data/source.db",
            lakehouse_dir=Path(env.get("LAKEHOUSE_DIR") or "data/lakehouse"),
            checkpoint_dir=Path(checkpoint) if checkpoint else None,
            spark_master=env.get("SPARK_MASTER") or None,
            catalog=env.get("LAKEHOUSE_CATALOG") or None,
            data_dir=Path(env.get("LAKEHOUSE_DATA_DIR") or "data"),
            cache_dir=Path(env["LAKEHOUSE_CACHE_DIR"]) if env.get("LAKEHOUSE_CACHE_DIR") else _default_cache_dir(env),
            databricks_server_hostname=env.get("DATABRICKS_SERVER_HOSTNAME") or None,
            databricks_http_path=env.get("DATABRICKS_HTTP_PATH") or None,
            databricks_token=env.get("DATABRICKS_TOKEN") or None,
            databricks_client_id=env.get("DATABRICKS_CLIENT_ID") or None,
            databricks_client_secret=env.get("DATABRICKS_CLIENT_SECRET") or None,
            kafka_security_protocol=protocol,
            kafka_sasl_mechanism=mechanism,
            kafka_sasl_username=env.get("KAFKA_SASL_USERNAME") or None,
            kafka_sasl_password=env.get("KAFKA_SASL_PASSWORD") or None,
            kafka_ssl_ca_location=env.get("KAFKA_SSL_CA_LOCATION") or None,
            source_db_user=env.get("SOURCE_DB_USER") or None,
            source_db_password=env.get("SOURCE_DB_PASSWORD") or None,
            source_db_writers=int(writers),
            secret_scope=env.get("LAKEHOUSE_SECRET_SCOPE") or None,
            databricks_runtime_version=env.get("DATABRICKS_RUNTIME_VERSION") or None,
            maintenance_interval=3600.0 if interval is None else interval,
            retention_bronze_days=_retention_days(env, "RETENTION_BRONZE_DAYS"),
            retention_heart_rate_days=_retention_days(env, "RETENTION_HEART_RATE_DAYS"),
            vacuum_retention_hours=168.0 if vacuum_hours is None else vacuum_hours,
        )
        return replace(settings, **overrides) if overrides else settings

    def topic(self, name: str) -> str:
        """Full Kafka topic name of one of the contract's topics (`bpm`, `workout`, `gym`)."""
        if name not in TOPICS:
            raise SettingsError(f"unknown topic {name!r}; the contract's topics are {', '.join(TOPICS)}")
        return f"{self.kafka_topic_prefix}{name}"

    @property
    def topics(self) -> dict[str, str]:
        return {name: self.topic(name) for name in TOPICS}

    @property
    def checkpoints(self) -> Path:
        """Root of streaming checkpoints: beside the tables unless set apart."""
        return self.checkpoint_dir or self.lakehouse_dir / "_checkpoints"

    @property
    def source_db_is_jdbc(self) -> bool:
        return self.source_db_url.startswith("jdbc:")

    @property
    def source_db_path(self) -> Path:
        if self.source_db_is_jdbc:
            raise SettingsError(f"SOURCE_DB_URL={self.source_db_url!r} is a JDBC URL, not a local SQLite file")
        return Path(self.source_db_url)

    @property
    def source_jdbc_url(self) -> str:
        """JDBC URL of the source database; a SQLite path becomes `jdbc:sqlite:<absolute path>`."""
        if self.source_db_is_jdbc:
            return self.source_db_url
        return f"jdbc:sqlite:{self.source_db_path.resolve()}"

    @property
    def databricks_oauth(self) -> bool:
        """A service principal's OAuth client id and secret are set (Databricks Apps sets them for the app's own)."""
        return bool(self.databricks_client_id and self.databricks_client_secret)

    @property
    def databricks_configured(self) -> bool:
        return bool(self.databricks_server_hostname and self.databricks_http_path
                    and (self.databricks_token or self.databricks_oauth))  # fmt: skip

    def table_path(self, layer: str, table: str) -> Path:
        """Local Delta location `$LAKEHOUSE_DIR/<layer>/<table>` (contract invariant 4)."""
        return self.lakehouse_dir / layer / table
