"""Who is looking at the dashboard, and what the policy lets them see.

One of four sign-ins, chosen by `DashboardConfig.auth_mode` (app/config.py):
- `databricks-apps`: the identity the Databricks Apps proxy forwards (`X-Forwarded-Email`), trusted only there;
- `oidc`: Streamlit's `st.login` with the `[auth]` section of secrets.toml;
- `users-file`: a sign-in form over DASHBOARD_USERS_FILE (salted scrypt hashes, governance/users.py);
- `local-admin`: nobody signs in; the one local user is a platform admin, and the sidebar says so.
E-mail identities get their role and gyms from the policy's `members`. The signed-in principal lives in the session
state, which the browser cannot write, and `access()` turns it into the policy's view for app/data.py.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from app.config import DashboardConfig
from governance.policy import POLICY_FILE, Access, Policy, PolicyError, load_policy
from governance.users import UsersError, UsersFile

log = logging.getLogger(__name__)

SESSION_KEY = "_governance_principal"
LOCAL_ADMIN = "local-admin"


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    gyms: tuple[int, ...] = ()
    source: str = LOCAL_ADMIN  # how they signed in

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


def local_admin(pol: Policy) -> Principal:
    role = next((r.name for r in pol.roles.values() if r.manage), None)
    if role is None:
        raise PolicyError("the policy has no role with `manage: true` for the local admin")
    return Principal(LOCAL_ADMIN, role, (), LOCAL_ADMIN)


def from_identity(pol: Policy, identity: str, source: str) -> Principal:
    member = pol.member(identity)
    if member is None:
        raise SignInRefused(f"{identity} is not a member of the access policy; ask a platform admin to add you.")
    return Principal(member.identity, member.role, member.gyms, source)


def current() -> Principal | None:
    found = st.session_state.get(SESSION_KEY)
    return found if isinstance(found, Principal) else None


def access(cfg: DashboardConfig) -> Access:
    """What the signed-in principal may see; raises PermissionError when nobody is signed in."""
    who = current()
    if who is None:
        raise PermissionError("Nobody is signed in.")
    return policy(cfg).access(who.name, who.role, who.gyms)


def _sign_out() -> None:
    st.session_state.pop(SESSION_KEY, None)


def _users_form(cfg: DashboardConfig, pol: Policy) -> Principal | None:
    users = UsersFile(cfg.users_file)  # type: ignore[arg-type]
    if not users.path.exists():
        st.error(f"DASHBOARD_USERS_FILE names {users.path}, which does not exist. Create a user with "
                 "`python -m app users add NAME --role ROLE`.", icon=":material/lock:")  # fmt: skip
        return None
    st.title("Sign in")
    with st.form("signin", clear_on_submit=True):
        name = st.text_input("User name", key="signin_user")
        password = st.text_input("Password", type="password", key="signin_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if not submitted:
        return None
    try:
        user = users.verify(name.strip(), password)
    except UsersError as exc:
        st.error(str(exc))
        return None
    if user is None:
        # a mistyped password can land in the name field: only a name that exists is worth logging
        reason = f"wrong password for {name.strip()}" if users.get(name.strip()) else "unknown user name"
        log.info("dashboard sign-in refused: %s", reason)
        st.error("Wrong user name or password.")
        return None
    log.info("dashboard sign-in: %s as %s", user.name, user.role)
    return Principal(user.name, user.role, user.gyms, "password")


def _oidc(pol: Policy) -> Principal | None:
    if not st.user.is_logged_in:
        st.title("Sign in")
        st.button("Log in", on_click=st.login, type="primary", key="oidc_login")
        return None
    email = str(st.user.get("email") or "")
    return from_identity(pol, email, "oidc")


def _forwarded(pol: Policy) -> Principal | None:
    headers = st.context.headers
    email = headers.get("X-Forwarded-Email") or headers.get("X-Forwarded-Preferred-Username")
    if not email:
        st.error("No user identity was forwarded by Databricks Apps.", icon=":material/lock:")
        return None
    return from_identity(pol, email, "databricks-apps")


def _still_valid(cfg: DashboardConfig, who: Principal | None) -> Principal | None:
    """A password session follows the users file: a removed user is signed out, a changed role applies at once."""
    if who is None or who.source != "password":
        return None
    try:
        user = UsersFile(cfg.users_file).get(who.name)  # type: ignore[arg-type]
    except UsersError:
        return None
    return None if user is None else Principal(user.name, user.role, user.gyms, "password")


def sign_in(cfg: DashboardConfig) -> Principal | None:
    """The signed-in principal, showing a sign-in page when needed (None: the page must stop here)."""
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
            who = local_admin(pol)
    except SignInRefused as exc:
        _sign_out()
        st.error(str(exc), icon=":material/lock:")
        if cfg.auth_mode == "oidc":
            st.button("Log out", on_click=st.logout, key="oidc_logout")
        return None
    except PolicyError as exc:
        _sign_out()
        st.error(f"The access policy cannot be used: {exc}", icon=":material/lock:")
        return None
    if who is None:
        _sign_out()
        return None
    if current() != who:
        st.session_state[SESSION_KEY] = who
        if who.source == "password":
            st.rerun()  # draw the dashboard instead of the form
    _sidebar(cfg, who)
    return who


def _sidebar(cfg: DashboardConfig, who: Principal) -> None:
    with st.sidebar:
        if who.source == LOCAL_ADMIN:
            st.caption(f"Local mode: everyone is **{who.role}** (no DASHBOARD_USERS_FILE or sign-in configured).",
                       help="Set DASHBOARD_USERS_FILE, OIDC or run as a Databricks App to sign people in.")  # fmt: skip
            return
        st.caption(f"Signed in as **{who.describe()}**")
        if who.source == "password":
            st.button("Sign out", on_click=_sign_out, key="sign_out", icon=":material/logout:")
        elif who.source == "oidc":
            st.button("Log out", on_click=st.logout, key="oidc_logout", icon=":material/logout:")
