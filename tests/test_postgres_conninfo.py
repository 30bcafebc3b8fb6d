"""A PgJDBC URL as a libpq connection string (core.connections.psycopg_conninfo): hosts, database, parameters and
where the credentials come from."""

from __future__ import annotations

import pytest

from core.connections import libpq_conninfo, psycopg_conninfo
from core.settings import Settings, SettingsError


def conninfo(url: str, **overrides: object) -> str:
    return psycopg_conninfo(Settings.from_env({"SOURCE_DB_URL": url}, **overrides), secrets=lambda *_: None)


def test_host_port_and_database_with_the_credential_settings():
    got = conninfo("jdbc:postgresql://127.0.0.1:5433/lakehouse", source_db_user="lake", source_db_password="pw")
    assert got == "host='127.0.0.1' port='5433' dbname='lakehouse' user='lake' password='pw'"


def test_the_urls_credentials_win_and_pgjdbc_parameters_become_libpq_ones():
    url = "jdbc:postgresql://db.internal/ops?user=u1&password=p%26w&ssl=true&connectTimeout=7&ApplicationName=sim"
    got = conninfo(f"{url}&loggerLevel=OFF", source_db_user="other", source_db_password="other")
    assert got == ("host='db.internal' port='5432' dbname='ops' user='u1' password='p&w' sslmode='require' "
                   "connect_timeout='7' application_name='sim'")  # fmt: skip


def test_several_hosts_ipv6_and_quotes_in_values():
    got = conninfo("jdbc:postgresql://a:1,[::1]:2,b/x?targetServerType=primary&password=it's\\")
    assert got == "host='a,::1,b' port='1,2,5432' dbname='x' target_session_attrs='read-write' password='it\\'s\\\\'"
    assert libpq_conninfo(host="h", user=None) == "host='h'"


@pytest.mark.parametrize("url", ["jdbc:sqlserver://h:1433;database=ops;password=sekrit", "data/source.db",
                                 "jdbc:postgresql://h:port/db"])  # fmt: skip
def test_anything_else_is_a_settings_error_without_the_password(url):
    with pytest.raises(SettingsError) as error:
        conninfo(url)
    assert "sekrit" not in str(error.value)
