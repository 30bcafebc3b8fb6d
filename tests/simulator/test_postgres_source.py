"""The simulator on a PostgreSQL source database: the same rows as on SQLite, through one or several concurrent
connections, and bad connections as one line with nothing written."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import psycopg
import pytest

from core.service import free_port
from simulator.config import ConfigError, SimulatorConfig
from simulator.engine import run_history, run_live
from simulator.source_pg import PostgresSource, transactions
from tests.simulator.helpers import run
from tests.simulator.test_cli import assert_one_line_error

END = 1_764_000_000.0  # a fixed "now" so runs are comparable
TABLES = {"registrations": "user_id", "profile_changes": "change_id"}


def pg_rows(conninfo: str, table: str) -> list[tuple]:
    with psycopg.connect(conninfo) as conn:
        return conn.execute(f"SELECT * FROM {table} ORDER BY {TABLES[table]}").fetchall()


def sqlite_rows(path, table: str) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT * FROM {table} ORDER BY {TABLES[table]}").fetchall()


def assert_same_rows(settings, postgres_db) -> None:
    for table in TABLES:
        assert pg_rows(postgres_db.conninfo, table) == sqlite_rows(settings.source_db_path, table), table


def test_history_and_its_continuation_write_the_same_rows_as_into_sqlite(settings, postgres_db):
    on_pg = replace(settings, **postgres_db.settings_overrides())
    config = SimulatorConfig(members=40, seed=5, rest_interval=0, profile_update_rate=0.3)
    for target in (settings, on_pg):
        run_history(target, config, days=2, end=END, progress=False)
    assert_same_rows(settings, postgres_db)
    assert len(pg_rows(postgres_db.conninfo, "profile_changes")) > 40  # updates, not only the `new` rows

    # a second run starts from each database's population: same members, profiles and next keys
    bigger = replace(config, members=45)
    for target in (settings, on_pg):
        run_history(target, bigger, days=1, end=END + 86_400, progress=False)
    assert_same_rows(settings, postgres_db)
    assert len(pg_rows(postgres_db.conninfo, "registrations")) >= 45


def test_concurrent_writers_write_every_row_once_and_commit_lower_keys_after_higher_ones(settings, postgres_db):
    on_pg = replace(settings, **postgres_db.settings_overrides(), source_db_writers=3)
    config = SimulatorConfig(members=60, seed=9, rest_interval=0, profile_update_rate=0.5)
    for target in (settings, on_pg):
        run_history(target, config, days=3, end=END, progress=False)
    assert_same_rows(settings, postgres_db)  # every row once, with the keys a single writer gives

    with psycopg.connect(postgres_db.conninfo) as conn:
        committed = conn.execute("SELECT change_id, xmin::text::bigint, pg_xact_commit_timestamp(xmin) "
                                 "FROM profile_changes ORDER BY change_id").fetchall()  # fmt: skip
    assert len({xid for _, xid, _ in committed}) > 3 * 4  # several transactions per batch
    late = [(a, b) for a, b in zip(committed, committed[1:], strict=False) if a[2] > b[2]]
    assert late, "no lower key became visible after a higher one"


def test_live_writes_its_registrations_and_changes_through_two_writers(settings, postgres_db):
    on_pg = replace(settings, **postgres_db.settings_overrides(), source_db_writers=2)
    config = SimulatorConfig(members=30, seed=4, rest_interval=0, profile_update_rate=0.9)
    run_history(on_pg, config, days=1, end=END, progress=False)
    before = pg_rows(postgres_db.conninfo, "profile_changes")
    registered = len(pg_rows(postgres_db.conninfo, "registrations"))

    stats = run_live(on_pg, replace(config, members=35), speed=86_400.0, duration=2.0)

    after = pg_rows(postgres_db.conninfo, "profile_changes")
    assert after[: len(before)] == before
    # the five members the bigger population adds, and any new member the simulated days brought (a few per
    # thousand members a day, drawn per simulated day: whether one comes depends on the day the test runs)
    assert stats.registrations >= 5
    assert len(after) - len(before) == stats.profile_changes > 5
    assert [row[0] for row in after] == list(range(1, len(after) + 1))  # no key lost, none twice
    assert len(pg_rows(postgres_db.conninfo, "registrations")) == registered + stats.registrations


def test_a_batch_is_cut_into_consecutive_parts_keeping_a_registration_with_its_first_profile():
    changes = [("registration", (1, 11, "m1", 1.0)), ("profile", (1, "new", 1.0)),
               ("profile", (7, "update", 2.0)), ("registration", (2, 12, "m2", 3.0)), ("profile", (2, "new", 3.0)),
               ("profile", (7, "delete", 4.0))]  # fmt: skip
    assert transactions(changes, 3) == [changes[:2], changes[2:5], changes[5:]]
    assert transactions(changes, 2) == [changes[:3], changes[3:]]
    assert transactions(changes, 1) == [changes]
    assert transactions(changes[:2], 4) == [changes[:2]] and transactions([], 2) == []


def test_an_unreachable_server_is_one_line_and_the_run_stops_before_kafka(settings):
    down = replace(settings, source_db_url=f"jdbc:postgresql://127.0.0.1:{free_port()}/lakehouse",
                   source_db_user="lake", source_db_password="not-a-secret-anyone-uses")  # fmt: skip
    result = run(down, "history", "--days", "1", "--members", "5", "--no-progress")
    assert_one_line_error(result, "source database", "Connection refused")
    assert "not-a-secret" not in result.stderr


def test_a_wrong_password_is_one_line_without_the_password_and_writes_nothing(settings, postgres_db):
    wrong = replace(settings, **{**postgres_db.settings_overrides(), "source_db_password": "wrong-password-1234"})
    result = run(wrong, "history", "--days", "1", "--members", "5", "--no-progress")
    assert_one_line_error(result, "password authentication failed", postgres_db.jdbc_url)
    assert "wrong-password-1234" not in result.stderr
    with psycopg.connect(postgres_db.conninfo) as conn:
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == (0,)


def test_a_password_in_the_url_is_used_and_never_shown(settings, postgres_db):
    in_url = replace(settings, source_db_url=f"{postgres_db.jdbc_url}?user={postgres_db.user}&password=nope-42")
    with pytest.raises(ConfigError, match="password authentication failed") as failed:
        PostgresSource.connect(in_url)
    assert "nope-42" not in str(failed.value)
    right = replace(in_url, source_db_url=f"{postgres_db.jdbc_url}?user={postgres_db.user}"
                    f"&password={postgres_db.password}")  # fmt: skip
    PostgresSource.connect(right).close()


def test_a_table_dropped_under_a_run_fails_the_batch_with_nothing_of_it_written(settings, postgres_db):
    source = PostgresSource.connect(replace(settings, **postgres_db.settings_overrides(), source_db_writers=2))
    try:
        with psycopg.connect(postgres_db.conninfo, autocommit=True) as conn:
            conn.execute("DROP TABLE profile_changes")
        batch = [("registration", (1, 11, "aa:bb:cc:dd:ee:01", 1.0)), ("profile", (1, "new", 1.0, *[None] * 9)),
                 ("registration", (2, 12, "aa:bb:cc:dd:ee:02", 2.0))]  # fmt: skip
        with pytest.raises(ConfigError, match='relation "profile_changes" does not exist'):
            source.write_changes(batch)
    finally:
        source.close()
    assert pg_rows(postgres_db.conninfo, "registrations") == []


def test_a_table_without_a_contract_column_is_one_line(settings, postgres_db):
    with psycopg.connect(postgres_db.conninfo, autocommit=True) as conn:
        conn.execute("CREATE TABLE registrations (user_id BIGINT PRIMARY KEY, device_id BIGINT, mac_address TEXT)")
    with pytest.raises(ConfigError, match="table registrations has no column registration_timestamp"):
        PostgresSource.connect(replace(settings, **postgres_db.settings_overrides()))
