"""The results database (connection ``movielens_results``): how to open it and every table it holds.

:class:`ResultsDb` is an engine, the schema of the tables (``MOVIELENS_RESULTS_SCHEMA`` on PostgreSQL, none on
SQLite) and the tables as SQLAlchemy ``Table`` objects:

``movie_rankings``, ``genre_rankings``
    One row per ranked movie, key ``(window_end, method, window_days, rank)``, columns
    :data:`include.movielens.ranking.WINDOW_RANKING_COLUMNS`; the same lists per MovieLens genre, over the
    genre's movies, with ``genre`` in the key; written by :mod:`include.movielens.results`.
``ranking_windows``
    One row per *computed* (window_end, method, window_days): ``n_ratings`` and ``n_movies`` of the window,
    ``computed_at``, and the DAG run that computed it: ``dag_id``, ``run_id``, its ranking ``params`` (JSON;
    NULL outside a DAG run). ``n_ratings = 0``: no ratings in this window; no row: not computed yet.
``popular_movies``, ``ranking_choice``
    The served list and why (:mod:`include.movielens.served`).
``ranking_evaluation``
    The backtest's measurements (:mod:`include.movielens.evaluation`).
``ratings``, ``loaded_days``
    Written by the provider's loader (:mod:`airflow_movielens.ratings_table`); declared here to be read.

Columns added since a table's first release are nullable and added by the next write that misses them
(:meth:`ResultsDb.prepare`, ``ALTER TABLE ... ADD COLUMN``, in the write's transaction).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pandas as pd
import sqlalchemy as sa

from airflow_movielens.dates import as_date
from airflow_movielens.ratings_table import DDL_LOCK_KEY, LOADED_DAYS_TABLE, quoted_name, sql_identifier
from include.movielens import settings

log = logging.getLogger(__name__)
#: A SQL condition (``table.c.x == y``).
Clause = sa.sql.ColumnElement

WINDOWS_TABLE = "ranking_windows"
GENRE_TABLE = "genre_rankings"
SERVED_TABLE = "popular_movies"
CHOICE_TABLE = "ranking_choice"
EVALUATION_TABLE = "ranking_evaluation"


def utc_now() -> dt.datetime:
    """Now as a naive UTC datetime: the tables' timestamps have no time zone (the server's must not apply)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _ranking_columns() -> list[sa.Column]:
    # Fresh Column objects on every call: a Column belongs to exactly one sqlalchemy Table.
    return [
        sa.Column("window_end", sa.Date, primary_key=True),
        sa.Column("method", sa.String(16), primary_key=True),
        sa.Column("window_days", sa.Integer, primary_key=True),
        sa.Column("rank", sa.Integer, primary_key=True),
        sa.Column("window_start", sa.Date, nullable=False),
        sa.Column("movieId", sa.BigInteger, nullable=False),
        sa.Column("title", sa.Text),
        sa.Column("genres", sa.Text),
        sa.Column("n_ratings", sa.Integer, nullable=False),
        sa.Column("mean_rating", sa.Float, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
    ]


def _produced_by() -> list[sa.Column]:
    """``dag_id`` and ``run_id`` of the DAG run that wrote a row (nullable: unknown for older rows)."""
    return [sa.Column("dag_id", sa.String(250)), sa.Column("run_id", sa.String(250))]


class ResultsDb:
    """The results database behind ``engine``; ``schema`` applies where the database has schemas."""

    def __init__(self, engine: sa.engine.Engine, schema: str | None = None, hook: Any = None) -> None:
        self.engine, self.hook = engine, hook
        self.schema = None if engine.dialect.name == "sqlite" else schema
        meta = sa.MetaData(schema=self.schema)
        self.rankings = sa.Table(settings.RESULTS_TABLE, meta, *_ranking_columns())
        self.genres = sa.Table(
            GENRE_TABLE, meta, *_ranking_columns(), sa.Column("genre", sa.String(64), primary_key=True)
        )
        self.windows = sa.Table(
            WINDOWS_TABLE,
            meta,
            *_ranking_columns()[:3],
            sa.Column("n_ratings", sa.BigInteger),
            sa.Column("n_movies", sa.Integer),
            sa.Column("computed_at", sa.DateTime, nullable=False),
            *_produced_by(),
            sa.Column("params", sa.Text),
        )
        served_key = ("window_end", "genre", "rank")
        self.served = sa.Table(
            SERVED_TABLE,
            meta,
            *(sa.Column(c.name, c.type, primary_key=c.name in served_key) for c in self.genres.c),
            sa.Column("choice_from", sa.Date),
            sa.Column("fallback", sa.Boolean, nullable=False),
            *_produced_by(),
        )
        self.choice = sa.Table(
            CHOICE_TABLE,
            meta,
            sa.Column("valid_from", sa.Date, primary_key=True),
            sa.Column("method", sa.String(16), nullable=False),
            sa.Column("window_days", sa.Integer, nullable=False),
            sa.Column("metric", sa.String(16), nullable=False),
            sa.Column("value", sa.Float, nullable=False),
            sa.Column("runner_up_method", sa.String(16)),
            sa.Column("runner_up_window_days", sa.Integer),
            sa.Column("runner_up_value", sa.Float),
            sa.Column("cutoffs", sa.Text, nullable=False),
            sa.Column("users", sa.Integer, nullable=False),
            sa.Column("kept", sa.Boolean, nullable=False),
            sa.Column("fallback_order", sa.Text, nullable=False),
            sa.Column("decided_at", sa.DateTime, nullable=False),
        )
        self.evaluation = sa.Table(
            EVALUATION_TABLE,
            meta,
            sa.Column("cutoff", sa.Date, primary_key=True),
            sa.Column("horizon_days", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("k", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("method", sa.String(16), primary_key=True),
            sa.Column("window", sa.String(8), primary_key=True),
            sa.Column("users", sa.Integer, nullable=False),
            *(sa.Column(name, sa.Float, nullable=False) for name in ("hr", "ndcg", "coverage")),
            sa.Column("computed_at", sa.DateTime, nullable=False),
        )
        self.ratings = sa.Table(
            settings.RATINGS_TABLE,
            meta,
            *(sa.Column(name, sa.BigInteger) for name in ("userId", "movieId")),
            sa.Column("rating", sa.Float),
            sa.Column("timestamp", sa.BigInteger),
        )
        self.loaded_days = sa.Table(LOADED_DAYS_TABLE, meta, sa.Column("day_start", sa.BigInteger))

    @classmethod
    def connect(cls, conn_id: str = settings.RESULTS_CONN_ID) -> ResultsDb:
        """The database of an Airflow connection, through its common-sql hook (SQLite: the connection's
        ``host`` is the file path; PostgreSQL: ``schema`` is the database), on Airflow 2 and 3 alike."""
        # Airflow only once a connection is opened: PopularReader over an engine never imports it.
        from airflow_movielens.version_compat import BaseHook

        hook = BaseHook.get_connection(conn_id).get_hook()
        engine = hook.get_sqlalchemy_engine()
        sqlite = engine.dialect.name == "sqlite"
        schema = None if sqlite else sql_identifier(settings.results_schema(), "MOVIELENS_RESULTS_SCHEMA")
        return cls(engine, schema, hook)

    @property
    def name(self) -> str:
        """``movie_rankings`` as its writers log it (with the schema where there is one)."""
        return f"{self.schema}.{self.rankings.name}" if self.schema else self.rankings.name

    def quoted(self, name: str) -> str:
        """``name`` in this database's schema, quoted (the provider's :func:`quoted_name`)."""
        return quoted_name(name, self.schema)

    def tables(self, conn: sa.engine.Connection) -> set[str]:
        """The names of the tables that exist (one catalogue query)."""
        return set(sa.inspect(conn).get_table_names(schema=self.schema))

    def has(self, conn: sa.engine.Connection, table: sa.Table) -> bool:
        return sa.inspect(conn).has_table(table.name, schema=self.schema)

    def prepare(self, conn: sa.engine.Connection, *tables: sa.Table) -> None:
        """Create ``tables`` where missing and add the nullable columns a stored one lacks, in the caller's
        transaction, under the loader's transaction-scoped lock on PostgreSQL (concurrent first runs race on
        CREATE TABLE: a duplicate key in the type catalogue); readers are not blocked."""
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(DDL_LOCK_KEY)))
        for table in tables:
            table.create(conn, checkfirst=True)
            stored = {column["name"] for column in sa.inspect(conn).get_columns(table.name, self.schema)}
            missing = [column for column in table.columns if column.name not in stored]
            for column in missing:  # a column added since the table's first release
                if not column.nullable:
                    raise ValueError(
                        f"{table.name}.{column.name} is NOT NULL: the stored table is older than this "
                        "version can upgrade (docs/pipeline.md, 'Upgrading')"
                    )
                added = f'"{column.name}" {column.type.compile(dialect=conn.dialect)}'
                conn.execute(sa.text(f"ALTER TABLE {self.quoted(table.name)} ADD COLUMN {added}"))
            if missing:
                log.warning("%s: columns added %s", table.name, [column.name for column in missing])

    def read_list(
        self, table: sa.Table, day: Any, where: Clause, latest: Clause | None = None, limit: int | None = None
    ) -> pd.DataFrame:
        """The rows of a list table on ``day`` that match ``where``, by rank (none if there are none);
        ``day=None``: the latest day of the rows that match ``latest`` (default: of all rows)."""
        rows = []
        with self.engine.connect() as conn:
            if self.has(conn, table):
                if day is None:
                    query = sa.select(sa.func.max(table.c.window_end))
                    day = conn.execute(query if latest is None else query.where(latest)).scalar()
                if day is not None:
                    query = table.select().where(where & (table.c.window_end == as_date(day)))
                    rows = conn.execute(query.order_by(table.c["rank"]).limit(limit)).fetchall()
        return pd.DataFrame(rows, columns=[c.name for c in table.columns])

    def read_loaded_days(self, conn: sa.engine.Connection, start_ts: int, end_ts: int) -> list[int]:
        """The ``day_start`` of every loaded day in ``[start_ts, end_ts)`` (``loaded_days`` must exist)."""
        start = self.loaded_days.c.day_start
        query = sa.select(start).where((start >= start_ts) & (start < end_ts))
        return [int(day) for day in conn.execute(query).scalars()]
