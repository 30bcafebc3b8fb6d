"""Small pieces every page shares: refresh controls, the gold freshness line, empty and error states."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

import streamlit as st

from app import auth, data
from app.engines import AccessDenied, DataUnavailable, TableMissing, WarehouseStarting
from core.connections import redact

log = logging.getLogger(__name__)

REFRESH_CHOICES = {"off": 0, "10 s": 10, "30 s": 30, "1 min": 60, "5 min": 300}


def refresh_controls() -> float | None:
    """Sidebar: auto-refresh period and a refresh-now button. Returns the period for `st.fragment(run_every=...)`."""
    default = data.config().refresh_seconds
    labels = list(REFRESH_CHOICES)
    index = next((i for i, k in enumerate(labels) if REFRESH_CHOICES[k] == default), 2)
    with st.sidebar:
        choice = st.selectbox("Auto-refresh", labels, index=index, key="auto_refresh")
        if st.button("Refresh now", key="refresh_now", icon=":material/refresh:"):
            data.clear_caches()
    seconds = REFRESH_CHOICES[choice]
    return seconds or None


def ago(when: datetime, now: datetime | None = None) -> str:
    seconds = max(0, int(((now or datetime.now(UTC)) - when).total_seconds()))
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min ago"
    return f"{seconds // 86400} d ago"


def freshness() -> None:
    """One caption line: when each gold table was last committed."""
    try:
        times = data.gold_commit_times()
    except DataUnavailable as exc:
        st.caption(f"Gold freshness unknown: {error_text(exc)}")
        return
    parts = []
    for name, when in times.items():
        short = name.split(".", 1)[1]
        parts.append(f"{short}: not built yet" if when is None
                     else f"{short}: {ago(when)} ({when:%Y-%m-%d %H:%M:%S} UTC)")  # fmt: skip
    st.caption("Gold last updated — " + " · ".join(parts), help="Time of the latest Delta commit of each gold table.")


def error_text(error: Exception | str, summary: str | None = None) -> str:
    """What an error tells the viewer: a platform admin gets its own text (credentials redacted); everyone else what
    failed (`summary`, or one by the error's kind), without paths, addresses or the engine's words, which go to the
    log instead."""
    if isinstance(error, WarehouseStarting) or (isinstance(error, AccessDenied) and error.table):
        return str(error)  # the messages of these are written for the viewer
    if auth.sees_error_details(data.config()):
        return redact(str(error))
    log.warning("error shown to a non-admin as a summary: %s", redact(str(error)))
    if summary:
        return summary
    if isinstance(error, TableMissing):
        return f"Table {error.table.full_name} does not exist yet."
    if isinstance(error, AccessDenied):
        return "Your access could not be checked; sign in again or ask a platform admin."
    return "The data cannot be read right now. A platform admin can find the details in the dashboard's log."


def unavailable(exc: DataUnavailable) -> None:
    """The one way a page says its data cannot be shown: a clear message, never a traceback."""
    if isinstance(exc, TableMissing):
        st.info(f"{error_text(exc)} Run the pipeline (Operations page) to build it.", icon=":material/hourglass_empty:")
    elif isinstance(exc, WarehouseStarting):
        st.warning(error_text(exc), icon=":material/hourglass_top:")
    else:
        st.error(error_text(exc), icon=":material/cloud_off:")


def no_data(what: str) -> None:
    st.info(f"No {what} yet. Start the simulator and run the pipeline on the Operations page.",
            icon=":material/hourglass_empty:")  # fmt: skip


def live(run_every: float | None) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """A fragment that redraws itself every `run_every` seconds (None: only when its own widgets change)."""
    return st.fragment(run_every=run_every)
