"""One settings object, built once from the data contract's environment variables (section 7) and flags."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
TOPICS = ("bpm", "workout", "gym")


class SettingsError(ValueError):
    """A setting has a value the project cannot use."""


def _default_cache_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "wearable-lakehouse"


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

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from environment variables (the contract's names), then apply explicit overrides."""
        env = os.environ if env is None else env
        bootstrap = env.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
        prefix = env.get("KAFKA_TOPIC_PREFIX", "")
        if prefix and not all(c.isalnum() or c in "._-" for c in prefix):
            raise SettingsError(f"KAFKA_TOPIC_PREFIX={prefix!r}: only letters, digits, '.', '_' and '-' are allowed")
        checkpoint = env.get("LAKEHOUSE_CHECKPOINT_DIR")
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
    def databricks_configured(self) -> bool:
        return bool(self.databricks_server_hostname and self.databricks_http_path and self.databricks_token)

    def table_path(self, layer: str, table: str) -> Path:
        """Local Delta location `$LAKEHOUSE_DIR/<layer>/<table>` (contract invariant 4)."""
        return self.lakehouse_dir / layer / table
