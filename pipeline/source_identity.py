"""Which source database a lakehouse is loaded from. Bronze takes each source table's rows insert-only by key, so the
rows of a second database whose keys bronze already holds would be dropped without a word: the first load records
its source beside the stream checkpoints (`<checkpoints>/bronze_source/source.json`), and an ingest from any other
database stops with one line before it writes anything. No Spark here: the local stack checks before it starts."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from core.connections import redact
from core.settings import Settings
from pipeline.errors import PipelineError

RECORD_DIR = "bronze_source"  # a checkpoint name: the record sits where the watermarks of its tables do


def source_kind(jdbc_url: str) -> str:
    """`sqlite`, `postgresql`, or another JDBC subprotocol."""
    return jdbc_url.split(":", 2)[1]


@dataclass(frozen=True)
class SourceIdentity:
    kind: str
    key: str  # what tells this database from another of the same kind
    shown: str  # the database as its user knows it: a path, or a JDBC URL without properties or credentials

    def same_database(self, other: SourceIdentity) -> bool:
        return (self.kind, self.key) == (other.kind, other.key)


def sqlite_identity(settings: Settings, checkpoints: Path) -> SourceIdentity:
    """A SQLite file by its path relative to the checkpoints, so that a data folder holding both can be moved."""
    path = settings.source_db_path.resolve()
    return SourceIdentity("sqlite", os.path.relpath(path, checkpoints.resolve()), str(path))


def jdbc_identity(settings: Settings, server_key: str | None = None) -> SourceIdentity:
    """A server database by `server_key` when the server names itself (PostgreSQL: its system identifier and the
    database's name, the same whatever host name or port reaches it), otherwise by its URL."""
    base = redact(settings.source_jdbc_url.split("?", 1)[0].split(";", 1)[0])
    return SourceIdentity(source_kind(base), server_key or base, base)


class SourceRecord:
    """The lakehouse's recorded source, as a JSON file replaced atomically."""

    def __init__(self, checkpoint_dir: str | Path) -> None:
        self.path = Path(checkpoint_dir) / "source.json"

    def load(self) -> SourceIdentity | None:
        try:
            return SourceIdentity(**json.loads(self.path.read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as exc:
            raise PipelineError(f"the lakehouse's source record {self.path} is unreadable ({exc}); it names the "
                                "database bronze was loaded from: restore it, or delete it if the source "
                                "database is that one") from exc  # fmt: skip

    def check(self, current: SourceIdentity) -> SourceIdentity | None:
        """The recorded source (None: none yet); one line raised when it is another database than `current`."""
        recorded = self.load()
        if recorded is not None and not recorded.same_database(current):
            raise PipelineError(
                f"this lakehouse was loaded from another source database ({recorded.kind} {recorded.shown}) than the "
                f"one configured now ({current.kind} {current.shown}); bronze would silently drop the new one's rows "
                "whose keys it already holds. Point SOURCE_DB_URL back at the first database, or give this one a "
                "lakehouse of its own (LAKEHOUSE_DIR)"
            )
        return recorded

    def check_kind(self, kind: str, shown: str) -> None:
        """`check` by the kind of database alone, for a stack about to start a server it has no identity of yet."""
        recorded = self.load()
        if recorded is not None and recorded.kind != kind:
            self.check(SourceIdentity(kind, "", shown))

    def save(self, identity: SourceIdentity) -> None:
        write_atomically(self.path, json.dumps(asdict(identity)))


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` all at once (a temporary file, fsync, rename): a crash leaves the old or the new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
