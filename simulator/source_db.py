"""The operational database (contract 1.1): the SQLite file (the local default) here, PostgreSQL in source_pg.py;
`open_source` picks one from SOURCE_DB_URL, and both give the simulator the same rows."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from core.connections import redact
from core.settings import Settings
from simulator.config import ConfigError
from simulator.population import PROFILE_FIELDS

SCHEMA = """
CREATE TABLE IF NOT EXISTS registrations (
    user_id INTEGER PRIMARY KEY,
    device_id INTEGER NOT NULL,
    mac_address TEXT NOT NULL,
    registration_timestamp REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS profile_changes (
    change_id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL,
    update_type TEXT NOT NULL,
    updated REAL NOT NULL,
    dob TEXT,
    sex TEXT,
    gender TEXT,
    first_name TEXT,
    last_name TEXT,
    street_address TEXT,
    city TEXT,
    state TEXT,
    zip TEXT
);
"""
INSERT_REGISTRATION = (
    "INSERT INTO registrations (user_id, device_id, mac_address, registration_timestamp) VALUES (?, ?, ?, ?)"
)
INSERT_PROFILE_CHANGE = (
    f"INSERT INTO profile_changes (user_id, update_type, updated, {', '.join(PROFILE_FIELDS)}) "
    f"VALUES (?, ?, ?, {', '.join('?' * len(PROFILE_FIELDS))})"
)

# A row to write: ("registration", (user_id, device_id, mac, ts)) or ("profile", (user_id, type, updated, *fields))
Change = tuple[str, tuple]
# Registrations (ordered by user_id) and each user's current (update_type, profile fields)
Population = tuple[list[tuple], dict[int, tuple[str, dict[str, str]]]]


class SourceDb(Protocol):
    """What the simulator needs of the operational database, whichever it is."""

    def load_population(self) -> Population: ...

    def write_changes(self, changes: list[Change]) -> None: ...

    def close(self) -> None: ...


def open_source_db(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) the source database and its two tables; a one-line ConfigError if not writable."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=30)
        conn.executescript(SCHEMA)
        conn.execute("BEGIN IMMEDIATE")
        conn.rollback()
    except (OSError, sqlite3.Error) as exc:
        raise ConfigError(f"the source database {path} is not writable: {exc}") from exc
    return conn


def current_population(registrations: list[tuple], changes: Iterable[tuple]) -> Population:
    """Registrations as given and each user's current profile from rows (change_id, user_id, update_type, updated,
    *profile fields): the change with the greatest (updated, change_id)."""
    current: dict[int, tuple[float, int, str, dict[str, str]]] = {}
    for change_id, user_id, update_type, updated, *fields in changes:
        best = current.get(user_id)
        if best is None or (updated, change_id) > (best[0], best[1]):
            current[user_id] = (updated, change_id, update_type, dict(zip(PROFILE_FIELDS, fields, strict=True)))
    return [tuple(r) for r in registrations], {uid: (c[2], c[3]) for uid, c in current.items()}


def load_population(conn: sqlite3.Connection) -> Population:
    """Registrations (ordered by user_id) and each user's current profile, from a SQLite connection."""
    registrations = conn.execute(
        "SELECT user_id, device_id, mac_address, registration_timestamp FROM registrations ORDER BY user_id"
    ).fetchall()
    rows = conn.execute(f"SELECT change_id, user_id, update_type, updated, {', '.join(PROFILE_FIELDS)} "
                        "FROM profile_changes")  # fmt: skip
    return current_population(registrations, rows)


def write_changes(conn: sqlite3.Connection, changes: list[Change]) -> None:
    """Append registrations and profile changes in the given order, in one transaction."""
    if not changes:
        return
    with conn:
        for kind, row in changes:
            conn.execute(INSERT_REGISTRATION if kind == "registration" else INSERT_PROFILE_CHANGE, row)


class SqliteSource:
    """The SQLite file as a SourceDb: one connection, one transaction per batch (SQLite has one writer at a time)."""

    def __init__(self, path: Path) -> None:
        self.conn = open_source_db(path)

    def load_population(self) -> Population:
        return load_population(self.conn)

    def write_changes(self, changes: list[Change]) -> None:
        write_changes(self.conn, changes)

    def close(self) -> None:
        self.conn.close()


def open_source(settings: Settings) -> SourceDb:
    """The source database SOURCE_DB_URL names: a SQLite file, or PostgreSQL (`jdbc:postgresql://...`) written
    through `settings.source_db_writers` connections; a one-line ConfigError for anything else."""
    if not settings.source_db_is_jdbc:
        return SqliteSource(settings.source_db_path)
    if settings.source_db_url.lower().startswith("jdbc:postgresql:"):
        from simulator.source_pg import PostgresSource

        return PostgresSource.connect(settings)
    raise ConfigError(f"the simulator writes a SQLite file or PostgreSQL (jdbc:postgresql://...), not "
                      f"SOURCE_DB_URL={redact(settings.source_db_url)}")  # fmt: skip


def holds_history(settings: Settings) -> bool:
    """Whether the source database already holds members: a SQLite file that exists, a PostgreSQL database whose
    registrations table has a row (False for any other database: `up` loads history into it)."""
    if not settings.source_db_is_jdbc:
        return settings.source_db_path.exists()
    if not settings.source_db_url.lower().startswith("jdbc:postgresql:"):
        return False
    from simulator.source_pg import has_registrations

    return has_registrations(settings)
