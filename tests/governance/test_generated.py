"""The deployable files generated from the policy: up to date, valid SQL, a cluster policy the job clusters obey.

Which statements Spark itself parsed: the installed pyspark 4.0.0 parser (`sessionState().sqlParser()`, which parses
without running anything) parses CREATE SCHEMA, CREATE TABLE, INSERT OVERWRITE / TRUNCATE TABLE and every
CREATE OR REPLACE FUNCTION (and, separately, each function's RETURN expression). Spark's open-source grammar has no
GRANT (it refuses it as INVALID_STATEMENT_OR_CLAUSE) and no ALTER TABLE ... SET ROW FILTER / ALTER COLUMN ...
SET MASK (Databricks-only syntax: PARSE_SYNTAX_ERROR); the test asserts that, and checks those statements instead
against their grammar in the Databricks SQL reference (a strict pattern per statement), with every identifier in
them parsed by Spark's `parseMultipartIdentifier`, every privilege from Unity Catalog's list, and every function
they attach created earlier in the same script. No sqlglot or other third-party SQL parser is used.
"""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from governance import cluster_policy, generate, unity_catalog
from governance.cli import apply_statements
from governance.policy import load_policy

POLICY = load_policy()
SCRIPT = (generate.ROOT / "governance/generated/unity_catalog.sql").read_text()
STATEMENTS = unity_catalog.split_script(SCRIPT)

IDENT = r"(?:`[^`]+`(?:\.`[^`]+`)*)"
UC_PRIVILEGES = {"USE CATALOG", "USE SCHEMA", "SELECT", "MODIFY", "CREATE TABLE", "ALL PRIVILEGES", "EXECUTE",
                 "CREATE FUNCTION", "READ VOLUME", "WRITE VOLUME"}  # fmt: skip
DATABRICKS_ONLY = {
    "grant": re.compile(
        rf"GRANT (?P<privs>[A-Z ,]+) ON (?P<kind>CATALOG|SCHEMA|TABLE) (?P<obj>{IDENT}) "
        rf"TO (?P<who>`[^`]+`)"
    ),  # fmt: skip
    "row filter": re.compile(
        rf"ALTER TABLE (?P<obj>{IDENT}) SET ROW FILTER (?P<func>{IDENT}) ON \((?P<cols>{IDENT})\)"
    ),
    "mask": re.compile(rf"ALTER TABLE (?P<obj>{IDENT}) ALTER COLUMN (?P<cols>{IDENT}) SET MASK (?P<func>{IDENT})"),
}
SPARK_PLANS = {"CREATE SCHEMA": "CreateNamespace", "CREATE TABLE": "CreateTable",
               "INSERT OVERWRITE": "InsertIntoStatement", "TRUNCATE TABLE": "TruncateTable",
               "CREATE OR REPLACE FUNCTION": "CreateUserDefinedFunction"}  # fmt: skip


def test_generated_files_are_up_to_date_with_the_policy():
    assert generate.stale(POLICY) == [], "run `python -m governance generate`"


def test_the_committed_sql_is_what_the_bundle_job_applies_for_the_prod_catalog_fake_databricks():
    """`lakehouse governance apply` (the bundle job) runs exactly the committed statements, in order."""
    ran: list[str] = []
    assert apply_statements(unity_catalog.statements(POLICY, "main"), ran.append) == len(STATEMENTS)
    assert ran == STATEMENTS


def test_apply_stops_at_the_first_failing_statement_and_names_it_fake_databricks():
    def execute(sql: str) -> None:
        if sql.startswith("GRANT"):
            raise RuntimeError("PERMISSION_DENIED: not an owner\nstack...")

    with pytest.raises(RuntimeError, match=r"statement \d+ failed: GRANT USE CATALOG .*: PERMISSION_DENIED"):
        apply_statements(STATEMENTS, execute)


def test_another_catalog_changes_only_the_catalog():
    dev = unity_catalog.statements(POLICY, "dev")
    assert [s.replace("`dev`", "`main`") for s in dev] == STATEMENTS
    with pytest.raises(ValueError, match="plain identifier"):
        unity_catalog.statements(POLICY, "main`; DROP CATALOG main; --")


def test_generated_sql_parses_as_spark_sql(spark):
    parser = spark._jsparkSession.sessionState().sqlParser()
    created: set[str] = set()
    spark_parsed, checked = [], []
    for sql in STATEMENTS:
        kind = next((k for k in SPARK_PLANS if sql.startswith(k)), None)
        if kind is not None:
            plan = parser.parsePlan(sql)
            assert plan.getClass().getSimpleName() == SPARK_PLANS[kind], sql
            spark_parsed.append(kind)
            if kind == "CREATE OR REPLACE FUNCTION":
                name = re.match(rf"CREATE OR REPLACE FUNCTION ({IDENT})\(", sql).group(1)
                created.add(name)
                body = sql.split(" RETURN ", 1)[1]
                assert parser.parseExpression(body) is not None
            continue
        with pytest.raises(Exception, match="PARSE_SYNTAX_ERROR|INVALID_STATEMENT_OR_CLAUSE"):
            parser.parsePlan(sql)  # Databricks-only: the open-source grammar really does not know it
        match = next((m for m in (p.fullmatch(sql) for p in DATABRICKS_ONLY.values()) if m), None)
        assert match is not None, f"not a GRANT, SET ROW FILTER or SET MASK statement of the documented form: {sql}"
        parts = match.groupdict()
        parser.parseMultipartIdentifier(parts["obj"])
        if "privs" in parts:
            assert {p.strip() for p in parts["privs"].split(",")} <= UC_PRIVILEGES, sql
            parser.parseMultipartIdentifier(parts["who"])
        else:
            parser.parseMultipartIdentifier(parts["cols"])
            assert parts["func"] in created, f"{sql}: attaches a function the script has not created before"
        checked.append(sql.split(" ", 2)[0])
    assert set(spark_parsed) == set(SPARK_PLANS) - {"TRUNCATE TABLE"}
    assert spark_parsed.count("CREATE OR REPLACE FUNCTION") == 3
    assert checked.count("GRANT") >= 8 and checked.count("ALTER") >= 10


def test_without_gym_managers_the_mapping_table_is_emptied_and_that_parses_too(spark):
    nobody = dataclasses.replace(POLICY, members=())
    (truncate,) = [s for s in unity_catalog.statements(nobody) if s.startswith("TRUNCATE")]
    plan = spark._jsparkSession.sessionState().sqlParser().parsePlan(truncate)
    assert plan.getClass().getSimpleName() == "TruncateTable"


def test_cluster_policy_json_is_the_policy_files_rules():
    rules = json.loads((generate.ROOT / "governance/generated/cluster_policy.json").read_text())
    assert rules == cluster_policy.definition(POLICY)
    assert rules["data_security_mode"] == {"type": "fixed", "value": "SINGLE_USER"}
    assert rules["spark_env_vars.KAFKA_SASL_PASSWORD"] == {"type": "forbidden"}


def test_cluster_policy_refuses_what_it_forbids():
    rules = cluster_policy.definition(POLICY)
    ok = {"spark_version": "17.3.x-scala2.13", "node_type_id": "Standard_D4ds_v5", "num_workers": 2,
          "data_security_mode": "SINGLE_USER", "spark_conf": {"spark.sql.session.timeZone": "UTC"}}  # fmt: skip
    assert cluster_policy.violations(rules, ok) == []
    bad = {**ok, "spark_version": "13.3.x-scala2.12", "num_workers": 40, "data_security_mode": "NONE",
           "spark_env_vars": {"KAFKA_SASL_PASSWORD": "hunter2"}, "node_type_id": "p4d.24xlarge"}  # fmt: skip
    problems = " | ".join(cluster_policy.violations(rules, bad))
    for part in ("spark_version", "num_workers", "data_security_mode", "KAFKA_SASL_PASSWORD is forbidden",
                 "node_type_id"):  # fmt: skip
        assert part in problems
    assert "hunter2" not in problems


@pytest.mark.parametrize("value", ["it's", "back\\slash", "\\' OR 1=1 --", "'; DROP TABLE x; --", "ends with \\"])
def test_every_literal_reads_back_as_itself_in_sparks_parser(spark, value):
    literal = spark._jsparkSession.sessionState().sqlParser().parseExpression(unity_catalog.sql_string(value))
    assert literal.getClass().getSimpleName() == "Literal" and literal.value().toString() == value


def test_a_malicious_row_filter_name_that_slipped_past_validation_still_parses_as_the_same_statements(spark):
    """Names are validated on load; the generator escapes anyway, so each statement stays one statement."""
    evil = "gym' COMMENT 'x` OR 1=1"
    rf = POLICY.row_filters["gym"]
    roles = {n: dataclasses.replace(r, row_filter=evil if r.row_filter else None) for n, r in POLICY.roles.items()}
    tampered = dataclasses.replace(POLICY, roles=roles, row_filters={evil: dataclasses.replace(rf, name=evil)})
    parser = spark._jsparkSession.sessionState().sqlParser()
    for sql in unity_catalog.statements(tampered):
        kind = next((k for k in SPARK_PLANS if sql.startswith(k)), None)
        if kind is not None:
            assert parser.parsePlan(sql).getClass().getSimpleName() == SPARK_PLANS[kind], sql
