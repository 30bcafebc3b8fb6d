"""Data at rest and what errors give away, tried as an attacker: another local user reading data/, a password in a
JDBC URL reaching a log, an error line or ops.pipeline_runs, and a gym manager reading paths off an error page."""

from __future__ import annotations

import argparse
import io
import logging
import os
import stat
from pathlib import Path

import pytest

from core.connections import RedactingFilter, redact
from core.permissions import OWNER_ONLY_UMASK, private_paths, restrict_to_owner
from core.settings import Settings
from tests.security.conftest import PASSWORD, attempt, shown

SECRET = "hunter2-SECRET"
URLS = [
    f"jdbc:postgresql://127.0.0.1:5432/ops?user=lake&password={SECRET}&ssl=true",
    f"jdbc:sqlserver://ops.database.windows.net:1433;database=ops;user=lake;password={SECRET};encrypt=true",
    f"jdbc:sqlserver://h:1433;user=lake;password={{{SECRET};x}};encrypt=true",
    f"postgresql://lake:{SECRET}@db.internal:5432/ops",
    f"jdbc:oracle:thin:lake/{SECRET}@db.internal:1521/ops",
    f"jdbc:mysql://h/db?user=a&Password={SECRET}&trustStorePassword={SECRET}",
    f'org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="{SECRET}";',
    f"Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey={SECRET}",
]


def _modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.lstat().st_mode) for p in [root, *root.rglob("*")]}


@pytest.fixture
def umask():
    """The process umask, restored after a test that lets `up` change it."""
    old = os.umask(0o022)
    os.umask(old)
    yield old
    os.umask(old)


def _world_readable_data(root: Path) -> Settings:
    for path in ("lakehouse/silver/user_profile/part-0.parquet", "run/dashboard.log", "source.db"):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text("personal data")
    for p in [root, *root.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    return Settings.from_env({"LAKEHOUSE_DATA_DIR": str(root), "LAKEHOUSE_DIR": str(root / "lakehouse"),
                              "SOURCE_DB_URL": str(root / "source.db")})  # fmt: skip


def test_restrict_to_owner_leaves_nothing_readable_by_group_or_others(tmp_path: Path):
    settings = _world_readable_data(tmp_path / "data")
    outside = tmp_path / "shared.txt"
    outside.write_text("not ours to change")
    outside.chmod(0o644)
    (tmp_path / "data" / "link").symlink_to(outside)
    assert restrict_to_owner(private_paths(settings)) > 0
    modes = _modes(tmp_path / "data")
    assert all(mode & 0o077 == 0 for name, mode in modes.items() if name != "link"), modes
    assert modes["."] == 0o700 and modes["source.db"] == 0o600
    assert stat.S_IMODE(outside.stat().st_mode) == 0o644  # a link out of the tree is not followed


def test_dev_up_makes_data_owner_only_before_it_starts_anything(tmp_path: Path, monkeypatch, umask):
    """`./dev up` as far as its first step: the data directory is private and so is all written after."""
    from lakehouse import stack

    settings = _world_readable_data(tmp_path / "data")

    class Stop(Exception):
        pass

    def first_step(_settings):
        raise Stop

    monkeypatch.setattr(stack, "ensure_kafka", first_step)
    monkeypatch.delenv("DASHBOARD_AUTH", raising=False)
    with pytest.raises(Stop):
        stack.up(argparse.Namespace(source="url"), settings)
    assert all(mode & 0o077 == 0 for mode in _modes(tmp_path / "data").values())
    assert os.umask(umask) == OWNER_ONLY_UMASK
    new = tmp_path / "data" / "written-later"
    os.umask(OWNER_ONLY_UMASK)
    new.write_text("x")
    assert stat.S_IMODE(new.stat().st_mode) == 0o600


@pytest.mark.parametrize("url", URLS)
def test_credentials_in_a_connection_string_are_redacted(url):
    cleaned = redact(f"error: cannot connect to {url}: timeout")
    assert SECRET not in cleaned and "***" in cleaned and cleaned.startswith("error: cannot connect to")


def test_redaction_keeps_what_is_not_a_secret():
    text = "jdbc:postgresql://db.internal:5432/ops?user=lake&ssl=true: token expired, password reset needed"
    assert redact(text) == text


def test_no_credential_reaches_a_log_line_or_its_traceback():
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("tests.security.redaction")
    logger.addHandler(handler)
    try:
        logger.warning("reading %s", URLS[0])
        try:
            raise RuntimeError(f"No suitable driver found for {URLS[1]}")
        except RuntimeError:
            logger.exception("bronze failed")
    finally:
        logger.removeHandler(handler)
    assert "reading jdbc:postgresql://" in out.getvalue() and "No suitable driver found" in out.getvalue()
    assert SECRET not in out.getvalue()


def test_the_cli_logging_redacts_every_handler():
    from core.cli import setup_logging

    setup_logging()
    assert all(any(isinstance(f, RedactingFilter) for f in h.filters) for h in logging.getLogger().handlers)


def test_no_credential_reaches_a_pipeline_error_line_or_ops_pipeline_runs():
    """The runner records `first_line(error)` in ops.pipeline_runs and the CLI prints it or a PipelineError's text:
    a JDBC driver's error quoting the URL loses the password in both."""
    from pipeline.errors import PipelineError, first_line

    jvm = RuntimeError(f"java.sql.SQLException: No suitable driver found for {URLS[0]}\n\tat java.sql.DriverManager")
    line = first_line(jvm, 1000)
    assert line.startswith("java.sql.SQLException: No suitable driver found for jdbc:postgresql://127.0.0.1:5432/")
    assert SECRET not in line and "DriverManager" not in line
    assert SECRET not in str(PipelineError(f"cannot read registrations from the source database: {URLS[1]}"))
    assert "hunter" not in first_line(RuntimeError(URLS[3]), 24)  # cut after redacting: no half password either


# --- what an error page tells a gym manager --------------------------------------------------------------------------

ENGINE_TEXT = "IO Error: Cannot open file /srv/secret/lakehouse/gold/x.parquet from 10.1.2.3:443 (duckdb internal)"


def _broken_engine(monkeypatch):
    from app.engines import LocalEngine

    def fail(self, q):
        raise RuntimeError(ENGINE_TEXT)

    monkeypatch.setattr(LocalEngine, "query", fail)


def test_an_error_page_seen_by_a_gym_manager_says_what_failed_not_where(users_env, monkeypatch, caplog):
    _broken_engine(monkeypatch)
    at = attempt("mgr3", PASSWORD)
    page = shown(at)
    assert "The data cannot be read right now. A platform admin can find the details in the dashboard's log." in page
    for leak in ("/srv/secret", "10.1.2.3", "duckdb", "IO Error", str(users_env.path)):
        assert leak not in page
    assert "10.1.2.3" in caplog.text  # the details went to the log


def test_the_same_error_page_shows_a_platform_admin_the_details(users_env, monkeypatch):
    _broken_engine(monkeypatch)
    assert "/srv/secret/lakehouse/gold/x.parquet" in shown(attempt("root", PASSWORD))


def test_a_missing_table_shows_a_gym_manager_its_name_not_its_path(users_env, monkeypatch, tmp_path):
    empty = tmp_path / "no-lakehouse-here"
    monkeypatch.setenv("LAKEHOUSE_DIR", str(empty))
    page = shown(attempt("mgr3", PASSWORD))
    assert "Table gold.workout_bpm_summary does not exist yet." in page and str(empty) not in page
    assert str(empty) in shown(attempt("root", PASSWORD))
