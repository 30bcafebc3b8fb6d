"""Local dashboard users: name, role, gyms and a salted scrypt hash of the password, in the file DASHBOARD_USERS_FILE.

The file never holds a password, only `scrypt(password, salt)` with a random salt per user; checks compare in
constant time, and an unknown name costs the same hash as a known one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from governance.policy import Policy, PolicyError, check_gyms

SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # about 16 MiB and tens of milliseconds per check
_NAME = re.compile(r"^[A-Za-z0-9_.@\-]{1,64}$")
_DUMMY_SALT = bytes(16)


class UsersError(ValueError):
    """The users file or a user's details are unusable; one line for the person at the terminal or the page."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    gyms: tuple[int, ...] = ()


def _hash(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32)


def parse_gyms(text: str | None) -> tuple[int, ...]:
    if not text:
        return ()
    try:
        gyms = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError as exc:
        raise UsersError(f"--gyms {text!r}: give gym numbers separated by commas, e.g. 1,3") from exc
    if any(g < 0 for g in gyms):
        raise UsersError(f"--gyms {text!r}: gym numbers are not negative")
    return gyms


class UsersFile:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def _load(self) -> dict[str, dict]:
        if not self.path.exists():
            return {}
        try:
            doc = json.loads(self.path.read_text())
            users = doc["users"]
            if not isinstance(users, dict):
                raise TypeError
            return users
        except (ValueError, KeyError, TypeError) as exc:
            raise UsersError(f"{self.path} is not a users file (JSON with a 'users' mapping)") from exc

    def _save(self, users: dict[str, dict]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "w") as out:
                json.dump({"version": 1, "users": users}, out, indent=2, sort_keys=True)
                out.write("\n")
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def users(self) -> list[User]:
        return [User(name, u["role"], tuple(u.get("gyms") or ())) for name, u in sorted(self._load().items())]

    def get(self, name: str) -> User | None:
        u = self._load().get(name)
        return None if u is None else User(name, u["role"], tuple(u.get("gyms") or ()))

    def add(self, name: str, role: str, gyms: tuple[int, ...], password: str, policy: Policy) -> User:
        """Create or replace a user; the role and gyms are checked against the policy."""
        if not _NAME.match(name):
            raise UsersError(f"user name {name!r}: use 1-64 letters, digits, '.', '_', '@' or '-'")
        if not password:
            raise UsersError("the password is empty; type one on standard input")
        try:
            check_gyms(policy.role(role), gyms, f"user {name}")
        except PolicyError as exc:
            raise UsersError(str(exc)) from exc
        users = self._load()
        salt = secrets.token_bytes(16)
        users[name] = {"role": role, "gyms": list(gyms), "scheme": "scrypt", **SCRYPT, "salt": salt.hex(),
                       "hash": _hash(password, salt, **SCRYPT).hex()}  # fmt: skip
        self._save(users)
        return User(name, role, gyms)

    def remove(self, name: str) -> bool:
        users = self._load()
        if users.pop(name, None) is None:
            return False
        self._save(users)
        return True

    def verify(self, name: str, password: str) -> User | None:
        """The user when the password is right, else None (same work either way)."""
        u = self._load().get(name)
        if u is None or u.get("scheme") != "scrypt":
            _hash(password, _DUMMY_SALT, **SCRYPT)
            return None
        try:
            salt, expected = bytes.fromhex(u["salt"]), bytes.fromhex(u["hash"])
            got = _hash(password, salt, int(u["n"]), int(u["r"]), int(u["p"]))
        except (KeyError, ValueError) as exc:
            raise UsersError(f"{self.path}: the entry of {name} is damaged; add the user again") from exc
        if not hmac.compare_digest(got, expected):
            return None
        return User(name, u["role"], tuple(u.get("gyms") or ()))
