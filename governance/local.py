"""Local enforcement of the policy: every table a query names is replaced by a policy view of it for one principal.

The dashboard's SQL names tables as `{layer.table}` (app/queries/). `secure_sql` swaps each such reference for a
subquery over the same table that keeps only the principal's rows (row filter: `gym IN (bound values)`) and shows
each masked column as a typed NULL under its own name, so the query's text, columns and types stay as written.
The filter sits outside the query the page built, so no value a browser sends can widen it. A table the role may
not read raises `NotPermitted` before anything runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.contract import TABLE_REF
from governance.policy import Access, TableAccess, columns

PARAM_PREFIX = "policy_"  # bound names of the policy's own values; the dashboard's queries never use it


def policy_view(view: TableAccess, params: dict[str, Any]) -> str:
    """`(SELECT ... FROM {layer.table} WHERE ...)` for one table as one principal may see it."""
    table = view.table
    if not view.masked and view.row_filter is None:
        return table.ref
    # qualified names: some columns (offset, partition) are keywords in one engine or the other
    select = ", ".join(f"CAST(NULL AS {kind}) AS {name}" if name in view.masked else f"_policy.{name} AS {name}"
                       for name, kind in columns(table))  # fmt: skip
    where = ""
    if view.row_filter is not None:
        column, values = view.row_filter
        names = []
        for value in values:
            key = f"{PARAM_PREFIX}{column}_{len(params)}"
            params[key] = int(value)
            names.append(f":{key}")
        where = f" WHERE _policy.{column} IN ({', '.join(names)})" if names else " WHERE FALSE"
    return f"(SELECT {select} FROM {table.ref} _policy{where})"


def secure_sql(sql: str, params: Mapping[str, Any], access: Access) -> tuple[str, dict[str, Any]]:
    """The query with every `{layer.table}` replaced by its policy view, and the parameters it then needs."""
    if any(str(k).startswith(PARAM_PREFIX) for k in params):
        raise ValueError(f"query parameters may not start with {PARAM_PREFIX!r}: that prefix is the policy's")
    bound = dict(params)
    views: dict[str, str] = {}
    for layer, name in TABLE_REF.findall(sql):
        full = f"{layer}.{name}"
        if full not in views:
            views[full] = policy_view(access.table(full), bound)
    return TABLE_REF.sub(lambda m: views[f"{m.group(1)}.{m.group(2)}"], sql), bound


def audit_sql(table_name: str) -> str:
    """What `python -m app query` runs: the whole table, through the same policy view as every dashboard query."""
    return f"SELECT * FROM {{{table_name}}}"
