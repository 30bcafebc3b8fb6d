"""A local PostgreSQL server from Debian's package, as the operational source database: started, checked and stopped
like the Kafka broker, with its data under `<data_dir>/postgres`.

Layout of `data_dir` (owner-only): `server/pgdata` the cluster (owned by the `postgres` OS user when we are root),
`postgres.pid` and `postgres.log`, `password` (the project role's) and `admin-password` (the superuser's), both
generated once and never logged, and `connection.json` (host, port, database, user; no secret).

The server listens on 127.0.0.1 only, with no Unix socket, and every connection signs in with scram-sha-256.
"""

from __future__ import annotations

import json
import logging
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from core.connections import libpq_conninfo
from core.service import Service, ServiceError, pid_alive, port_open, wait_until
from core.settings import Settings

log = logging.getLogger(__name__)

PACKAGE = "postgresql"
PG_ROOT = Path("/usr/lib/postgresql")
DEFAULT_PORT = 5433  # not 5432, so a system server on the standard port does not clash
DATABASE = "lakehouse"
USER = "lake"
OS_USER = "postgres"  # initdb and the server refuse to run as root: as root, they run as this user
CONNECTION_FILE = "connection.json"  # where the server last started: host, port, database, user (no secret)
_FD = 3  # as root, the server's folder is handed to the server as this open descriptor (see _server_argv)


class PostgresError(RuntimeError):
    """The local server cannot be installed, started or reached; the message is one line for the user."""


def _newest_bin(root: Path = PG_ROOT) -> Path | None:
    """`/usr/lib/postgresql/<newest version>/bin`, or None when no version with a server is installed."""
    versions = [p for p in root.glob("*") if p.name.isdigit() and (p / "bin" / "postgres").exists()]
    return max(versions, key=lambda p: int(p.name)) / "bin" if versions else None


def postgres_bin(cluster_version: str | None = None) -> Path:
    """The server's binaries: those of the cluster's major version when it exists (a cluster only runs under its
    own), else the newest; as root with apt-get, Debian's `postgresql` package is installed when none is."""
    if cluster_version and (PG_ROOT / cluster_version / "bin" / "postgres").exists():
        return PG_ROOT / cluster_version / "bin"
    found = _newest_bin()
    if found is not None:
        if cluster_version:
            raise PostgresError(f"the cluster was made by PostgreSQL {cluster_version}, whose server is not in "
                                f"{PG_ROOT}; install postgresql-{cluster_version} or start from a new data "
                                "folder")  # fmt: skip
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise PostgresError(f"PostgreSQL is not installed: install Debian's `{PACKAGE}` package "
                            f"(sudo apt-get install {PACKAGE})")  # fmt: skip
    log.warning("installing Debian's %s package (first run only) ...", PACKAGE)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", PACKAGE]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise PostgresError(f"`{' '.join(cmd)}` failed: {last[0]}")
    found = _newest_bin()
    if found is None:
        raise PostgresError(f"Debian's {PACKAGE} package was installed but no server is in {PG_ROOT}/*/bin")
    return found


def _as_root() -> bool:
    return os.geteuid() == 0


def _secret_file(path: Path) -> str:
    """The secret in `path`, generated (owner-only) on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(24))
    return path.read_text().strip()


@dataclass
class LocalPostgres:
    """One PostgreSQL server process with a project database and role; its state lives in `data_dir`."""

    data_dir: Path
    port: int = DEFAULT_PORT
    host: str = "127.0.0.1"
    dbname: str = DATABASE
    user: str = USER
    # extra server settings (`-c name=value`), e.g. fsync=off for a throw-away test server
    server_settings: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings, port: int | None = None) -> LocalPostgres:
        """The server under `<data_dir>/postgres`, on `port`, else the port it last started on, else 5433."""
        server = cls(data_dir=settings.data_dir / "postgres")
        server.port = port or server._recorded_port() or DEFAULT_PORT
        return server

    def _recorded_port(self) -> int | None:
        """The port the server last started on, from `connection.json`."""
        try:
            return int(json.loads((self.data_dir / CONNECTION_FILE).read_text())["port"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    @property
    def service(self) -> Service:
        return Service("postgres", self.data_dir, stop_timeout=30.0)

    @property
    def server_dir(self) -> Path:
        return self.data_dir / "server"

    @property
    def pgdata(self) -> Path:
        return self.server_dir / "pgdata"

    @property
    def log_file(self) -> Path:
        return self.service.log_file

    @property
    def password(self) -> str:
        """The project role's password (generated on first use, kept owner-only in the data folder)."""
        return _secret_file(self.data_dir / "password")

    @property
    def admin_password(self) -> str:
        return _secret_file(self.data_dir / "admin-password")

    @property
    def jdbc_url(self) -> str:
        """The project database's JDBC URL, without credentials (SOURCE_DB_USER/SOURCE_DB_PASSWORD carry them)."""
        return f"jdbc:postgresql://{self.host}:{self.port}/{self.dbname}"

    def conninfo(self, dbname: str | None = None, admin: bool = False) -> str:
        """A libpq connection string for psycopg: the project role, or the superuser with `admin`."""
        user, password = (OS_USER, self.admin_password) if admin else (self.user, self.password)
        return libpq_conninfo(host=self.host, port=self.port, dbname=dbname or self.dbname, user=user,
                              password=password, connect_timeout=5)  # fmt: skip

    def pid(self) -> int | None:
        return self.service.pid()

    def accepts_connections(self) -> bool:
        """Health: the superuser can connect and run a query."""
        import psycopg

        try:
            with psycopg.connect(self.conninfo("postgres", admin=True), connect_timeout=2) as conn:
                return conn.execute("SELECT 1").fetchone() == (1,)
        except psycopg.Error:
            return False

    def is_running(self) -> bool:
        return self.pid() is not None and self.accepts_connections()

    def _run_as_server_user(self, argv: list[str]) -> list[str]:
        """`argv` as the user that owns the cluster: ourselves, or (as root) the `postgres` OS user.

        As root, the data folder sits inside owner-only folders the `postgres` user cannot traverse. A root shell opens
        `server/` as descriptor 3 and execs the program as `postgres`, which reaches the folder through
        /proc/self/fd/3 and nothing else of ours; setpriv execs in place, so the recorded pid is the server's."""
        if not _as_root():
            return argv
        if shutil.which("setpriv") is None:
            raise PostgresError("running PostgreSQL as root needs util-linux's `setpriv` (to become the postgres user)")
        return ["sh", "-c", f'exec {_FD}<"$1" && shift && exec setpriv --reuid={OS_USER} --regid={OS_USER} '
                '--init-groups -- "$@"', "sh", str(self.server_dir), *argv]  # fmt: skip

    def _cluster_path(self, *parts: str) -> str:
        """A path inside `server/` as the server user sees it (see _run_as_server_user)."""
        base = f"/proc/self/fd/{_FD}" if _as_root() else str(self.server_dir.resolve())
        return "/".join([base, *parts])

    def _prepare_server_dir(self) -> None:
        self.server_dir.mkdir(parents=True, exist_ok=True)
        self.server_dir.chmod(0o700)
        if _as_root():
            try:
                ids = pwd.getpwnam(OS_USER)
            except KeyError as exc:
                raise PostgresError(f"the `{OS_USER}` OS user is missing; reinstall Debian's {PACKAGE}") from exc
            for path in (self.server_dir, *self.server_dir.rglob("*")):
                os.chown(path, ids.pw_uid, ids.pw_gid, follow_symlinks=False)

    def _initdb(self, bin_dir: Path) -> None:
        """Create the cluster: superuser `postgres` with the admin password, scram-sha-256 everywhere."""
        self._prepare_server_dir()
        pwfile = self.server_dir / "initpw"  # read by initdb, removed right after
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(self.admin_password + "\n")
        try:
            self._prepare_server_dir()  # the password file too belongs to the server user
            argv = [str(bin_dir / "initdb"), "-D", self._cluster_path("pgdata"), "-U", OS_USER,
                    f"--pwfile={self._cluster_path('initpw')}", "--auth=scram-sha-256", "--encoding=UTF8",
                    "--locale=C.UTF-8", "--no-instructions"]  # fmt: skip
            done = subprocess.run(self._run_as_server_user(argv), capture_output=True, text=True)
        finally:
            pwfile.unlink(missing_ok=True)
        if done.returncode != 0:
            shutil.rmtree(self.pgdata, ignore_errors=True)
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise PostgresError(f"initdb failed: {last[0]}")

    def _server_argv(self, bin_dir: Path) -> list[str]:
        options = {"listen_addresses": self.host, "port": str(self.port), "unix_socket_directories": "",
                   "password_encryption": "scram-sha-256", **self.server_settings}  # fmt: skip
        argv = [str(bin_dir / "postgres"), "-D", self._cluster_path("pgdata")]
        for name, value in options.items():
            argv += ["-c", f"{name}={value}"]
        return self._run_as_server_user(argv)

    def start(self, timeout: float = 60.0) -> str:
        """Start the server (or reuse the running one), make sure the project role and database exist, and return
        the JDBC URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        if self.pid() is None:
            if port_open(self.host, self.port):
                raise PostgresError(f"port {self.host}:{self.port} is already in use by another process; "
                                    "choose another port (--port)")  # fmt: skip
            version_file = self.pgdata / "PG_VERSION"
            bin_dir = postgres_bin(version_file.read_text().strip() if version_file.exists() else None)
            if not version_file.exists():
                log.info("creating a PostgreSQL cluster in %s", self.pgdata)
                self._initdb(bin_dir)
            try:
                self.service.start(self._server_argv(bin_dir), ready=self.accepts_connections, timeout=timeout)
            except ServiceError as exc:
                raise PostgresError(f"PostgreSQL {exc}") from exc
        else:
            running_port = self._recorded_port()
            if running_port not in (None, self.port):
                raise PostgresError(f"the local PostgreSQL server already runs on port {running_port} (pid "
                                    f"{self.pid()}); stop it first to start it on port {self.port}")  # fmt: skip
            try:
                wait_until(self.accepts_connections, timeout, "PostgreSQL to accept connections", interval=0.2)
            except TimeoutError as exc:
                raise PostgresError(f"{exc}; see {self.log_file}") from exc
        self._ensure_role_and_database()
        (self.data_dir / CONNECTION_FILE).write_text(json.dumps(
            {"host": self.host, "port": self.port, "dbname": self.dbname, "user": self.user}))  # fmt: skip
        log.info("PostgreSQL up at %s (pid %s)", self.jdbc_url, self.pid())
        return self.jdbc_url

    def _ensure_role_and_database(self) -> None:
        """The project role (its password set from the password file each start) and its own database."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.conninfo("postgres", admin=True), autocommit=True) as conn:
            # a SCRAM verifier made here: the plain password never travels in a statement the server could log
            verifier = conn.pgconn.encrypt_password(self.password.encode(), self.user.encode(), b"scram-sha-256")
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (self.user,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(sql.SQL(verb + " ROLE {} LOGIN NOCREATEDB NOCREATEROLE NOSUPERUSER PASSWORD {}").format(
                sql.Identifier(self.user), sql.Literal(verifier.decode())))  # fmt: skip
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.dbname,)).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(self.dbname),
                                                                           sql.Identifier(self.user)))  # fmt: skip

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the server: a fast shutdown (SIGINT: sessions are ended, the data is consistent), then what
        Service.stop does for a process that does not stop; False if none was running."""
        pid = self.pid()
        if pid is None:
            return self.service.stop()
        try:
            os.kill(pid, signal.SIGINT)  # SIGTERM would be a "smart" shutdown that waits for every client to leave
        except ProcessLookupError:
            pass
        try:
            wait_until(lambda: not pid_alive(pid), timeout, "PostgreSQL to shut down", interval=0.1)
        except TimeoutError:
            log.warning("PostgreSQL did not shut down within %.0fs; stopping it", timeout)
        self.service.stop(timeout=5.0)  # forgets the pid file; kills what a shutdown left behind
        return True

    def version(self) -> str | None:
        bin_dir = _newest_bin()
        if bin_dir is None:
            return None
        out = subprocess.run([str(bin_dir / "postgres"), "--version"], capture_output=True, text=True).stdout
        match = re.search(r"(\d+(?:\.\d+)*)", out)
        return match.group(1) if match else None

    def status(self) -> dict[str, object]:
        pid = self.pid()
        return {"url": self.jdbc_url, "user": self.user, "pid": pid, "running": pid is not None
                and self.accepts_connections(), "data_dir": str(self.data_dir), "log": str(self.log_file),
                "version": self.version()}  # fmt: skip
