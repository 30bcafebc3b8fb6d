"""`python -m app users add|list|remove` (the dashboard's local users) and `python -m app query` (a headless audit:
a table as one user may see it, as CSV, through the same policy code as the dashboard)."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys

from app.config import DashboardConfig, load_config
from app.engines import DataUnavailable, LocalEngine
from core.contract import BY_NAME
from core.settings import Settings
from governance.local import audit_sql, secure_sql
from governance.policy import POLICY_FILE, Access, NotPermitted, Policy, PolicyError, load_policy
from governance.users import UsersError, UsersFile, parse_gyms

log = logging.getLogger(__name__)


def _policy(cfg: DashboardConfig) -> Policy:
    return load_policy(cfg.policy_file or POLICY_FILE)


def _users(cfg: DashboardConfig) -> UsersFile:
    if cfg.users_file is None:
        raise UsersError("set DASHBOARD_USERS_FILE to the path of the users file (it is created on the first add)")
    return UsersFile(cfg.users_file)


def _read_password() -> str:
    """From the terminal (asked twice, not echoed) or the first line of standard input."""
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Repeat the password: "):
            raise UsersError("the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _users_add(args: argparse.Namespace, cfg: DashboardConfig) -> int:
    users = _users(cfg)
    user = users.add(args.name, args.role, parse_gyms(args.gyms), _read_password(), _policy(cfg))
    gyms = f" for gyms {', '.join(map(str, user.gyms))}" if user.gyms else ""
    log.info("user %s saved in %s as %s%s", user.name, users.path, user.role, gyms)
    print(f"{user.name}: {user.role}{gyms}")
    return 0


def _users_list(args: argparse.Namespace, cfg: DashboardConfig) -> int:
    for user in _users(cfg).users():
        print(f"{user.name}\t{user.role}\t{','.join(map(str, user.gyms))}")
    return 0


def _users_remove(args: argparse.Namespace, cfg: DashboardConfig) -> int:
    if not _users(cfg).remove(args.name):
        print(f"error: no user {args.name!r}", file=sys.stderr)
        return 1
    print(f"removed {args.name}")
    return 0


def access_of(name: str, cfg: DashboardConfig, policy: Policy) -> Access:
    """A local user (DASHBOARD_USERS_FILE) or a policy member (e-mail), as the dashboard would sign them in."""
    user = UsersFile(cfg.users_file).get(name) if cfg.users_file else None
    if user is not None:
        return policy.access(user.name, user.role, user.gyms)
    member = policy.member(name)
    if member is not None:
        return policy.access(member.identity, member.role, member.gyms)
    raise UsersError(f"no user {name!r} in DASHBOARD_USERS_FILE or among the policy's members")


def _query(args: argparse.Namespace, cfg: DashboardConfig) -> int:
    if args.table not in BY_NAME:
        print(f"error: {args.table!r} is not a table of the contract; use LAYER.TABLE, e.g. gold.gym_summary",
              file=sys.stderr)  # fmt: skip
        return 2
    rights = access_of(args.user, cfg, _policy(cfg))
    try:
        sql, params = secure_sql(audit_sql(args.table), {}, rights)
    except NotPermitted as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    engine = LocalEngine(cfg.settings)
    try:
        result = engine.query_any(sql, params)
    except DataUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.close()
    result.to_pandas(integer_object_nulls=True).to_csv(sys.stdout, index=False)
    log.info("%s: %d rows of %s as %s", args.user, result.num_rows, args.table, rights.role)
    return 0


def _with_config(func):
    """A handler with the dashboard's configuration and one-line errors."""

    def run(args: argparse.Namespace, settings: Settings) -> int:
        try:
            return func(args, load_config())
        except (UsersError, PolicyError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    run.__module__ = func.__module__
    return run


def add_app_parser(sub) -> None:
    app = sub.add_parser("app", help="the dashboard's users and a headless audit of what a user may see")
    app_sub = app.add_subparsers(dest="app_command", required=True)

    users = app_sub.add_parser("users", help="local dashboard users in DASHBOARD_USERS_FILE")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    add = users_sub.add_parser("add", help="add or replace a user; the password is read from standard input")
    add.add_argument("name")
    add.add_argument("--role", required=True, help="a role of the access policy, e.g. gym_manager")
    add.add_argument("--gyms", default=None, help="gyms of a gym-filtered role, e.g. 1,3")
    add.set_defaults(func=_with_config(_users_add))
    users_sub.add_parser("list", help="name, role and gyms of every user").set_defaults(func=_with_config(_users_list))
    remove = users_sub.add_parser("remove", help="delete a user")
    remove.add_argument("name")
    remove.set_defaults(func=_with_config(_users_remove))

    query = app_sub.add_parser("query", help="print, as CSV, exactly the rows and columns a user may see of a table")
    query.add_argument("--user", required=True, help="a DASHBOARD_USERS_FILE user or a policy member's e-mail")
    query.add_argument("--table", required=True, help="LAYER.TABLE, e.g. gold.workout_bpm_summary")
    query.set_defaults(func=_with_config(_query))


def main(argv: list[str] | None = None) -> int:
    from core.cli import run_group

    return run_group("app", add_app_parser, argv)
