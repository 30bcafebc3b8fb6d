"""The dashboard's one data-access module: a cached engine per configuration and cached query results.

Pages call `fetch(query)` and get a pandas DataFrame, or a `DataUnavailable` with a message fit for the page.
Every query passes the access policy here, and only here: `fetch` rewrites it for the signed-in principal
(governance/local.py: row filters and masks around each table, `AccessDenied` for a table the role may not read),
and cached results are keyed by the principal's rights, so no user is ever served another user's result.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

import pandas as pd
import streamlit as st

from app import auth
from app.config import DashboardConfig, load_config
from app.engines import (
    AccessDenied,
    DatabricksEngine,
    DataUnavailable,
    Engine,
    LocalEngine,
    TableMissing,
    WarehouseUnreachable,
)
from app.queries import GOLD_TABLES, BoundQuery
from core.contract import Table
from governance.local import secure_sql
from governance.policy import Access, NotPermitted, PolicyError

log = logging.getLogger(__name__)

QUERY_TTL_SECONDS = 15  # how long a query result is reused; pages refresh no faster than this brings news
SLOW_TTL_SECONDS = 300  # for what rarely changes and costs a full scan: the values offered in the filters


def config() -> DashboardConfig:
    """Read per script run: cheap, and tests can point the app at another lakehouse through the environment."""
    return load_config()


def _close(engine: Engine) -> None:
    engine.close()


@st.cache_resource(show_spinner=False, ttl=3600, on_release=_close)
def _engine(key: tuple[str, ...], _cfg: DashboardConfig) -> Engine:
    """One engine per configuration key, closed by Streamlit when it leaves the cache."""
    if key[0] == "databricks":
        log.info("dashboard reads gold through Databricks SQL at %s", _cfg.settings.databricks_server_hostname)
        return DatabricksEngine(_cfg.settings, catalog=_cfg.settings.catalog)
    log.info("dashboard reads gold from local Delta tables under %s", _cfg.settings.lakehouse_dir)
    return LocalEngine(_cfg.settings)


def engine(cfg: DashboardConfig | None = None) -> Engine:
    cfg = cfg or config()
    return _engine(cfg.engine_key, cfg)


def _run(q: BoundQuery, cfg: DashboardConfig) -> pd.DataFrame:
    try:
        return engine(cfg).query(q).to_pandas()
    except DataUnavailable:
        raise
    except Exception as exc:  # noqa: BLE001 - the page shows one clear line; the log keeps the details
        log.exception("query %s failed", q.name)
        raise WarehouseUnreachable(f"Query {q.name} failed: {exc}") from exc


@st.cache_data(show_spinner=False, ttl=QUERY_TTL_SECONDS, max_entries=512)
def _cached(key: tuple[str, ...], rights: str, name: str, sql: str, params: tuple, ordered: bool) -> pd.DataFrame:
    return _run(BoundQuery(name, sql, dict(params), ordered), config())


@st.cache_data(show_spinner=False, ttl=SLOW_TTL_SECONDS, max_entries=64)
def _cached_slow(key: tuple[str, ...], rights: str, name: str, sql: str, params: tuple, ordered: bool) -> pd.DataFrame:
    return _run(BoundQuery(name, sql, dict(params), ordered), config())


def access(cfg: DashboardConfig | None = None) -> Access:
    """The signed-in principal's rights; `AccessDenied` when nobody is signed in or the policy cannot be read."""
    try:
        return auth.access(cfg or config())
    except (PermissionError, PolicyError) as exc:
        raise AccessDenied(str(exc)) from exc


def secure(q: BoundQuery, rights: Access) -> BoundQuery:
    """The query as `rights` may run it: every table behind its policy view. The one place the policy applies."""
    try:
        sql, params = secure_sql(q.sql, q.params, rights)
    except NotPermitted as exc:
        raise AccessDenied(str(exc), table=exc.table) from exc
    return replace(q, sql=sql, params=params)


def fetch(q: BoundQuery, slow_changing: bool = False) -> pd.DataFrame:
    """The query's result as the signed-in principal may see it, reused for QUERY_TTL_SECONDS (SLOW_TTL_SECONDS when
    `slow_changing`) by that principal only."""
    cfg = config()
    rights = access(cfg)
    safe = secure(q, rights)
    cached = _cached_slow if slow_changing else _cached
    return cached(cfg.engine_key, rights.key, safe.name, safe.sql, tuple(sorted(safe.params.items())), safe.ordered)


@st.cache_data(show_spinner=False, ttl=QUERY_TTL_SECONDS)
def _commit_times(key: tuple[str, ...], names: tuple[str, ...]) -> dict[str, datetime | None]:
    eng = engine()
    out: dict[str, datetime | None] = {}
    for table in GOLD_TABLES:
        if table.full_name not in names:
            continue
        try:
            out[table.full_name] = eng.last_commit(table)
        except TableMissing:
            out[table.full_name] = None
    return out


def gold_commit_times(tables: tuple[Table, ...] = GOLD_TABLES) -> dict[str, datetime | None]:
    """Latest Delta commit time of each gold table the principal may read (None: the table does not exist yet)."""
    cfg = config()
    rights = access(cfg)
    try:
        return _commit_times(cfg.engine_key, tuple(t.full_name for t in tables if rights.may_read(t.full_name)))
    except DataUnavailable:
        raise
    except Exception as exc:  # noqa: BLE001
        log.exception("reading gold commit times failed")
        raise WarehouseUnreachable(f"Cannot read the gold tables' history: {exc}") from exc


def clear_caches() -> None:
    """Forget cached results so the next run reads fresh data."""
    _cached.clear()
    _cached_slow.clear()
    _commit_times.clear()
