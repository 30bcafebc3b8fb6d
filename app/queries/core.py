"""What every dashboard query is made of: `BoundQuery`, the table allow-list, `{layer.table}` rendering and the
registry of query builders that the tests run on both engines."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from core.contract import (
    GYM_SUMMARY,
    KAFKA_MULTIPLEX_BZ,
    PIPELINE_RUNS,
    QUARANTINE,
    TABLE_REF,
    WORKOUT_BPM,
    WORKOUT_BPM_SUMMARY,
    Table,
    render_refs,
)

# The only tables the dashboard may name; anything else in `{...}` is refused before it reaches an engine.
ALLOWED_TABLES: dict[str, Table] = {
    t.full_name: t
    for t in (WORKOUT_BPM_SUMMARY, GYM_SUMMARY, WORKOUT_BPM, PIPELINE_RUNS, QUARANTINE, KAFKA_MULTIPLEX_BZ)
}
GOLD_TABLES: tuple[Table, ...] = (WORKOUT_BPM_SUMMARY, GYM_SUMMARY)

_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


class UnknownTableError(ValueError):
    """A query names a table outside the allow-list."""


@dataclass(frozen=True)
class BoundQuery:
    """One query ready to run: a name for logs and tests, templated SQL and its bound values."""

    name: str
    sql: str
    params: Mapping[str, Any] = field(default_factory=dict)
    ordered: bool = False  # the result order is part of the answer (ORDER BY over a total order)

    @property
    def tables(self) -> tuple[Table, ...]:
        return referenced_tables(self.sql)


def referenced_tables(sql: str) -> tuple[Table, ...]:
    """The allow-listed tables a templated query names, in order of first appearance."""
    found: list[Table] = []
    for layer, name in TABLE_REF.findall(sql):
        table = ALLOWED_TABLES.get(f"{layer}.{name}")
        if table is None:
            raise UnknownTableError(f"table {layer}.{name} is not one the dashboard may read")
        if table not in found:
            found.append(table)
    return tuple(found)


def render(sql: str, qualify: Callable[[Table], str]) -> str:
    """Replace every `{layer.table}` by the engine's name for it; refuses tables outside the allow-list."""
    referenced_tables(sql)
    return render_refs(sql, qualify)


def to_dollar_params(sql: str) -> str:
    """`:name` markers (Spark, Databricks) as `$name` (DuckDB); the dashboard's SQL has no literals with colons."""
    return _PARAM.sub(r"$\1", sql)


def param_names(sql: str) -> set[str]:
    return set(_PARAM.findall(sql))


REGISTRY: dict[str, Callable[..., BoundQuery]] = {}


def registered(builder: Callable[..., BoundQuery]) -> Callable[..., BoundQuery]:
    """Decorator: adds a query builder to REGISTRY under its function name."""
    REGISTRY[builder.__name__] = builder
    return builder
