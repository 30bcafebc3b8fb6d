"""`lakehouse postgres start|status|stop` and the stack on the local server (`up --source postgres`'s wiring)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import psycopg

from core.postgres import LocalPostgres
from core.service import free_port
from lakehouse import stack
from simulator.source_db import holds_history
from tests.simulator.helpers import run


def lakehouse(data_dir, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "LAKEHOUSE_DATA_DIR": str(data_dir)}
    return subprocess.run([sys.executable, "-m", "lakehouse", *args], env=env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip


def test_the_postgres_group_starts_prints_the_settings_without_the_password_reports_and_stops(tmp_path):
    data, port = tmp_path / "data", free_port()
    try:
        started = lakehouse(data, "postgres", "start", "--port", str(port))
        assert started.returncode == 0, started.stderr
        password = (data / "postgres" / "password").read_text().strip()
        url = f"jdbc:postgresql://127.0.0.1:{port}/lakehouse"
        assert f"export SOURCE_DB_URL={url}\n" in started.stdout and "export SOURCE_DB_USER=lake\n" in started.stdout
        assert "export SOURCE_DB_PASSWORD=***\n" in started.stdout
        assert password not in started.stdout + started.stderr
        assert (data / "postgres" / "password").stat().st_mode & 0o077 == 0

        shown = lakehouse(data, "postgres", "start", "--show-password")  # running: reused, on the port it last used
        assert shown.returncode == 0 and f"export SOURCE_DB_PASSWORD={password}\n" in shown.stdout
        assert password not in shown.stderr  # the log lines

        status = lakehouse(data, "postgres", "status")
        assert status.returncode == 0 and json.loads(status.stdout)["running"] is True
        assert json.loads(status.stdout)["url"] == url

        moved = lakehouse(data, "postgres", "start", "--port", str(free_port()))
        assert moved.returncode == 2 and moved.stderr.strip().splitlines()[-1].startswith("error: ")
        assert f"already runs on port {port}" in moved.stderr

        whole = lakehouse(data, "status")
        assert json.loads(whole.stdout)["postgres"]["running"] is True
    finally:
        stopped = lakehouse(data, "postgres", "stop")
    assert stopped.returncode == 0 and stopped.stdout.strip() == "stopped"
    status = lakehouse(data, "postgres", "status")
    assert status.returncode == 3 and json.loads(status.stdout)["running"] is False
    assert lakehouse(data, "postgres", "stop").stdout.strip() == "no local PostgreSQL server was running"


def test_the_stack_on_postgres_gives_its_processes_the_local_server_and_down_stops_it(settings, tmp_path, capsys):
    settings = replace(settings, data_dir=tmp_path / "stack-data")
    server = LocalPostgres.from_settings(settings, port=free_port())
    server.start()  # `up` then reuses it on the port it last used
    try:
        on_pg, env = stack.local_postgres_source(settings)
        assert env == {"SOURCE_DB_URL": server.jdbc_url, "SOURCE_DB_USER": "lake",
                       "SOURCE_DB_PASSWORD": server.password}  # fmt: skip
        assert (on_pg.source_db_url, on_pg.source_db_password) == (server.jdbc_url, server.password)
        assert not holds_history(on_pg)

        loaded = run(on_pg, "history", "--days", "1", "--members", "12", "--no-progress")  # as `up` runs it
        assert loaded.returncode == 0, loaded.stderr
        assert holds_history(on_pg)
        with psycopg.connect(server.conninfo()) as conn:
            assert conn.execute("SELECT count(*) FROM registrations").fetchone() == (12,)
    finally:
        stack.down(None, settings)
    assert "postgres: stopped" in capsys.readouterr().out
    assert server.pid() is None
