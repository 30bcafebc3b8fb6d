"""Small helpers shared by tests: a source database with the contract's tables, and a plain Kafka producer."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from confluent_kafka import Producer

REGISTRATIONS_DDL = """CREATE TABLE IF NOT EXISTS registrations (
    user_id INTEGER PRIMARY KEY, device_id INTEGER NOT NULL, mac_address TEXT NOT NULL,
    registration_timestamp REAL NOT NULL)"""
PROFILE_CHANGES_DDL = """CREATE TABLE IF NOT EXISTS profile_changes (
    change_id INTEGER PRIMARY KEY AUTOINCREMENT, user_id INTEGER NOT NULL, update_type TEXT NOT NULL,
    updated REAL NOT NULL, dob TEXT, sex TEXT, gender TEXT, first_name TEXT, last_name TEXT,
    street_address TEXT, city TEXT, state TEXT, zip TEXT)"""


def write_registrations(db: Path, rows: list[tuple[int, int, str, float]]) -> None:
    db.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(db) as conn:
        conn.execute(REGISTRATIONS_DDL)
        conn.execute(PROFILE_CHANGES_DDL)
        conn.executemany("INSERT INTO registrations VALUES (?, ?, ?, ?)", rows)


def write_profile_changes(db: Path, rows: list[tuple]) -> None:
    """Append profile changes in the given order: (user_id, update_type, updated, dob, sex, gender, first_name,
    last_name, street_address, city, state, zip); change_id is assigned increasing, as by the source system."""
    with sqlite3.connect(db) as conn:
        conn.execute(PROFILE_CHANGES_DDL)
        conn.executemany(
            "INSERT INTO profile_changes (user_id, update_type, updated, dob, sex, gender, first_name, last_name, "
            "street_address, city, state, zip) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def produce(bootstrap: str, records: list[tuple[str, str, object]]) -> None:
    """Send (topic, key, value) records in order; a dict value is sent as JSON, a str as it is."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    errors: list[str] = []
    for topic, key, value in records:
        payload = value if isinstance(value, str) else json.dumps(value)
        producer.produce(topic, key=key.encode(), value=payload.encode(),
                         on_delivery=lambda err, _msg: err and errors.append(str(err)))  # fmt: skip
        producer.poll(0)
    assert producer.flush(30) == 0, "records still undelivered after 30 s"
    assert not errors, errors
