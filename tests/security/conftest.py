"""Fixtures of the attack tests: the dashboard tests' demo lakehouse and environment, a users file, and a real
`streamlit run` reached over the network."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.service import exited, free_port, wait_until
from governance.policy import load_policy
from governance.users import UsersFile
from tests.app.conftest import APP, app_env, demo_lakehouse, fresh_caches, texts  # noqa: F401 - shared fixtures

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a long enough password for tests"
USERS = {"root": ("platform_admin", ()), "ana": ("analyst", ()), "mgr3": ("gym_manager", (3,))}


@pytest.fixture
def users_env(app_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> UsersFile:  # noqa: F811
    users = UsersFile(tmp_path / "users.json")
    for name, (role, gyms) in USERS.items():
        users.add(name, role, gyms, PASSWORD, load_policy())
    monkeypatch.setenv("DASHBOARD_USERS_FILE", str(users.path))
    monkeypatch.setenv("DASHBOARD_AUTH", "users-file")
    return users


def attempt(name: str, password: str, at: AppTest | None = None) -> AppTest:
    """One sign-in through the form (in a new browser session unless `at` is given)."""
    if at is None:
        at = AppTest.from_file(APP, default_timeout=60)
        at.run()
    at.text_input(key="signin_user").input(name)
    at.text_input(key="signin_password").input(password)
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def visit() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def shown(at: AppTest) -> str:
    return texts(at)


def non_loopback_address() -> str:
    """An address of this machine that is not loopback (where a visitor from the network would connect)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
        address = s.getsockname()[0]
    assert not address.startswith("127."), "these tests need a network interface besides loopback"
    return address


def listening_addresses(port: int) -> set[str]:
    """The local addresses with a socket listening on `port`, from /proc/net/tcp and tcp6 (as `ss -ltn` shows)."""
    found = set()
    for name, width in (("tcp", 8), ("tcp6", 32)):
        path = Path("/proc/net") / name
        for line in path.read_text().splitlines()[1:] if path.exists() else []:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port and len(address) == width:
                raw = bytes.fromhex(address)
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))  # little-endian 32-bit words
                family = socket.AF_INET if width == 8 else socket.AF_INET6
                found.add(socket.inet_ntop(family, words))
    return found


@contextmanager
def streamlit_run(env: Mapping[str, str], log_file: Path, *args: str) -> Iterator[int]:
    """`streamlit run app/streamlit_app.py` from the project root, as the README shows it, on a free port with only
    `args` added; yields the port."""
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not re.match(r"^(STREAMLIT_|DASHBOARD_)", k)}
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port), *args]
    with log_file.open("ab") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**clean, **env}, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        wait_until(lambda: listening_addresses(port), 90, f"streamlit on port {port}", 0.2, abort=exited(proc))
        health = f"http://127.0.0.1:{port}/_stcore/health"
        wait_until(lambda: urllib.request.urlopen(health, timeout=2).status == 200, 60, "the dashboard's health",
                   0.2, retry_on=(OSError,))  # fmt: skip
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
