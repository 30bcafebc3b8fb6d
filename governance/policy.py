"""The policy model: roles, row filters, masks and members read from governance/policy.yml, validated on load.

`Policy.access(principal, role, gyms)` turns a role into what one principal may see, table by table; the Unity
Catalog generator and the local enforcement both start from this one model.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core.contract import ALL_TABLES, BY_NAME, Table

POLICY_FILE = Path(__file__).resolve().parent / "policy.yml"
LAYERS = tuple(dict.fromkeys(t.layer for t in ALL_TABLES))
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_GROUP = re.compile(r"^[A-Za-z0-9_.@+\- ]+$")  # quoted with backticks in SQL: no backtick, no quote
_IDENTITY = re.compile(r"^[A-Za-z0-9_.@+\-]+$")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_CONF_KEY = re.compile(r"^[A-Za-z0-9_.\-]+$")
_PLAIN_TEXT = re.compile(r"^[^\x00-\x1f\x7f]*$")  # one line, no control characters


class PolicyError(ValueError):
    """The policy file is invalid; the message says where and why in one line."""


class NotPermitted(PermissionError):
    """A principal asked for a table its role may not read."""

    def __init__(self, principal: str, role: str, table: str) -> None:
        self.table = table
        super().__init__(f"{principal} ({role}) is not permitted to read {table}.")


def columns(table: Table) -> list[tuple[str, str]]:
    """(name, SQL type) of every column of a contract table, in order."""
    return list(table.columns)


@dataclass(frozen=True)
class Role:
    name: str
    group: str
    description: str = ""
    read: tuple[str, ...] = ()  # full table names, expanded from layers
    write: tuple[str, ...] = ()
    manage: bool = False
    unmasked: bool = False
    operations: bool = False
    row_filter: str | None = None
    service: bool = False  # the dashboard app's own principal: reads unmasked for the app to filter, never a person


@dataclass(frozen=True)
class RowFilter:
    name: str
    column: str
    tables: tuple[str, ...]


@dataclass(frozen=True)
class Member:
    identity: str
    role: str
    gyms: tuple[int, ...] = ()


@dataclass(frozen=True)
class TableAccess:
    """How one principal sees one table: which rows (column IN values) and which columns hidden."""

    table: Table
    row_filter: tuple[str, tuple[int, ...]] | None = None
    masked: tuple[str, ...] = ()


@dataclass(frozen=True)
class Access:
    """Everything one principal may read; built by `Policy.access`, never by hand in the dashboard."""

    principal: str
    role: str
    gyms: tuple[int, ...]
    tables: Mapping[str, TableAccess] = field(default_factory=dict)
    operations: bool = False

    def table(self, full_name: str) -> TableAccess:
        found = self.tables.get(full_name)
        if found is None:
            raise NotPermitted(self.principal, self.role, full_name)
        return found

    def may_read(self, full_name: str) -> bool:
        return full_name in self.tables

    @property
    def key(self) -> str:
        """A fingerprint of identity and rights: cached query results are keyed by it, so no two users share one."""
        shape = {name: [t.row_filter, list(t.masked)] for name, t in sorted(self.tables.items())}
        text = json.dumps([self.principal, self.role, list(self.gyms), self.operations, shape], default=list)
        return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Policy:
    catalog: str
    governance_schema: str
    roles: Mapping[str, Role]
    row_filters: Mapping[str, RowFilter]
    masked: Mapping[str, tuple[str, ...]]  # table full name -> masked columns, in table order
    members: tuple[Member, ...] = ()
    cluster_policy: Mapping[str, Any] = field(default_factory=dict)

    def role(self, name: str) -> Role:
        if name not in self.roles:
            raise PolicyError(f"unknown role {name!r}; the policy's roles are {', '.join(self.roles)}")
        return self.roles[name]

    def member(self, identity: str) -> Member | None:
        wanted = identity.strip().lower()
        return next((m for m in self.members if m.identity.lower() == wanted), None)

    def access(self, principal: str, role: str, gyms: tuple[int, ...] = ()) -> Access:
        r = self.role(role)
        tables: dict[str, TableAccess] = {}
        for name in r.read:
            row = None
            if r.row_filter:
                rf = self.row_filters[r.row_filter]
                row = (rf.column, tuple(sorted(set(gyms))))
            masked = () if r.unmasked else self.masked.get(name, ())
            tables[name] = TableAccess(BY_NAME[name], row, masked)
        return Access(principal, role, tuple(sorted(set(gyms))) if r.row_filter else (), tables, r.operations)


def _names(value: Any, where: str) -> tuple[str, ...]:
    """Layers and tables as full table names (a layer means all its tables)."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyError(f"{where}: expected a list of layers or layer.table names")
    out: list[str] = []
    for item in value:
        if item in LAYERS:
            out += [t.full_name for t in ALL_TABLES if t.layer == item]
        elif item in BY_NAME:
            out.append(item)
        else:
            raise PolicyError(f"{where}: {item!r} is neither a layer ({', '.join(LAYERS)}) nor a table of the contract")
    return tuple(dict.fromkeys(out))


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PolicyError(f"{where}: expected a mapping")
    return value


def _check_keys(value: dict, allowed: set[str], where: str) -> None:
    unknown = set(value) - allowed
    if unknown:
        raise PolicyError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; "
                          f"allowed: {', '.join(sorted(allowed))}")  # fmt: skip


def _gyms(value: Any, where: str) -> tuple[int, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(g, int) and not isinstance(g, bool) and g >= 0
                                              for g in value):  # fmt: skip
        raise PolicyError(f"{where}: gyms must be a list of gym numbers, e.g. [1, 3]")
    return tuple(sorted(set(value)))


def parse_policy(doc: Any) -> Policy:
    """Validate a parsed policy document; every problem is one `PolicyError` line naming the place."""
    doc = _mapping(doc, "policy")
    _check_keys(doc, {"version", "catalog", "governance_schema", "roles", "row_filters", "masked_columns", "members",
                      "cluster_policy"}, "policy")  # fmt: skip
    if doc.get("version") != 1:
        raise PolicyError("policy: version must be 1")
    catalog, schema = doc.get("catalog"), doc.get("governance_schema", "governance")
    for key, value in (("catalog", catalog), ("governance_schema", schema)):
        if not isinstance(value, str) or not _NAME.match(value):
            raise PolicyError(f"policy: {key} must be a plain identifier (letters, digits, _), got {value!r}")

    filters: dict[str, RowFilter] = {}
    for name, spec in _mapping(doc.get("row_filters") or {}, "row_filters").items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise PolicyError(f"row_filters: {str(name)[:80]!r} is not a plain identifier (letters, digits, _); it "
                              f"names SQL functions and tables")  # fmt: skip
        spec = _mapping(spec, f"row_filters.{name}")
        _check_keys(spec, {"column", "tables"}, f"row_filters.{name}")
        tables = _names(spec.get("tables"), f"row_filters.{name}.tables")
        column = spec.get("column")
        for t in tables:
            if column not in dict(columns(BY_NAME[t])):
                raise PolicyError(f"row_filters.{name}: table {t} has no column {column!r}")
        filters[name] = RowFilter(name, column, tables)

    roles: dict[str, Role] = {}
    groups: set[str] = set()
    for name, spec in _mapping(doc.get("roles"), "roles").items():
        where = f"roles.{name}"
        spec = _mapping(spec, where)
        _check_keys(spec, {"description", "group", "read", "write", "manage", "unmasked", "operations", "row_filter",
                           "service"}, where)  # fmt: skip
        if not isinstance(name, str) or not _NAME.match(name):
            raise PolicyError(f"{where}: role names are identifiers (letters, digits, _)")
        group = spec.get("group")
        if not isinstance(group, str) or not _GROUP.match(group):
            raise PolicyError(f"{where}: group must be a Unity Catalog group name without quotes, got {group!r}")
        if group in groups:
            raise PolicyError(f"{where}: group {group!r} is already used by another role")
        groups.add(group)
        for flag in ("manage", "unmasked", "operations", "service"):
            if not isinstance(spec.get(flag, False), bool):
                raise PolicyError(f"{where}.{flag}: expected true or false")
        row_filter = spec.get("row_filter")
        role = Role(name, group, str(spec.get("description", "")), _names(spec.get("read"), f"{where}.read"),
                    _names(spec.get("write"), f"{where}.write"), spec.get("manage", False), spec.get("unmasked", False),
                    spec.get("operations", False), row_filter, spec.get("service", False))  # fmt: skip
        if not _PLAIN_TEXT.match(role.description):
            raise PolicyError(f"{where}.description: one line of text, without control characters")
        if role.service and (role.write or role.manage or role.operations or row_filter is not None):
            raise PolicyError(f"{where}: a service role only reads; it cannot write, manage, run operations or be "
                              f"row-filtered")  # fmt: skip
        if row_filter is not None:
            if row_filter not in filters:
                raise PolicyError(f"{where}.row_filter: unknown row filter {row_filter!r}")
            column = filters[row_filter].column
            unfiltered = [t for t in role.read if t not in filters[row_filter].tables]
            if unfiltered:
                raise PolicyError(f"{where}: reads {unfiltered[0]}, which row filter {row_filter!r} ({column}) does "
                                  f"not cover")  # fmt: skip
            if role.write or role.manage:
                raise PolicyError(f"{where}: a row-filtered role cannot write or manage tables")
        if not set(role.write) <= set(role.read):
            raise PolicyError(f"{where}: writes {sorted(set(role.write) - set(role.read))[0]} without reading it")
        roles[name] = role
    if not roles:
        raise PolicyError("roles: the policy declares no role")

    masked: dict[str, list[str]] = {}
    entries = doc.get("masked_columns") or []
    if not isinstance(entries, list):
        raise PolicyError("masked_columns: expected a list of column names")
    for entry in entries:
        parts = str(entry).split(".")
        table = ".".join(parts[:2])
        if len(parts) == 1:
            hits = [t.full_name for t in ALL_TABLES if entry in dict(columns(t))]
            if not hits:
                raise PolicyError(f"masked_columns: no table of the contract has a column {entry!r}")
            for t in hits:
                masked.setdefault(t, []).append(entry)
        elif len(parts) == 3 and table in BY_NAME and parts[2] in dict(columns(BY_NAME[table])):
            masked.setdefault(table, []).append(parts[2])
        else:
            raise PolicyError(f"masked_columns: {entry!r} is neither a column name nor layer.table.column")
    ordered = {t: tuple(c for c, _ in columns(BY_NAME[t]) if c in set(cols)) for t, cols in masked.items()}
    for name, rf in filters.items():
        for t in rf.tables:
            if rf.column in ordered.get(t, ()):
                raise PolicyError(f"row_filters.{name}: column {rf.column} of {t} is also masked")

    members: list[Member] = []
    seen: set[str] = set()
    for i, spec in enumerate(doc.get("members") or []):
        where = f"members[{i}]"
        spec = _mapping(spec, where)
        _check_keys(spec, {"identity", "role", "gyms"}, where)
        identity = spec.get("identity")
        if not isinstance(identity, str) or not _IDENTITY.match(identity):
            raise PolicyError(f"{where}: identity must be an e-mail address or user name, got {identity!r}")
        if identity.lower() in seen:
            raise PolicyError(f"{where}: {identity} is listed twice")
        seen.add(identity.lower())
        role_name = spec.get("role")
        if role_name not in roles:
            raise PolicyError(f"{where}: unknown role {role_name!r}; the policy's roles are {', '.join(roles)}")
        gyms = _gyms(spec.get("gyms"), where)
        if roles[role_name].service:
            raise PolicyError(f"{where}: role {role_name} is the dashboard app's own principal, not for people")
        check_gyms(roles[role_name], gyms, where)
        members.append(Member(identity, role_name, gyms))

    cluster = _cluster_policy(doc.get("cluster_policy") or {})
    return Policy(catalog, schema, roles, filters, ordered, tuple(members), cluster)


def _cluster_policy(value: Any) -> dict[str, Any]:
    """The cluster policy section: every name and value a plain string of the kind Databricks expects."""
    spec = _mapping(value, "cluster_policy")
    allowed = {"name", "description", "spark_version_pattern", "data_security_mode", "node_types", "max_workers",
               "fixed_spark_conf", "forbidden_env", "custom_tags"}  # fmt: skip
    _check_keys(spec, allowed, "cluster_policy")
    for key in ("name", "description", "spark_version_pattern", "data_security_mode"):
        if key in spec and not (isinstance(spec[key], str) and _PLAIN_TEXT.match(spec[key])):
            raise PolicyError(f"cluster_policy.{key}: one line of text, without control characters")
    if "spark_version_pattern" in spec:
        try:
            re.compile(spec["spark_version_pattern"])
        except re.error as exc:
            raise PolicyError(f"cluster_policy.spark_version_pattern: not a regular expression ({exc})") from exc
    nodes = spec.get("node_types", [])
    if not isinstance(nodes, list) or not all(isinstance(n, str) and _CONF_KEY.match(n) for n in nodes):
        raise PolicyError("cluster_policy.node_types: a list of node type names (letters, digits, '.', '_', '-')")
    workers = spec.get("max_workers", 0)
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 0:
        raise PolicyError("cluster_policy.max_workers: a number of workers, 0 or more")
    env = spec.get("forbidden_env") or []
    if not isinstance(env, list) or not all(isinstance(n, str) and _ENV_NAME.match(n) for n in env):
        raise PolicyError("cluster_policy.forbidden_env: a list of environment variable names (A-Z, 0-9, _)")
    for key in ("fixed_spark_conf", "custom_tags"):
        pairs = _mapping(spec.get(key) or {}, f"cluster_policy.{key}")
        for name, setting in pairs.items():
            if not (isinstance(name, str) and _CONF_KEY.match(name)):
                raise PolicyError(f"cluster_policy.{key}: {str(name)[:80]!r} is not a plain key (letters, digits, '.', "
                                  f"'_', '-')")  # fmt: skip
            if not (isinstance(setting, str | int | float | bool) and _PLAIN_TEXT.match(str(setting))):
                raise PolicyError(f"cluster_policy.{key}.{name}: one line of text")
    return spec


def check_gyms(role: Role, gyms: tuple[int, ...], where: str) -> None:
    """Gyms belong to row-filtered roles only, and such a role needs at least one."""
    if role.row_filter and not gyms:
        raise PolicyError(f"{where}: role {role.name} sees only the rows of its gyms; give gyms, e.g. --gyms 1,3")
    if gyms and not role.row_filter:
        raise PolicyError(f"{where}: role {role.name} sees every gym; gyms are only for row-filtered roles")


def load_policy(path: Path | str | None = None) -> Policy:
    """Read and validate the policy file (default: governance/policy.yml)."""
    path = Path(path) if path else POLICY_FILE
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise PolicyError(f"cannot read the policy file {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise PolicyError(f"{path}: not valid YAML{at}") from exc
    try:
        return parse_policy(doc)
    except PolicyError as exc:
        raise PolicyError(f"{path}: {exc}") from exc
