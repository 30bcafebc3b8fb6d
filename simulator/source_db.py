"""The operational database (contract 1.1) as a local SQLite file: schema, population load and change writes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

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


def load_population(conn: sqlite3.Connection) -> tuple[list[tuple], dict[int, tuple[str, dict[str, str]]]]:
    """Registrations (ordered by user_id) and each user's current profile: the change with the greatest
    (updated, change_id), as (update_type, profile fields)."""
    registrations = conn.execute(
        "SELECT user_id, device_id, mac_address, registration_timestamp FROM registrations ORDER BY user_id"
    ).fetchall()
    current: dict[int, tuple[float, int, str, dict[str, str]]] = {}
    rows = conn.execute(f"SELECT change_id, user_id, update_type, updated, {', '.join(PROFILE_FIELDS)} "
                        "FROM profile_changes")  # fmt: skip
    for change_id, user_id, update_type, updated, *fields in rows:
        best = current.get(user_id)
        if best is None or (updated, change_id) > (best[0], best[1]):
            current[user_id] = (updated, change_id, update_type, dict(zip(PROFILE_FIELDS, fields, strict=True)))
    return registrations, {uid: (c[2], c[3]) for uid, c in current.items()}


def write_changes(conn: sqlite3.Connection, changes: list[Change]) -> None:
    """Append registrations and profile changes in the given order, in one transaction."""
    if not changes:
        return
    with conn:
        for kind, row in changes:
            conn.execute(INSERT_REGISTRATION if kind == "registration" else INSERT_PROFILE_CHANGE, row)
