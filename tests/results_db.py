"""The results database of a test, read back with plain drivers (sqlite3, psycopg2), never project code."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class ResultsDb:
    """A SQLite file or a throwaway PostgreSQL database behind an Airflow connection."""

    kind: str  # "sqlite" or "postgres"
    connection: dict[str, Any]
    path: Path | None = None  # the SQLite file
    server: Any = None  # PostgreSQL: the session's server (tests/postgres.py PostgresServer)
    dbname: str | None = None

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
        with contextlib.closing(self.server.connect(self.dbname)) as conn, conn.cursor() as cur:
            cur.execute(sql.replace("?", "%s"), params)
            return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])

    def execute(self, sql: str, params: tuple = ()) -> None:
        """Run one statement (``?`` placeholders) that returns no rows, and commit it."""
        if self.kind == "sqlite":
            with contextlib.closing(sqlite3.connect(self.path)) as conn, conn:
                conn.execute(sql, params)
            return
        # psycopg2: leaving the connection's own context commits; closing() then closes it
        with contextlib.closing(self.server.connect(self.dbname)) as conn, conn, conn.cursor() as cur:
            cur.execute(sql.replace("?", "%s"), params)

    def ratings(self, table: str = "ratings") -> pd.DataFrame:
        """Every row of the ratings table in a canonical order."""
        return self.query(
            f'SELECT "userId", "movieId", "rating", "timestamp" FROM {self.schema_prefix}{table} '
            'ORDER BY "timestamp", "userId", "movieId"'
        )

    def rankings(self) -> pd.DataFrame:
        return self.query(
            f"SELECT * FROM {self.schema_prefix}movie_rankings "
            'ORDER BY window_end, window_days, method, "rank"'
        )

    def ranking_windows(self) -> pd.DataFrame:
        return self.query(
            "SELECT window_end, method, window_days, n_ratings, n_movies "
            f"FROM {self.schema_prefix}ranking_windows ORDER BY window_end, window_days, method"
        )

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


@contextlib.contextmanager
def results_database(kind: str, folder: Path, postgres_server: Any = None) -> Iterator[ResultsDb]:
    """A fresh results database: ``folder/results.db``, or a new database on ``postgres_server``
    (tests/postgres.py), dropped on exit."""
    if kind == "sqlite":
        folder.mkdir(parents=True, exist_ok=True)
        yield sqlite_results(folder / "results.db")
        return
    with postgres_server.database() as name:
        connection = json.loads(postgres_server.connection_json(name))
        yield ResultsDb("postgres", connection, server=postgres_server, dbname=name)


def forget_connection_types() -> None:
    """The Astro SDK caches each connection id's type for the life of the process; tests switch it."""
    try:
        from astro.databases import _get_conn
    except ImportError:  # no Astro SDK (the provider's Airflow 3 environment): nothing is cached
        return
    _get_conn.cache_clear()
