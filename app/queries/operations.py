"""The Operations page's queries, over ops.pipeline_runs, ops.quarantine and bronze.kafka_multiplex_bz."""

from __future__ import annotations

from datetime import datetime

from app.queries.core import BoundQuery, registered


@registered
def pipeline_runs(limit: int = 50) -> BoundQuery:
    return BoundQuery("pipeline_runs", f"""
        SELECT run_id, stage, mode, started_at, finished_at, status, rows_in, rows_out, error,
               unix_seconds(finished_at) - unix_seconds(started_at) AS seconds
        FROM {{ops.pipeline_runs}}
        ORDER BY started_at DESC, run_id, stage
        LIMIT {int(limit)}
    """, ordered=True)  # fmt: skip


@registered
def runs_since(since: datetime) -> BoundQuery:
    return BoundQuery("runs_since", """
        SELECT stage, status, finished_at FROM {ops.pipeline_runs}
        WHERE started_at >= :since
        ORDER BY started_at, stage
    """, {"since": since}, ordered=True)  # fmt: skip


@registered
def quarantine_counts() -> BoundQuery:
    return BoundQuery("quarantine_counts", """
        SELECT source, reason, count(*) AS records, max(detected_at) AS last_seen
        FROM {ops.quarantine}
        GROUP BY source, reason
        ORDER BY records DESC, source, reason
    """, ordered=True)  # fmt: skip


@registered
def bronze_offsets() -> BoundQuery:
    """Highest offset read per topic and partition (`offset` is a keyword in DuckDB: always qualify it)."""
    return BoundQuery("bronze_offsets", """
        SELECT k.topic AS topic, k.partition AS partition, max(k.offset) AS max_offset, count(*) AS records
        FROM {bronze.kafka_multiplex_bz} k
        GROUP BY k.topic, k.partition
        ORDER BY topic, partition
    """, ordered=True)  # fmt: skip
