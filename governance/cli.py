"""`governance generate|check|sql|apply`: write the deployable files from the policy, check them, print or apply
the Unity Catalog SQL (and revoke what the policy no longer gives). Also `lakehouse governance ...` (the bundle job
runs `apply` from the wheel)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from core.settings import Settings
from governance import generate, unity_catalog
from governance.policy import Policy, PolicyError, load_policy

log = logging.getLogger(__name__)


def _generate(args: argparse.Namespace, settings: Settings) -> int:
    written = generate.write(load_policy(args.policy))
    for path in written:
        log.info("wrote %s", path)
    print(f"{len(written)} file(s) updated" if written else "generated files are up to date")
    return 0


def _check(args: argparse.Namespace, settings: Settings) -> int:
    stale = generate.stale(load_policy(args.policy))
    if stale:
        print(f"out of date with the policy: {', '.join(stale)}; run `python -m governance generate`", file=sys.stderr)
        return 1
    print("policy valid; generated files up to date")
    return 0


def _sql(args: argparse.Namespace, settings: Settings) -> int:
    sys.stdout.write(unity_catalog.render_script(load_policy(args.policy), args.catalog))
    return 0


def apply_statements(statements: Iterable[str], execute: Callable[[str], object]) -> int:
    """Run each statement in order; stops at the first failure, which names the statement."""
    done = 0
    for statement in statements:
        log.info("governance: %s", statement.split(" (", 1)[0][:160])
        try:
            execute(statement)
        except Exception as exc:  # noqa: BLE001 - re-raised with the statement that failed
            raise RuntimeError(f"statement {done + 1} failed: {statement[:200]}: {str(exc).splitlines()[0]}") from exc
        done += 1
    return done


def reconcile(policy: Policy, catalog: str, query: Callable[[str], list[Mapping[str, object]]],
              execute: Callable[[str], object]) -> list[str]:  # fmt: skip
    """SHOW GRANTS on every securable the policy governs, then REVOKE each privilege it does not give; returns the
    REVOKE statements run."""
    desired = unity_catalog.desired_grants(policy, catalog)
    revokes: list[str] = []
    for kind, parts in unity_catalog.securables(policy, catalog):
        statement = unity_catalog.show_grants(kind, parts)
        try:
            rows = query(statement)
        except Exception as exc:  # noqa: BLE001 - re-raised with the statement that failed
            raise RuntimeError(f"{statement} failed: {(str(exc).splitlines() or [type(exc).__name__])[0]}") from exc
        revokes += unity_catalog.revocations(desired, unity_catalog.granted(kind, parts, rows))
    apply_statements(revokes, execute)
    return revokes


def _apply(args: argparse.Namespace, settings: Settings) -> int:
    """On Databricks: create the contract's tables if missing, then run the policy's statements through Spark."""
    catalog = args.catalog or settings.catalog
    if not catalog:
        print("error: give --catalog (or set LAKEHOUSE_CATALOG): grants live in a catalog", file=sys.stderr)
        return 2
    policy = load_policy(args.policy)
    statements = unity_catalog.statements(policy, catalog)
    if args.dry_run:
        sys.stdout.write("".join(f"{s};\n" for s in statements))
        sys.stdout.write("-- then: SHOW GRANTS on every governed securable, REVOKE what the policy does not give\n")
        return 0
    from core.spark import get_spark
    from pipeline.storage import Lakehouse

    spark = get_spark(settings, app_name="governance-apply")
    if settings.catalog == catalog:  # ALTER TABLE needs the tables: create the missing ones as the pipeline would
        Lakehouse(spark, settings).ensure_all()
    try:
        count = apply_statements(statements, spark.sql)
        revoked = reconcile(policy, catalog, lambda sql: [r.asDict() for r in spark.sql(sql).collect()], spark.sql)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"applied {count} governance statements to catalog {catalog}; revoked {len(revoked)} grant(s) the policy "
          f"no longer gives")  # fmt: skip
    return 0


def _one_line_errors(func: Callable[[argparse.Namespace, Settings], int]) -> Callable[..., int]:
    def run(args: argparse.Namespace, settings: Settings) -> int:
        try:
            return func(args, settings)
        except PolicyError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    run.__module__ = func.__module__
    return run


def add_governance_parser(sub) -> None:
    gov = sub.add_parser("governance", help="policy-as-code: generate, check, print or apply the access policy")
    gov_sub = gov.add_subparsers(dest="governance_command", required=True)

    def command(name: str, func, help_text: str) -> argparse.ArgumentParser:
        p = gov_sub.add_parser(name, help=help_text)
        p.add_argument("--policy", type=Path, default=None, help="policy file (default: governance/policy.yml)")
        p.set_defaults(func=_one_line_errors(func))
        return p

    command("generate", _generate, "write the Unity Catalog SQL, the cluster policy JSON and its bundle resource")
    command("check", _check, "validate the policy and check the generated files are up to date (exit 1 if not)")
    sql = command("sql", _sql, "print the Unity Catalog SQL for a catalog")
    sql.add_argument("--catalog", default=None, help="catalog name (default: the policy's)")
    apply = command("apply", _apply, "run the Unity Catalog SQL through Spark (on Databricks)")
    apply.add_argument("--catalog", default=None, help="catalog name (default: LAKEHOUSE_CATALOG)")
    apply.add_argument("--dry-run", action="store_true", help="print the statements instead of running them")


def main(argv: list[str] | None = None) -> int:
    from core.cli import run_group

    return run_group("governance", add_governance_parser, argv)
