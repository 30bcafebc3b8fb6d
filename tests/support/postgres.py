"""A fresh, empty PostgreSQL database per test on the session's server (core.postgres.LocalPostgres)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from core.connections import libpq_conninfo
from core.postgres import LocalPostgres

# a throw-away server: durability buys nothing in tests, speed does; commit timestamps let a test see the order in
# which transactions became visible (pg_xact_commit_timestamp)
TEST_SERVER_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
                        "track_commit_timestamp": "on"}  # fmt: skip


@dataclass(frozen=True)
class PostgresDb:
    """One database of the test server, owned by the project role; credentials stay out of `jdbc_url`."""

    host: str
    port: int
    dbname: str
    user: str
    password: str

    @property
    def jdbc_url(self) -> str:
        return f"jdbc:postgresql://{self.host}:{self.port}/{self.dbname}"

    @property
    def conninfo(self) -> str:
        """libpq connection string for psycopg."""
        return libpq_conninfo(host=self.host, port=self.port, dbname=self.dbname, user=self.user,
                              password=self.password, connect_timeout=5)  # fmt: skip

    def settings_overrides(self) -> dict[str, object]:
        """Keyword overrides for `Settings.from_env({}, **overrides)` that point the source database here."""
        return {"source_db_url": self.jdbc_url, "source_db_user": self.user, "source_db_password": self.password}


def create_database(server: LocalPostgres) -> PostgresDb:
    """A new empty database owned by the server's project role."""
    import psycopg
    from psycopg import sql

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.conninfo("postgres", admin=True), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(server.user)))
    return PostgresDb(server.host, server.port, name, server.user, server.password)


def drop_database(server: LocalPostgres, db: PostgresDb) -> None:
    """Drop the database, ending whatever sessions a test left open in it."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(server.conninfo("postgres", admin=True), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db.dbname)))
