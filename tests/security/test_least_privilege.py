"""Least privilege on Databricks, tried as an attacker: a policy file with malicious names, a table added later, grants
the policy no longer gives, and the app's own principal. No workspace exists here: the tests that stand in for
Databricks say so in their names (`fake_databricks`)."""

from __future__ import annotations

import copy
import dataclasses
import re

import pytest
import yaml

from app.engines import DatabricksEngine
from core.connections import DatabricksOAuth
from core.settings import Settings, SettingsError
from governance.cli import apply_statements, reconcile
from governance.policy import POLICY_FILE, PolicyError, RowFilter, load_policy, parse_policy
from governance.unity_catalog import desired_grants, role_grants, sql_string, statements

POLICY = load_policy()
DOC = yaml.safe_load(POLICY_FILE.read_text())


def _with(change) -> dict:
    doc = copy.deepcopy(DOC)
    change(doc)
    return doc


MALICIOUS = [
    (lambda d: d["row_filters"].update({"gym' ; DROP TABLE x --": d["row_filters"].pop("gym")}), "row_filters: "),
    (lambda d: d["roles"].update({"x`; DROP": {"group": "g", "read": ["gold"]}}), "role names are identifiers"),
    (lambda d: d["roles"]["analyst"].update(group="analysts'); DROP TABLE x; --"), "roles.analyst: group must be"),
    (lambda d: d["members"].append({"identity": "a'@b.c", "role": "analyst"}), "identity must be an e-mail"),
    (lambda d: d.update(governance_schema="gov`.`x"), "governance_schema must be a plain identifier"),
    (lambda d: d["masked_columns"].append("gold.gym_summary.gym'--"), "neither a column name nor layer.table.column"),
    (lambda d: d["cluster_policy"]["custom_tags"].update({'a"b': "x"}), "cluster_policy.custom_tags: "),
    (lambda d: d["cluster_policy"]["forbidden_env"].append("X; rm -rf /"), "cluster_policy.forbidden_env"),
    (lambda d: d["cluster_policy"].update(name="jobs\n  evil: true"), "cluster_policy.name: one line"),
    (lambda d: d["roles"]["analyst"].update(description="x\n-- GRANT"), "roles.analyst.description: one line"),
    (lambda d: d["roles"]["dashboard_app"].update(write=["gold"]), "a service role only reads"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "message"), MALICIOUS, ids=[m for _, m in MALICIOUS])
def test_a_policy_file_with_a_malicious_name_is_refused_in_one_line(change, message):
    with pytest.raises(PolicyError) as raised:
        parse_policy(_with(change))
    assert message in str(raised.value) and "\n" not in str(raised.value)


NASTY = ["it's", "back\\slash", "\\' OR 1=1 --", "'; DROP TABLE x; --", "tab\tand ``backticks``", "ends with \\"]


def sql_tokens(sql: str) -> list[tuple[str, str]]:
    """A statement as Databricks SQL reads it: `quoted identifiers`, 'string literals' (backslash escapes) decoded,
    and the words between them."""
    out, i = [], 0
    while i < len(sql):
        c = sql[i]
        if c.isspace():
            i += 1
        elif c in "`'":
            text, i = "", i + 1
            while sql[i] != c or (c == "`" and sql[i : i + 2] == "``"):
                if c == "'" and sql[i] == "\\" or c == "`" and sql[i] == "`":
                    i += 1
                text, i = text + sql[i], i + 1
            out.append(("ident" if c == "`" else "string", text))
            i += 1
        else:
            j = i
            while j < len(sql) and not sql[j].isspace() and sql[j] not in "`'":
                j += 1
            out.append(("word", sql[i:j]))
            i = j
    return out


@pytest.mark.parametrize("value", NASTY)
def test_every_literal_is_escaped_so_it_reads_back_as_itself(value):
    assert sql_tokens(f"COMMENT {sql_string(value)} RETURN 1") == [("word", "COMMENT"), ("string", value),
                                                                   ("word", "RETURN"), ("word", "1")]  # fmt: skip


def test_a_row_filter_name_that_slipped_past_validation_stays_inside_its_literals_and_identifiers():
    """The generator itself quotes and escapes: even a name no policy file may hold ends no literal early."""
    evil = "gym' COMMENT 'x` OR 1=1"
    rf = POLICY.row_filters["gym"]
    clean = statements(POLICY, "main")
    roles = {n: dataclasses.replace(r, row_filter=evil if r.row_filter else None) for n, r in POLICY.roles.items()}
    renamed = dataclasses.replace(POLICY, roles=roles, row_filters={evil: RowFilter(evil, rf.column, rf.tables)})
    tampered = statements(renamed, "main")
    assert len(tampered) == len(clean)
    for good, bad in zip(clean, tampered, strict=True):
        words = lambda sql: [t for kind, t in sql_tokens(sql) if kind == "word"]  # noqa: E731
        assert words(bad) == words(good), bad  # the same statement shape: nothing of the name became SQL
        if "COMMENT" in words(bad) and "gym_access" in bad.replace(evil, "gym"):
            assert any(evil in text for kind, text in sql_tokens(bad) if kind in ("string", "ident"))


def test_filtered_and_masked_roles_get_select_table_by_table_never_on_a_schema():
    """A table added to a schema later is not readable by a masked or filtered role until the policy names it."""
    for role in POLICY.roles.values():
        grants = role_grants("main", role)
        if role.row_filter or not role.unmasked or role.service:
            assert not [g for g in grants if g.kind in ("SCHEMA", "CATALOG") and g.privilege not in
                        ("USE SCHEMA", "USE CATALOG")], role.name  # fmt: skip
            readable = {".".join(g.securable[1:]) for g in grants if g.privilege == "SELECT"}
            assert readable == set(role.read), role.name


def test_the_apps_principal_reads_what_the_dashboard_shows_and_writes_nothing():
    app = POLICY.roles["dashboard_app"]
    grants = role_grants("main", app)
    assert {g.privilege for g in grants} == {"USE CATALOG", "USE SCHEMA", "SELECT"}
    dashboard_reads = {"gold.workout_bpm_summary", "gold.gym_summary", "silver.workout_bpm", "ops.pipeline_runs",
                       "ops.quarantine", "bronze.kafka_multiplex_bz"}  # fmt: skip
    assert set(app.read) == dashboard_reads and app.unmasked and not app.operations


class FakeUnityCatalog:
    """A stand-in for a workspace's grants: runs GRANT and REVOKE, answers SHOW GRANTS with direct and inherited rows
    (as Databricks lists them), ignores every other statement."""

    GRANT = re.compile(r"(GRANT|REVOKE) (.+) ON (CATALOG|SCHEMA|TABLE) (\S+) (?:TO|FROM) `(.+)`")

    def __init__(self, grants: set[tuple[str, str, str, str]]) -> None:
        self.grants = set(grants)  # (kind, dotted name, principal, privilege)

    def execute(self, sql: str) -> None:
        m = self.GRANT.fullmatch(sql)
        if m is None:
            return
        verb, privileges, kind, name, who = m.groups()
        for privilege in (p.strip() for p in privileges.split(",")):
            key = (kind, name.replace("`", ""), who, privilege)
            self.grants.add(key) if verb == "GRANT" else self.grants.discard(key)

    def show(self, sql: str) -> list[dict]:
        kind, name = re.fullmatch(r"SHOW GRANTS ON (\w+) (\S+)", sql).groups()
        name = name.replace("`", "")
        parents = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        rows = []
        for k, n, who, privilege in sorted(self.grants):
            if n == name or n in parents:  # inherited grants are listed too, with their own object type and key
                object_type = "DATABASE" if k == "SCHEMA" else k  # the documentation's own example says DATABASE
                rows.append({"principal": who, "actionType": privilege.replace(" ", "_"), "objectType": object_type,
                             "objectKey": n})  # fmt: skip
        return rows


def test_governance_job_fake_databricks_revokes_what_the_policy_no_longer_gives():
    stale = {
        ("SCHEMA", "main.gold", "gym-managers", "SELECT"),  # the old schema-wide grant a new gold table would inherit
        ("TABLE", "main.gold.gym_summary", "gym-managers", "MODIFY"),
        ("TABLE", "main.silver.users", "mallory@evil.example", "SELECT"),  # an ad-hoc grant to a person
        ("CATALOG", "main", "retired-group", "USE CATALOG"),
        ("SCHEMA", "main.governance", "analysts", "USE SCHEMA"),
    }
    workspace = FakeUnityCatalog(stale)
    apply_statements(statements(POLICY, "main"), workspace.execute)
    revoked = reconcile(POLICY, "main", workspace.show, workspace.execute)
    wanted = {(g.kind, ".".join(g.securable), g.principal, g.privilege) for g in desired_grants(POLICY, "main")}
    assert workspace.grants == wanted
    assert len(revoked) == len(stale) and all(s.startswith("REVOKE ") for s in revoked)
    assert "REVOKE SELECT ON SCHEMA `main`.`gold` FROM `gym-managers`" in revoked
    assert reconcile(POLICY, "main", workspace.show, workspace.execute) == []  # nothing left to take back


def test_reconcile_fake_databricks_names_the_show_grants_that_failed():
    def refuse(sql: str) -> list[dict]:
        raise RuntimeError("PERMISSION_DENIED: not an owner\nat stack ...")

    with pytest.raises(RuntimeError, match=r"SHOW GRANTS ON CATALOG `main` failed: PERMISSION_DENIED: not an owner$"):
        reconcile(POLICY, "main", refuse, lambda sql: None)


APP_ENV = {"DATABRICKS_SERVER_HOSTNAME": "https://adb-1.2.azuredatabricks.net",
           "DATABRICKS_HTTP_PATH": "/sql/1.0/warehouses/abc", "DATABRICKS_CLIENT_ID": "app-sp-id",
           "DATABRICKS_CLIENT_SECRET": "sp-SECRET-value"}  # fmt: skip


def test_the_app_connects_fake_databricks_with_the_service_principals_oauth_never_a_token():
    calls, posts, now = [], [], [0.0]

    def token_endpoint(url, fields, client_id, secret):
        posts.append((url, fields["grant_type"], client_id))
        return {"access_token": f"short-lived-{len(posts)}", "expires_in": 3600}

    def connect(**kwargs):
        calls.append(kwargs)
        return object()

    settings = Settings.from_env(APP_ENV)
    engine = DatabricksEngine(settings, connect=connect)
    engine._oauth = DatabricksOAuth(settings, post=token_endpoint, clock=lambda: now[0])
    engine._new_connection()
    (kwargs,) = calls
    assert "access_token" not in kwargs and kwargs["server_hostname"] == APP_ENV["DATABRICKS_SERVER_HOSTNAME"]
    headers = kwargs["credentials_provider"]()
    assert headers() == {"Authorization": "Bearer short-lived-1"}
    now[0] = 3600 - 299  # within the renewal margin: a new token before the old one expires
    assert headers() == {"Authorization": "Bearer short-lived-2"}
    assert posts[0] == ("https://adb-1.2.azuredatabricks.net/oidc/v1/token", "client_credentials", "app-sp-id")
    assert "sp-SECRET-value" not in repr(settings)


def test_a_failed_oauth_sign_in_fake_databricks_is_one_line_without_the_secret():
    def refuse(url, fields, client_id, secret):
        raise OSError(f"HTTP 401 for client_secret={secret}\nbody ...")

    oauth = DatabricksOAuth(Settings.from_env(APP_ENV), post=refuse)
    with pytest.raises(SettingsError) as raised:
        oauth.token()
    assert "OAuth sign-in of service principal app-sp-id failed: HTTP 401" in str(raised.value)
    assert "sp-SECRET-value" not in str(raised.value)
