"""The results database of a test, read back with plain drivers (sqlite3, psycopg2), never project code."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from tests.environment import require


@dataclass(frozen=True)
class ResultsDb:
    """A SQLite file or a throwaway PostgreSQL database behind an Airflow connection."""

    kind: str  # "sqlite" or "postgres"
    connection: dict[str, Any]
    path: Path | None = None  # the SQLite file
    server: dict[str, Any] | None = None  # PostgreSQL: host, port, user, dbname

    @property
    def connection_json(self) -> str:
        """The connection as JSON, for ``AIRFLOW_CONN_<ID>`` (SQLite: ``host`` is the file, see GUIDE)."""
        return json.dumps(self.connection)

    @property
    def schema_prefix(self) -> str:
        return "public." if self.kind == "postgres" else ""

    def query(self, sql: str, params: tuple = ()) -> pd.DataFrame:
        """Run ``sql`` (``?`` placeholders) and return the rows."""
        if self.kind == "sqlite":
            with sqlite3.connect(self.path) as conn:
                return pd.read_sql_query(sql, conn, params=params)
        import psycopg2

        with psycopg2.connect(**self.server) as conn, conn.cursor() as cur:
            cur.execute(sql.replace("?", "%s"), params)
            return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])

    def ratings(self, table: str = "ratings") -> pd.DataFrame:
        """Every row of the ratings table in a canonical order."""
        return self.query(
            f'SELECT "userId", "movieId", "rating", "timestamp" FROM {self.schema_prefix}{table} '
            'ORDER BY "timestamp", "userId", "movieId"'
        )

    def rankings(self) -> pd.DataFrame:
        return self.query(f'SELECT * FROM {self.schema_prefix}movie_rankings ORDER BY window_start, "rank"')

    def tables(self) -> list[str]:
        if self.kind == "sqlite":
            sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
        else:
            sql = (
                "SELECT table_schema || '.' || table_name FROM information_schema.tables "
                "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
            )
        return sorted(self.query(sql).iloc[:, 0])


def sqlite_results(path: Path) -> ResultsDb:
    return ResultsDb("sqlite", {"conn_type": "sqlite", "host": str(path)}, path=path)


def postgres_results(database: dict[str, Any]) -> ResultsDb:
    server = {key: database[key] for key in ("host", "port", "user", "dbname")}
    return ResultsDb("postgres", database["connection"], server=server)


@contextlib.contextmanager
def throwaway_postgres_database(server: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Create an empty database on ``server`` (host, port, user); drop it on exit.

    Yields the server's parameters plus ``dbname`` and ``connection``, the Airflow connection (dict form)
    of type ``postgres`` whose ``schema`` is that database.
    """
    import psycopg2

    name = f"movielens_test_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(dbname="postgres", connect_timeout=5, **server)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    connection = {
        "conn_type": "postgres",
        "host": server["host"],
        "port": server["port"],
        "login": server["user"],
        "schema": name,
    }
    try:
        yield {**server, "dbname": name, "connection": connection}
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def require_postgres(server: dict) -> None:
    """Fail (skip inside the Astro image) when the PostgreSQL server of the tests does not answer."""
    import psycopg2

    try:
        psycopg2.connect(dbname="postgres", connect_timeout=5, **server).close()
    except psycopg2.OperationalError as err:
        require(False, f"PostgreSQL not reachable on {server['host']}:{server['port']}: {err}")


def forget_connection_types() -> None:
    """The Astro SDK caches each connection id's type for the life of the process; tests switch it."""
    from astro.databases import _get_conn

    _get_conn.cache_clear()
