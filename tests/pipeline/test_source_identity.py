"""A lakehouse is loaded from one source database: an ingest from another stops with one line before it writes
(pipeline.source_identity), and so does the local stack before it loads a history into the other."""

from __future__ import annotations

import argparse
from dataclasses import replace

import psycopg
import pytest

from core.contract import PROFILE_CHANGES_BZ, REGISTERED_USERS_BZ
from core.settings import Settings
from lakehouse import stack
from pipeline.bronze import ingest_sources
from pipeline.errors import PipelineError
from pipeline.run_state import StageRun
from pipeline.source_identity import RECORD_DIR, SourceIdentity, SourceRecord, sqlite_identity
from pipeline.storage import Lakehouse
from simulator.source_db import open_source_db
from simulator.source_pg import SCHEMA
from tests.support.postgres import create_database, drop_database

BRONZE = (REGISTERED_USERS_BZ, PROFILE_CHANGES_BZ)


def pg_source(db) -> None:
    """The two source tables, one member and one profile change of theirs, in the PostgreSQL database `db`."""
    with psycopg.connect(db.conninfo, autocommit=True) as conn:
        for statement in SCHEMA:
            conn.execute(statement)
        conn.execute("INSERT INTO registrations VALUES (1, 1001, 'aa:bb:cc:dd:ee:ff', 0)")
        conn.execute("INSERT INTO profile_changes (user_id, update_type, updated) VALUES (1, 'new', 0)")


def bronze(lh: Lakehouse) -> tuple[list[int | None], list[tuple]]:
    """Each bronze source table's version, and every profile change (change_id, user_id, update_type)."""
    changes = sorted((r.change_id, r.user_id, r.update_type) for r in lh.read(PROFILE_CHANGES_BZ).collect())
    return [lh.version(t) for t in BRONZE], changes


def first_load(spark, db, tmp_path) -> tuple[Lakehouse, SourceIdentity | None]:
    """A new lakehouse's first ingest from `db` (its two rows); the lakehouse and the source it recorded."""
    settings = Settings.from_env({}, lakehouse_dir=tmp_path / "lakehouse", data_dir=tmp_path / "data",
                                 **db.settings_overrides())  # fmt: skip
    lh = Lakehouse(spark, settings)
    for table in BRONZE:
        lh.ensure(table)
    assert ingest_sources(StageRun(lh)) == 2
    return lh, SourceRecord(lh.checkpoint(RECORD_DIR)).load()


def test_a_lakehouse_loaded_from_one_database_refuses_another_before_writing_and_keeps_its_own(
    spark, postgres_server, postgres_db, tmp_path
):
    pg_source(postgres_db)
    lh, recorded = first_load(spark, postgres_db, tmp_path)
    assert recorded is not None and recorded.kind == "postgresql" and recorded.key.endswith(f"/{postgres_db.dbname}")
    before, settings = bronze(lh), lh.settings

    other = create_database(postgres_server)  # the same keys, other rows: an insert-only merge would drop them
    try:
        pg_source(other)
        with psycopg.connect(other.conninfo, autocommit=True) as conn:
            conn.execute("UPDATE profile_changes SET update_type = 'update'")
        sqlite = tmp_path / "source.db"
        open_source_db(sqlite).close()
        for elsewhere in (
            replace(settings, **other.settings_overrides()),
            replace(settings, source_db_url=str(sqlite)),
        ):
            with pytest.raises(PipelineError) as raised:
                ingest_sources(StageRun(Lakehouse(spark, elsewhere)))
            message = str(raised.value)
            assert "loaded from another source database" in message and "\n" not in message, message
            assert f"postgresql jdbc:postgresql://{postgres_db.host}:{postgres_db.port}/{postgres_db.dbname}" in message
            assert postgres_db.password not in message
            assert bronze(lh) == before
    finally:
        drop_database(postgres_server, other)

    # the same database by another name of its host: the server's own identity, so still the lakehouse's source
    with psycopg.connect(postgres_db.conninfo, autocommit=True) as conn:
        conn.execute("INSERT INTO profile_changes (user_id, update_type, updated) VALUES (1, 'update', 1)")
    same = replace(settings, source_db_url=f"jdbc:postgresql://localhost:{postgres_db.port}/{postgres_db.dbname}")
    assert ingest_sources(StageRun(Lakehouse(spark, same))) == 1
    assert bronze(lh)[1] == [*before[1], (2, 1, "update")]


def test_a_server_that_withholds_its_system_identifier_is_known_by_its_url(spark, postgres_server, postgres_db,
                                                                            tmp_path):  # fmt: skip
    pg_source(postgres_db)
    with psycopg.connect(postgres_server.conninfo(postgres_db.dbname, admin=True), autocommit=True) as conn:
        conn.execute("REVOKE EXECUTE ON FUNCTION pg_control_system() FROM PUBLIC")  # this database's catalog only
    lh, recorded = first_load(spark, postgres_db, tmp_path)
    assert recorded is not None and recorded.key == postgres_db.jdbc_url


def test_a_sqlite_source_is_known_by_its_path_beside_the_lakehouse_so_the_data_folder_can_move(tmp_path):
    def identity(root, name="source.db"):
        settings = Settings.from_env({}, source_db_url=str(root / name), lakehouse_dir=root / "lakehouse")
        return sqlite_identity(settings, settings.checkpoints)

    here, moved, other = identity(tmp_path / "a"), identity(tmp_path / "b"), identity(tmp_path / "a", "other.db")
    assert here.same_database(moved) and here.shown != moved.shown
    assert not here.same_database(other)


@pytest.mark.parametrize("recorded_kind, source", [("sqlite", "postgres"), ("postgresql", "url")])
def test_the_stack_refuses_a_lakehouse_of_another_source_before_it_starts_anything(settings, capsys, tmp_path,
                                                                                   recorded_kind, source):  # fmt: skip
    settings = replace(settings, data_dir=tmp_path / "stack-data")
    SourceRecord(settings.checkpoints / RECORD_DIR).save(
        sqlite_identity(replace(settings, source_db_url=str(tmp_path / "first.db")), settings.checkpoints)
        if recorded_kind == "sqlite"
        else SourceIdentity("postgresql", "7000000000000000000/lakehouse", "jdbc:postgresql://127.0.0.1:5432/lakehouse")
    )
    args = argparse.Namespace(source=source, port=0, members=10, days=1, seed=1, speed=1.0, reload_history=False)
    assert stack.up(args, settings) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: this lakehouse was loaded from another source database") and "\n" not in error
    assert not settings.data_dir.exists() and not (tmp_path / "source.db").exists()  # no server, no history
