"""Local dashboard users: name, role, gyms and a salted scrypt hash of the password, in the file DASHBOARD_USERS_FILE.

The file never holds a password, only `scrypt(password, salt)` with a random salt per user at OWASP's cost; checks
compare in constant time, an unknown name costs the same hash as a known one, and repeated failures for one name
wait longer each time (`FailedSignIns`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from governance.policy import Policy, PolicyError, check_gyms

SCRYPT = {"n": 2**17, "r": 8, "p": 1}  # OWASP's minimum for scrypt: 128 MiB and a few hundred ms per check
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
_NAME = re.compile(r"^[A-Za-z0-9_.@\-]{1,64}$")
_HEX = re.compile(r"^[0-9a-f]{32,128}$")
_DUMMY_SALT = bytes(16)


class UsersError(ValueError):
    """The users file or a user's details are unusable; one line for the person at the terminal or the page."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    gyms: tuple[int, ...] = ()
    stamp: str = ""  # changes with the password, the role or the gyms: a session signed in before is ended


def _hash(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    maxmem = 128 * r * (n + p + 2) + (1 << 20)  # what scrypt needs for these parameters, plus a margin
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=32)


def _stamp(entry: dict[str, Any]) -> str:
    text = json.dumps([entry["role"], entry["gyms"], entry["salt"], entry["hash"]])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _user(name: str, entry: dict[str, Any]) -> User:
    return User(name, entry["role"], tuple(entry["gyms"]), _stamp(entry))


def _valid_entry(name: Any, entry: Any) -> str | None:
    """Why a users-file entry is unusable, or None when it is a well-formed user."""
    if not isinstance(name, str) or not _NAME.match(name):
        return "the user name is not 1-64 letters, digits, '.', '_', '@' or '-'"
    if not isinstance(entry, dict):
        return "not an object with role, gyms and a password hash"
    if not isinstance(entry.get("role"), str):
        return "no role"
    gyms = entry.get("gyms", [])
    if not isinstance(gyms, list) or not all(isinstance(g, int) and not isinstance(g, bool) and g >= 0 for g in gyms):
        return "gyms is not a list of gym numbers"
    if entry.get("scheme") != "scrypt":
        return "the password hash is not scrypt"
    n, r, p = (entry.get(k) for k in ("n", "r", "p"))
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (n, r, p)):
        return "the scrypt parameters are not numbers"
    if not (2**14 <= n <= 2**20 and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16):
        return "the scrypt parameters are out of range"
    if not all(isinstance(entry.get(k), str) and _HEX.match(entry[k]) for k in ("salt", "hash")):
        return "the salt or hash is not hexadecimal"
    return None


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


def check_password(password: str) -> None:
    """A password long enough to resist guessing (length matters more than character classes)."""
    if not password:
        raise UsersError("the password is empty; type one on standard input")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UsersError(f"the password is too short: use at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UsersError(f"the password is too long: use at most {MAX_PASSWORD_LENGTH} characters")


class UsersFile:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def _raw(self) -> dict[Any, Any]:
        if not self.path.exists():
            return {}
        try:
            users = json.loads(self.path.read_text())["users"]
            if not isinstance(users, dict):
                raise TypeError
            return users
        except (ValueError, KeyError, TypeError) as exc:
            raise UsersError(f"{self.path} is not a users file (JSON with a 'users' mapping)") from exc

    def _load(self) -> dict[str, dict[str, Any]]:
        """Every entry, checked: one bad entry makes the whole file unusable, so nobody signs in on a guess."""
        users = self._raw()
        for name, entry in users.items():
            why = _valid_entry(name, entry)
            if why is not None:
                raise UsersError(f"{self.path}: the entry {str(name)[:64]!r} is unusable ({why}); nobody can "
                                 "sign in until it is removed or added again (`python -m app users`)")  # fmt: skip
        return users

    def _save(self, users: dict[str, Any]) -> None:
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
        return [_user(name, u) for name, u in sorted(self._load().items())]

    def get(self, name: str) -> User | None:
        u = self._load().get(name)
        return None if u is None else _user(name, u)

    def add(self, name: str, role: str, gyms: tuple[int, ...], password: str, policy: Policy) -> User:
        """Create or replace a user; the role and gyms are checked against the policy."""
        if not _NAME.match(name):
            raise UsersError(f"user name {name!r}: use 1-64 letters, digits, '.', '_', '@' or '-'")
        check_password(password)
        try:
            check_person(policy, role, gyms, f"user {name}")
        except PolicyError as exc:
            raise UsersError(str(exc)) from exc
        users = self._load()
        users[name] = _entry(role, gyms, password)
        self._save(users)
        return _user(name, users[name])

    def remove(self, name: str) -> bool:
        users = self._raw()  # a damaged entry can be removed, so the file becomes usable again
        if users.pop(name, None) is None:
            return False
        self._save(users)
        return True

    def verify(self, name: str, password: str) -> User | None:
        """The user when the password is right, else None (same work either way). A hash made at a lower cost than
        today's is made again at today's cost."""
        users = self._load()
        u = users.get(name)
        if u is None or len(password) > MAX_PASSWORD_LENGTH:
            _hash(password[:MAX_PASSWORD_LENGTH], _DUMMY_SALT, **SCRYPT)
            return None
        got = _hash(password, bytes.fromhex(u["salt"]), u["n"], u["r"], u["p"])
        if not hmac.compare_digest(got, bytes.fromhex(u["hash"])):
            return None
        if (u["n"], u["r"], u["p"]) < (SCRYPT["n"], SCRYPT["r"], SCRYPT["p"]):
            users[name] = _entry(u["role"], tuple(u["gyms"]), password)
            self._save(users)
        return _user(name, users[name])


def _entry(role: str, gyms: tuple[int, ...], password: str) -> dict[str, Any]:
    salt = secrets.token_bytes(16)
    return {"role": role, "gyms": list(gyms), "scheme": "scrypt", **SCRYPT, "salt": salt.hex(),
            "hash": _hash(password, salt, **SCRYPT).hex()}  # fmt: skip


def check_person(policy: Policy, role: str, gyms: tuple[int, ...], where: str) -> None:
    """A role and gyms a person may sign in with: a role of the policy, not the dashboard app's own, gyms that fit."""
    found = policy.role(role)
    if found.service:
        raise PolicyError(f"{where}: role {role} is the dashboard app's own principal, not for people")
    check_gyms(found, gyms, where)


class FailedSignIns:
    """Backoff per user name: after `free` failures in a row, each attempt waits twice as long as the last (up to
    `cap` seconds), whichever session it comes from. Unknown names are counted alike, so the wait tells nothing."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, free: int = 3, base: float = 2.0,
                 cap: float = 900.0, max_names: int = 10_000) -> None:  # fmt: skip
        self.clock = clock
        self.free, self.base, self.cap, self.max_names = free, base, cap, max_names
        self._failures: dict[str, tuple[int, float]] = {}  # name -> (failures in a row, time it may try again)
        self._lock = threading.Lock()

    @staticmethod
    def _key(name: str) -> str:
        return name.strip().lower()[:128]

    def wait(self, name: str) -> float:
        """Seconds until this name may try a password again (0: now)."""
        with self._lock:
            _, until = self._failures.get(self._key(name), (0, 0.0))
        return max(0.0, until - self.clock())

    def failed(self, name: str) -> float:
        """Count a failure; returns the wait it imposes."""
        with self._lock:
            now = self.clock()
            if len(self._failures) >= self.max_names:  # bounded memory: names whose wait is over, then the oldest
                for key in [k for k, (_, until) in self._failures.items() if until <= now]:
                    del self._failures[key]
                while len(self._failures) >= self.max_names:
                    del self._failures[next(iter(self._failures))]
            count = self._failures.get(self._key(name), (0, 0.0))[0] + 1
            delay = 0.0 if count <= self.free else min(self.cap, self.base * 2 ** (count - self.free - 1))
            self._failures[self._key(name)] = (count, now + delay)
            return delay

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(self._key(name), None)
