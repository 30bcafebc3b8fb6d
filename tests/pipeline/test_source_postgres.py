"""The incremental source ingest on a real PostgreSQL server with concurrent transactions held open across bronze
runs: exact bronze rows, nothing lost and nothing doubled (pipeline.source_ingest)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import psycopg
import pytest

from core.contract import PROFILE_CHANGES_BZ, REGISTERED_USERS_BZ
from core.service import free_port
from core.settings import Settings
from pipeline.bronze import ingest_sources
from pipeline.errors import PipelineError
from pipeline.run_state import StageRun
from pipeline.source_ingest import WatermarkStore, plan_source_ingest
from pipeline.storage import Lakehouse
from simulator.source_pg import SCHEMA


@pytest.fixture
def lh(spark, postgres_db, tmp_path) -> Lakehouse:
    """A lakehouse with empty bronze source tables over a fresh database holding the two empty source tables."""
    with psycopg.connect(postgres_db.conninfo, autocommit=True) as conn:
        for statement in SCHEMA:
            conn.execute(statement)
    settings = Settings.from_env({}, lakehouse_dir=tmp_path / "lakehouse", data_dir=tmp_path / "data",
                                 **postgres_db.settings_overrides())  # fmt: skip
    lakehouse = Lakehouse(spark, settings)
    for table in (REGISTERED_USERS_BZ, PROFILE_CHANGES_BZ):
        lakehouse.ensure(table)
    return lakehouse


@pytest.fixture
def connect(postgres_db):
    """Open psycopg connections (a transaction starts at the first statement); all closed at the end."""
    opened: list[psycopg.Connection] = []

    def open_one() -> psycopg.Connection:
        opened.append(psycopg.connect(postgres_db.conninfo))
        return opened[-1]

    yield open_one
    for conn in opened:
        conn.close()


def ingest(lh: Lakehouse) -> None:
    ingest_sources(StageRun(lh))


def add_change(conn: psycopg.Connection, user_id: int, commit: bool = True) -> int:
    """A profile change with a key from the identity; the key."""
    (key,) = conn.execute("INSERT INTO profile_changes (user_id, update_type, updated) VALUES (%s, 'new', 0) "
                          "RETURNING change_id", (user_id,)).fetchone()  # fmt: skip
    if commit:
        conn.commit()
    return key


def add_registration(conn: psycopg.Connection, user_id: int, commit: bool = True) -> None:
    conn.execute("INSERT INTO registrations VALUES (%s, %s, 'aa:bb:cc:dd:ee:ff', 0)", (user_id, 1000 + user_id))
    if commit:
        conn.commit()


def bronze_changes(lh: Lakehouse) -> list[tuple[int, int]]:
    """(change_id, user_id) of every bronze profile change, duplicates kept."""
    return sorted((r.change_id, r.user_id) for r in lh.read(PROFILE_CHANGES_BZ).collect())


def bronze_users(lh: Lakehouse) -> list[int]:
    return sorted(r.user_id for r in lh.read(REGISTERED_USERS_BZ).collect())


def test_a_lower_key_committed_after_a_higher_one_is_ingested_once(lh, connect):
    late, early = connect(), connect()
    assert add_change(late, user_id=1, commit=False) == 1
    assert add_change(early, user_id=2) == 2
    ingest(lh)
    assert bronze_changes(lh) == [(2, 2)]

    late.commit()  # key 1 becomes visible after key 2 was ingested
    ingest(lh)
    assert bronze_changes(lh) == [(1, 1), (2, 2)]
    ingest(lh)
    assert bronze_changes(lh) == [(1, 1), (2, 2)]


def test_a_transaction_open_across_several_runs_is_ingested_when_it_commits(lh, connect):
    long_open, writer = connect(), connect()
    add_registration(long_open, 1, commit=False)
    add_change(long_open, user_id=1, commit=False)
    for user in (2, 3, 4):
        add_registration(writer, user)
        add_change(writer, user_id=user)
        ingest(lh)
    assert bronze_users(lh) == [2, 3, 4]
    assert bronze_changes(lh) == [(2, 2), (3, 3), (4, 4)]

    long_open.commit()
    add_change(writer, user_id=5)
    ingest(lh)
    ingest(lh)
    assert bronze_users(lh) == [1, 2, 3, 4]
    assert bronze_changes(lh) == [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)]
    assert WatermarkStore(lh, "profile_changes").load().settled == 5  # nothing open any more: all settled


def test_a_rolled_back_insert_and_gaps_in_the_keys_lose_nothing_and_do_not_hold_the_watermark(lh, connect):
    rolled_back, writer = connect(), connect()
    add_change(rolled_back, user_id=1, commit=False)
    add_change(writer, user_id=2)
    ingest(lh)
    rolled_back.rollback()  # key 1 never appears
    writer.execute("SELECT setval(pg_get_serial_sequence('profile_changes', 'change_id'), 10)")
    add_change(writer, user_id=11)  # keys 3..10 skipped
    ingest(lh)
    assert bronze_changes(lh) == [(2, 2), (11, 11)]
    assert WatermarkStore(lh, "profile_changes").load().settled == 11
    add_change(writer, user_id=12)
    ingest(lh)
    assert bronze_changes(lh) == [(2, 2), (11, 11), (12, 12)]


def test_a_key_drawn_before_its_transaction_wrote_anything_is_not_lost(lh, connect):
    """nextval gives a transaction no transaction id: a snapshot's list of running xids does not show it, so waiting
    for those alone would settle key 1 before its row commits."""
    slow, writer = connect(), connect()
    for _ in range(40):  # a nextval that writes the sequence's WAL (one in 32) takes an xid: draw again
        (key,) = slow.execute("SELECT nextval(pg_get_serial_sequence('profile_changes', 'change_id'))").fetchone()
        if slow.execute("SELECT pg_current_xact_id_if_assigned()").fetchone() == (None,):
            break
        slow.rollback()
    assert slow.execute("SELECT pg_current_xact_id_if_assigned()").fetchone() == (None,)
    add_change(writer, user_id=2)
    ingest(lh)
    slow.execute("INSERT INTO profile_changes (change_id, user_id, update_type, updated) VALUES (%s, 1, 'new', 0)",
                 (key,))  # fmt: skip
    ingest(lh)
    slow.commit()
    ingest(lh)
    assert bronze_changes(lh) == [(key, 1), (key + 1, 2)]


def test_a_crash_before_the_watermark_is_written_only_reads_again(lh, connect):
    writer = connect()
    for user in (1, 2):
        add_change(writer, user_id=user)
    ingest(lh)
    WatermarkStore(lh, "profile_changes").path.unlink()  # as if the run died after the bronze commit
    add_change(writer, user_id=3)
    ingest(lh)
    assert bronze_changes(lh) == [(1, 1), (2, 2), (3, 3)]


def test_a_run_reads_nothing_while_every_visible_key_is_settled(lh, connect):
    writer = connect()
    add_change(writer, user_id=1)
    ingest(lh)
    assert plan_source_ingest(lh, "profile_changes", PROFILE_CHANGES_BZ, "change_id").rows is None
    add_change(writer, user_id=2)
    assert plan_source_ingest(lh, "profile_changes", PROFILE_CHANGES_BZ, "change_id").rows is not None
    ingest(lh)
    assert bronze_changes(lh) == [(1, 1), (2, 2)]


BREAKAGES = {
    "server down": ("refused", lambda s, conn: replace(s, source_db_url=f"jdbc:postgresql://127.0.0.1:{free_port()}/x")),
    "wrong password": ("password authentication failed", lambda s, conn: replace(s, source_db_password="not-it")),
    "missing table": ('relation "profile_changes" does not exist', lambda s, conn: conn.execute(
        "DROP TABLE profile_changes") and s),
    "missing column": ("city", lambda s, conn: conn.execute("ALTER TABLE profile_changes DROP COLUMN city") and s),
}  # fmt: skip


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_a_broken_source_stops_the_ingest_with_one_line_before_any_table_is_written(lh, connect, breakage):
    writer = connect()
    add_registration(writer, 1)
    add_change(writer, user_id=1)
    said, breaks = BREAKAGES[breakage]
    settings = breaks(lh.settings, writer)
    writer.commit()
    with pytest.raises(PipelineError) as raised:
        ingest(Lakehouse(lh.spark, settings))
    message = str(raised.value)
    assert said in message and "\n" not in message and len(message) < 400, message
    assert lh.settings.source_db_password not in message
    assert [lh.version(t) for t in (REGISTERED_USERS_BZ, PROFILE_CHANGES_BZ)] == [0, 0]  # created, never written
    assert not any(WatermarkStore(lh, name).path.exists() for name in ("registrations", "profile_changes"))


def test_values_arrive_unchanged_whatever_the_source_column_types(lh, connect):
    """Text columns are fetched as their raw bytes and numbers in binary: every value must still arrive as it was,
    and a contract STRING column the source keeps as a number or date arrives as its text."""
    writer = connect()
    writer.execute("ALTER TABLE profile_changes ALTER COLUMN zip TYPE INTEGER USING zip::integer, "
                   "ALTER COLUMN dob TYPE DATE USING dob::date")  # fmt: skip
    writer.commit()
    rows = [(2**62 + 1, "new", 1_700_000_000.123456, "1950-01-15", "F", "Zoë 北京 🏃", "", "trailing ", None, 78701),
            (-3, "update", -0.1, None, None, "O'Brien \\ \"q\"", "x" * 5000, "Ärzte", "Main\tSt", 501)]  # fmt: skip
    runs = []
    for row in rows:
        writer.execute("INSERT INTO profile_changes (user_id, update_type, updated, dob, sex, first_name, last_name, "
                       "street_address, city, zip) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", row)  # fmt: skip
        writer.commit()
        began = datetime.now()
        assert ingest_sources(StageRun(lh)) == 1  # the first into empty bronze (one append), the second merged
        runs.append((began, datetime.now()))
    bronze = lh.read(PROFILE_CHANGES_BZ).orderBy("change_id").collect()
    got = [(r.user_id, r.update_type, r.updated, r.dob, r.sex, r.first_name, r.last_name, r.street_address, r.city,
            r.zip) for r in bronze]  # fmt: skip
    assert got == [(*row[:-1], str(row[-1])) for row in rows]
    assert all(began <= r.load_time <= ended for r, (began, ended) in zip(bronze, runs, strict=True))
