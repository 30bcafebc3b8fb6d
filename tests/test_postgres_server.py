"""The local PostgreSQL server (core.postgres): start, health, status, idempotent start, stop, a second start."""

from __future__ import annotations

import psycopg
import pytest

from core.postgres import LocalPostgres, PostgresError, _newest_bin
from core.service import free_port, pid_alive
from tests.support.postgres import TEST_SERVER_SETTINGS


def test_a_fresh_database_accepts_the_project_role_and_is_empty(postgres_db):
    with psycopg.connect(postgres_db.conninfo) as conn:
        user, db = conn.execute("SELECT current_user, current_database()").fetchone()
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0]
    assert (user, db, tables) == (postgres_db.user, postgres_db.dbname, 0)
    assert postgres_db.jdbc_url == f"jdbc:postgresql://127.0.0.1:{postgres_db.port}/{postgres_db.dbname}"
    assert postgres_db.password not in postgres_db.jdbc_url


def test_start_is_idempotent_stop_ends_it_and_a_second_start_keeps_the_data(tmp_path):
    server = LocalPostgres(tmp_path / "pg", port=free_port(), server_settings=TEST_SERVER_SETTINGS)
    try:
        url = server.start()
        pid = server.pid()
        with psycopg.connect(server.conninfo(), autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (x int)")
            conn.execute("INSERT INTO kept VALUES (7)")
        assert server.start() == url and server.pid() == pid  # already running: reused, not restarted
        assert server.status()["running"] is True

        assert server.stop() is True
        assert not pid_alive(pid) and server.status()["running"] is False
        assert server.stop() is False

        server.start()
        assert server.pid() != pid
        with psycopg.connect(server.conninfo()) as conn:
            assert conn.execute("SELECT x FROM kept").fetchall() == [(7,)]
    finally:
        server.stop()


def test_a_port_taken_by_another_process_is_one_error_line_and_starts_nothing(postgres_server, tmp_path):
    other = LocalPostgres(tmp_path / "pg", port=postgres_server.port)
    with pytest.raises(PostgresError, match=f"port 127.0.0.1:{postgres_server.port} is already in use"):
        other.start()
    assert other.pid() is None and not (tmp_path / "pg" / "server").exists()


def test_the_newest_installed_server_version_is_chosen(tmp_path):
    for version, has_server in (("9", True), ("15", True), ("16", False), ("common", True)):
        bin_dir = tmp_path / version / "bin"
        bin_dir.mkdir(parents=True)
        if has_server:
            (bin_dir / "postgres").write_text("")
    assert _newest_bin(tmp_path) == tmp_path / "15" / "bin"
    assert _newest_bin(tmp_path / "missing") is None
