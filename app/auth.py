"""Who is looking at the dashboard, and what the policy lets them see.

One of four sign-ins, chosen by `DashboardConfig.auth_mode` (app/config.py), or none:
- `databricks-apps`: the identity the Databricks Apps proxy forwards (`X-Forwarded-Email`), trusted only there;
- `oidc`: Streamlit's `st.login` with the `[auth]` section of secrets.toml; only a verified e-mail is mapped;
- `users-file`: a sign-in form over DASHBOARD_USERS_FILE (scrypt hashes, backoff per name, governance/users.py);
- `local-admin`: nobody signs in; the one local user is a platform admin, served to this machine's own address only;
- `none`: nothing is configured, so nobody is signed in and the page says how to configure a sign-in.
E-mail identities get their role and gyms from the policy's `members`. The signed-in principal lives in the session
state, which the browser cannot write, and `access()` turns it into the policy's view for app/data.py.
"""

from __future__ import annotations

import ipaddress
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
from streamlit import runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from app.config import NO_SIGN_IN, DashboardConfig
from governance.policy import POLICY_FILE, Access, Policy, PolicyError, load_policy
from governance.users import FailedSignIns, UsersError, UsersFile, check_person

log = logging.getLogger(__name__)

SESSION_KEY = "_governance_principal"
LOCAL_ADMIN = "local-admin"
WRONG_PASSWORD = "Wrong user name or password."
LOCK = ":material/lock:"


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    gyms: tuple[int, ...] = ()
    source: str = LOCAL_ADMIN  # how they signed in
    stamp: str = ""  # users file: the entry's stamp at sign-in; a new password, role or gyms ends the session

    def describe(self) -> str:
        gyms = f", gyms {', '.join(map(str, self.gyms))}" if self.gyms else ""
        return f"{self.name} ({self.role}{gyms})"


class SignInRefused(PermissionError):
    """Signed in, but not someone the policy knows."""


@st.cache_resource(show_spinner=False, ttl=60)
def _policy(path: str, mtime: float) -> Policy:
    return load_policy(path)


def policy(cfg: DashboardConfig) -> Policy:
    """The policy file, re-read when it changes."""
    path = Path(cfg.policy_file or POLICY_FILE)
    try:
        mtime = path.stat().st_mtime
    except OSError as exc:
        raise PolicyError(f"cannot read the policy file {path}: {exc.strerror}") from exc
    return _policy(str(path), mtime)


@st.cache_resource(show_spinner=False)
def failed_sign_ins() -> FailedSignIns:
    """The server's one record of failed sign-ins per user name, shared by every session."""
    return FailedSignIns()


def request_headers() -> Mapping[str, str]:
    """The HTTP headers of this session's browser connection (any browser can send any of them)."""
    return st.context.headers


def client_address() -> str | None:
    """The TCP peer of this session's browser connection: an IP address, "" when the server does not know it, None
    when no network is involved (the script runs in-process, as streamlit.testing does)."""
    ctx = get_script_run_ctx()
    if ctx is None or not runtime.exists():
        return None
    client = runtime.get_instance().get_client(ctx.session_id)
    if client is None:
        return ""
    remote = getattr(getattr(client, "client_context", None), "remote_ip", None)
    if remote is None:
        return ""
    return remote if isinstance(remote, str) else None  # not a string: an in-process stand-in for a client


def is_loopback(address: str | None) -> bool:
    if address is None:
        return True
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def local_admin(pol: Policy) -> Principal:
    role = next((r.name for r in pol.roles.values() if r.manage), None)
    if role is None:
        raise PolicyError("the policy has no role with `manage: true` for the local admin")
    return Principal(LOCAL_ADMIN, role, (), LOCAL_ADMIN)


def from_identity(pol: Policy, identity: str, source: str) -> Principal:
    member = pol.member(identity)
    if member is None or pol.roles[member.role].service:
        raise SignInRefused(f"{identity} is not a member of the access policy; ask a platform admin to add you.")
    return Principal(member.identity, member.role, member.gyms, source)


def verified_email(claims: dict) -> str:
    """The e-mail of an OIDC sign-in, only when the identity provider says it verified it (an unverified address
    could be anyone's, e.g. a self-registered account at a public provider)."""
    email = str(claims.get("email") or "").strip()
    verified = claims.get("email_verified")
    if not email:
        raise SignInRefused("Your identity provider sent no e-mail address; the dashboard maps e-mails to roles.")
    if verified is not True and str(verified).lower() != "true":
        raise SignInRefused(f"Your identity provider has not verified {email}; only verified e-mails are signed in.")
    return email


def current() -> Principal | None:
    found = st.session_state.get(SESSION_KEY)
    return found if isinstance(found, Principal) else None


def access(cfg: DashboardConfig) -> Access:
    """What the signed-in principal may see; raises PermissionError when nobody is signed in."""
    who = current()
    if who is None:
        raise PermissionError("Nobody is signed in.")
    return policy(cfg).access(who.name, who.role, who.gyms)


def sees_error_details(cfg: DashboardConfig) -> bool:
    """Whether the viewer is a platform admin (a managing or operations role), who is shown an error's own text."""
    who = current()
    if who is None:
        return False
    try:
        role = policy(cfg).roles.get(who.role)
    except PolicyError:
        return False
    return bool(role and (role.manage or role.operations))


def _sign_out() -> None:
    st.session_state.pop(SESSION_KEY, None)


def _users_form(cfg: DashboardConfig, pol: Policy) -> Principal | None:
    users = UsersFile(cfg.users_file)  # type: ignore[arg-type]
    if not users.path.exists():
        log.error("dashboard sign-in unavailable: DASHBOARD_USERS_FILE names %s, which does not exist", users.path)
        st.error("Sign-in is unavailable: the users file (DASHBOARD_USERS_FILE) does not exist. Create a user with "
                 "`python -m app users add NAME --role ROLE`.", icon=LOCK)  # fmt: skip
        return None
    try:
        users.users()  # a damaged file signs nobody in: say so before anyone types a password
    except UsersError as exc:
        log.error("dashboard sign-in unavailable: %s", exc)
        st.error("Sign-in is unavailable: the users file (DASHBOARD_USERS_FILE) has an unusable entry. A platform "
                 "admin can find which in the dashboard's log.", icon=LOCK)  # fmt: skip
        return None
    st.title("Sign in")
    with st.form("signin", clear_on_submit=True):
        name = st.text_input("User name", key="signin_user")
        password = st.text_input("Password", type="password", key="signin_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if not submitted:
        return None
    return _check_password(users, pol, name.strip(), password)


def _check_password(users: UsersFile, pol: Policy, name: str, password: str) -> Principal | None:
    throttle = failed_sign_ins()
    wait = throttle.wait(name)
    if wait > 0:  # the password is not even checked while the name waits
        log.info("dashboard sign-in refused: a name with repeated failures tried again %.0f s early", wait)
        st.error(f"Too many failed sign-ins for this user name: try again in {math.ceil(wait)} s.", icon=LOCK)
        return None
    try:
        user = users.verify(name, password)
    except UsersError as exc:
        log.error("dashboard sign-in unavailable: %s", exc)
        st.error("Sign-in is unavailable: the users file cannot be read. A platform admin can find why in the "
                 "dashboard's log.", icon=LOCK)  # fmt: skip
        return None
    if user is None:
        delay = throttle.failed(name)
        # a mistyped password can land in the name field: only a name that exists is worth logging
        reason = f"wrong password for {name}" if users.get(name) else "unknown user name"
        log.info("dashboard sign-in refused: %s", reason)
        st.error(WRONG_PASSWORD + (f" Wait {math.ceil(delay)} s before the next attempt." if delay else ""))
        return None
    try:
        check_person(pol, user.role, user.gyms, f"user {user.name}")
    except PolicyError as exc:
        log.error("dashboard sign-in refused: %s", exc)
        st.error("Your account does not fit the access policy; ask a platform admin to add you again.", icon=LOCK)
        return None
    throttle.succeeded(name)
    log.info("dashboard sign-in: %s as %s", user.name, user.role)
    return Principal(user.name, user.role, user.gyms, "password", user.stamp)


def _oidc(pol: Policy) -> Principal | None:
    if not st.user.is_logged_in:
        st.title("Sign in")
        st.button("Log in", on_click=st.login, type="primary", key="oidc_login")
        return None
    return from_identity(pol, verified_email(st.user.to_dict()), "oidc")


def _forwarded(pol: Policy) -> Principal | None:
    """The identity the Databricks Apps proxy forwards; app/config.py allows this mode only inside a Databricks App."""
    headers = request_headers()
    email = headers.get("X-Forwarded-Email") or headers.get("X-Forwarded-Preferred-Username")
    if not email:
        st.error("No user identity was forwarded by Databricks Apps.", icon=LOCK)
        return None
    return from_identity(pol, email, "databricks-apps")


def _local(pol: Policy) -> Principal | None:
    """The local admin, for a browser on this machine only: a visitor from another address gets nothing."""
    address = client_address()
    if not is_loopback(address):
        log.warning("local-admin mode refused a visitor from %s", address or "an unknown address")
        st.error(
            "This dashboard runs in local mode (DASHBOARD_AUTH=local-admin) and serves this machine only. "
            "To let others in, configure a sign-in: DASHBOARD_USERS_FILE, OIDC or a Databricks App.",
            icon=LOCK,
        )
        return None
    return local_admin(pol)


def _not_configured() -> None:
    st.title("Sign-in not configured")
    st.error("Nobody can be signed in: no sign-in is configured. Set DASHBOARD_USERS_FILE (local users), an [auth] "
             "section in .streamlit/secrets.toml (OIDC), or DASHBOARD_AUTH=local-admin for one user on this machine "
             "(`./dev up` does that).", icon=LOCK)  # fmt: skip


def _still_valid(cfg: DashboardConfig, who: Principal | None) -> Principal | None:
    """A password session follows the users file: a removed user, a new password, role or gyms end it."""
    if who is None or who.source != "password":
        return None
    try:
        user = UsersFile(cfg.users_file).get(who.name)  # type: ignore[arg-type]
    except UsersError:
        return None
    if user is None or user.stamp != who.stamp:
        log.info("dashboard session of %s ended: the user was removed or changed", who.name)
        st.info("Your session has ended: your account changed. Sign in again.", icon=LOCK)
        return None
    return who


def sign_in(cfg: DashboardConfig) -> Principal | None:
    """The signed-in principal, showing a sign-in page when needed (None: the page must stop here)."""
    if cfg.auth_mode == NO_SIGN_IN:
        _sign_out()
        _not_configured()
        return None
    try:
        pol = policy(cfg)
        who = current()
        if cfg.auth_mode == "users-file":
            who = _still_valid(cfg, who) or _users_form(cfg, pol)
        elif cfg.auth_mode == "oidc":
            who = _oidc(pol)  # st.user is the truth on every run: a logout elsewhere signs out here too
        elif cfg.auth_mode == "databricks-apps":
            who = _forwarded(pol)  # the proxy sends the identity with every request
        else:
            who = _local(pol)
    except SignInRefused as exc:
        _sign_out()
        st.error(str(exc), icon=LOCK)
        if cfg.auth_mode == "oidc":
            st.button("Log out", on_click=st.logout, key="oidc_logout")
        return None
    except PolicyError as exc:
        _sign_out()
        log.error("the access policy cannot be used: %s", exc)
        st.error("The access policy cannot be used, so nobody is signed in. A platform admin can find why in the "
                 "dashboard's log.", icon=LOCK)  # fmt: skip
        return None
    if who is None:
        _sign_out()
        return None
    if current() != who:
        st.session_state[SESSION_KEY] = who
        if who.source == "password":
            st.rerun()  # draw the dashboard instead of the form
    _sidebar(who)
    return who


def _sidebar(who: Principal) -> None:
    with st.sidebar:
        if who.source == LOCAL_ADMIN:
            st.caption(f"Local mode: everyone on this machine is **{who.role}** (DASHBOARD_AUTH=local-admin).",
                       help="Set DASHBOARD_USERS_FILE, OIDC or run as a Databricks App to sign people in.")  # fmt: skip
            return
        st.caption(f"Signed in as **{who.describe()}**")
        if who.source == "password":
            st.button("Sign out", on_click=_sign_out, key="sign_out", icon=":material/logout:")
        elif who.source == "oidc":
            st.button("Log out", on_click=st.logout, key="oidc_logout", icon=":material/logout:")
