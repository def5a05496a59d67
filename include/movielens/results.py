"""The result tables of the results connection (``movielens_results``), through its common-sql hook.

``movie_rankings``
    One row per ranked movie, key ``(window_end, method, window_days, rank)``, columns
    :data:`include.movielens.ranking.WINDOW_RANKING_COLUMNS`.
``genre_rankings``
    The same lists per MovieLens genre (the genre's movies only): the columns of ``movie_rankings`` plus
    ``genre``, key ``(window_end, method, window_days, genre, rank)``, written with them.
``ranking_windows``
    One row per *computed* (window_end, method, window_days): ``n_ratings`` and ``n_movies`` of the window
    and ``computed_at``. A row with ``n_ratings = 0`` means "no ratings in this window"; no row means "not
    computed yet" (e.g. some of the window's days are not loaded). Which DAG run computed the list:
    ``dag_id``, ``run_id`` and its ranking ``params`` (JSON); NULL for rows written before these columns
    existed or outside a DAG run. Several daily DAGs may publish the same day: the last publish replaces
    the lists it computed whole (rows, genres and this row in one transaction), so a list never mixes two
    runs and its row here names the run it came from.
``loaded_days``
    Written by the loader (:mod:`airflow_movielens.ratings_table`): the days whose ratings are loaded.

**Migration** from the first schema (daily Bayesian rankings, key ``(window_start, rank)``): the first
write that finds ``movie_rankings`` without a ``method`` column copies its rows into a table of the new
schema as ``method = 'bayes'``, ``window_days = 1`` (what they were), records those windows in
``ranking_windows`` with unknown (NULL) counts, drops the old table and renames the new one -- all in the
write's transaction (PostgreSQL's DROP TABLE locks the old table until the commit), so readers see the old
table or the new one. Columns added since (``ranking_windows``' ``dag_id``, ``run_id``, ``params``;
``popular_movies``' ``dag_id``, ``run_id``) are nullable and added by the first write that misses them
(:meth:`ResultTables.add_columns`, ``ALTER TABLE ... ADD COLUMN``, in the write's transaction).

The connection's common-sql hook gives the engine (SQLite: the connection's ``host`` is the file path;
PostgreSQL: ``schema`` is the database), on Airflow 2 and 3 alike (:func:`open_results`); the writes are plain
SQLAlchemy so that they share ONE transaction. Tables written by the ranking tasks (the Astro SDK's or
:mod:`include.movielens.sql_tasks`') are reflected through :func:`include.movielens.compat.table_metadata`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa

from airflow_movielens.days import epoch_day
from airflow_movielens.identifiers import sql_identifier
from airflow_movielens.ratings_table import DDL_LOCK_KEY, LOADED_DAYS_TABLE
from include.movielens import settings
from include.movielens.popularity import METHODS
from include.movielens.ranking import WINDOW_RANKING_COLUMNS

log = logging.getLogger(__name__)

WINDOWS_TABLE = "ranking_windows"
#: An ``INSERT ... SELECT``'s row count: SQLAlchemy 2 (Airflow 3) keeps it only when asked (1.4 ignores this).
_ROWCOUNT = {"preserve_rowcount": True}
GENRE_TABLE = "genre_rankings"
#: What ``ranking_windows`` records of the DAG run that computed a list.
PRODUCED_BY = ("dag_id", "run_id", "params")


def open_results(conn_id: str) -> tuple[Any, sa.engine.Engine, str | None]:
    """The results connection's common-sql hook, its SQLAlchemy engine and the schema of the result tables
    (``None`` on SQLite, else ``MOVIELENS_RESULTS_SCHEMA``, checked as an identifier)."""
    from airflow_movielens.compat import BaseHook

    hook = BaseHook.get_connection(conn_id).get_hook()
    engine = hook.get_sqlalchemy_engine()
    if engine.dialect.name == "sqlite":
        return hook, engine, None
    return hook, engine, sql_identifier(settings.results_schema(), "MOVIELENS_RESULTS_SCHEMA")


def _utc_now() -> dt.datetime:
    """Now as a naive UTC datetime: ``computed_at`` has no time zone, so the server's must not apply."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _results_columns() -> list[sa.Column]:
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


def _genre_columns() -> list[sa.Column]:
    return [*_results_columns(), sa.Column("genre", sa.String(64), primary_key=True)]


def _windows_columns() -> list[sa.Column]:
    return [
        sa.Column("window_end", sa.Date, primary_key=True),
        sa.Column("method", sa.String(16), primary_key=True),
        sa.Column("window_days", sa.Integer, primary_key=True),
        sa.Column("n_ratings", sa.BigInteger),
        sa.Column("n_movies", sa.Integer),
        sa.Column("computed_at", sa.DateTime, nullable=False),
        *provenance_columns(),
        sa.Column("params", sa.Text),
    ]


def provenance_columns() -> list[sa.Column]:
    """``dag_id`` and ``run_id`` of the DAG run that wrote a row (nullable: unknown for older rows)."""
    return [sa.Column("dag_id", sa.String(250)), sa.Column("run_id", sa.String(250))]


class ResultTables:
    """The engine of ``conn_id`` (:func:`open_results`) and its result tables (with a schema where one exists)
    as SQLAlchemy tables."""

    def __init__(self, conn_id: str) -> None:
        self.hook, self.engine, self.schema = open_results(conn_id)
        self.meta = sa.MetaData(schema=self.schema)
        self.rankings = sa.Table(settings.RESULTS_TABLE, self.meta, *_results_columns())
        self.windows = sa.Table(WINDOWS_TABLE, self.meta, *_windows_columns())
        self.genres = sa.Table(GENRE_TABLE, self.meta, *_genre_columns())
        self.name = f"{self.schema}.{settings.RESULTS_TABLE}" if self.schema else settings.RESULTS_TABLE

    def has(self, conn: sa.engine.Connection, name: str) -> bool:
        return sa.inspect(conn).has_table(name, schema=self.schema)

    def qualified(self, name: str) -> str:
        return f'"{self.schema}"."{name}"' if self.schema else f'"{name}"'

    def prepare(self, conn: sa.engine.Connection) -> None:
        """Create the tables, or migrate a first-schema ``movie_rankings`` (see the module docstring)."""
        if conn.dialect.name == "postgresql":
            # The loader's transaction-scoped lock serialises every writer of the results (concurrent first
            # runs race on CREATE TABLE: a duplicate key in the type catalogue); readers are not blocked.
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(DDL_LOCK_KEY)))
        self.windows.create(conn, checkfirst=True)
        self.add_columns(conn, self.windows)
        self.genres.create(conn, checkfirst=True)
        if not self.has(conn, self.rankings.name):
            self.rankings.create(conn)
            return
        columns = {column["name"] for column in sa.inspect(conn).get_columns(self.rankings.name, self.schema)}
        if "method" not in columns:
            self._migrate(conn)

    def add_columns(self, conn: sa.engine.Connection, table: sa.Table) -> list[str]:
        """Add the nullable columns of ``table`` that its stored table lacks (a table created before they
        existed), in the caller's transaction; the names added."""
        stored = {column["name"] for column in sa.inspect(conn).get_columns(table.name, self.schema)}
        missing = [column for column in table.columns if column.name not in stored]
        for column in missing:
            if not column.nullable:
                raise ValueError(f"{table.name}.{column.name} is NOT NULL: it needs a migration of its own")
            added = f'"{column.name}" {column.type.compile(dialect=conn.dialect)}'
            conn.execute(sa.text(f"ALTER TABLE {self.qualified(table.name)} ADD COLUMN {added}"))
        if missing:
            log.warning("%s: columns added %s", table.name, [column.name for column in missing])
        return [column.name for column in missing]

    def _migrate(self, conn: sa.engine.Connection) -> None:
        old = sa.Table(self.rankings.name, sa.MetaData(), autoload_with=conn, schema=self.schema)
        new = sa.Table(f"{self.rankings.name}__v2", sa.MetaData(), *_results_columns(), schema=self.schema)
        new.drop(conn, checkfirst=True)
        new.create(conn)
        names = ["window_end", "method", "window_days", "rank", "window_start"]
        names += ["movieId", "title", "genres", "n_ratings", "mean_rating", "score"]
        moved = sa.select(
            old.c.window_end, sa.literal("bayes"), sa.literal(1), old.c["rank"], old.c.window_start,
            old.c.movieId, old.c.title, old.c.genres, old.c.n_ratings, old.c.mean_rating, old.c.score,
        )  # fmt: skip
        count = conn.execute(new.insert().from_select(names, moved).execution_options(**_ROWCOUNT)).rowcount
        ends = sa.select(
            old.c.window_end, sa.literal("bayes"), sa.literal(1), sa.literal(_utc_now())
        ).distinct()
        windows = ["window_end", "method", "window_days", "computed_at"]
        conn.execute(self.windows.insert().from_select(windows, ends))
        old.drop(conn)
        conn.execute(sa.text(f'ALTER TABLE {self.qualified(new.name)} RENAME TO "{self.rankings.name}"'))
        log.warning(
            "%s migrated to the (window_end, method, window_days, rank) key: %d rows", self.name, count
        )


def loaded_days(conn_id: str, start_ts: int, end_ts: int) -> list[int]:
    """The ``day_start`` of every loaded day in ``[start_ts, end_ts)`` (none if nothing was ever loaded)."""
    results = ResultTables(conn_id)
    days = sa.Table(
        LOADED_DAYS_TABLE, sa.MetaData(), sa.Column("day_start", sa.BigInteger), schema=results.schema
    )
    with results.engine.connect() as conn:
        if not results.has(conn, LOADED_DAYS_TABLE):
            return []
        query = sa.select(days.c.day_start).where(days.c.day_start >= start_ts, days.c.day_start < end_ts)
        return [int(day) for day in conn.execute(query).scalars()]


def _reflect(conn: sa.engine.Connection, handle: Any) -> sa.Table:
    """A table written by a ranking task (an Astro SDK table or a :mod:`.sql_tasks` handle), reflected."""
    from include.movielens.compat import table_metadata

    name, metadata = table_metadata(handle)
    return sa.Table(name, metadata, autoload_with=conn)


def _window_totals(
    conn: sa.engine.Connection, stats: Any, window_days: Sequence[int]
) -> dict[int, tuple[int, int]]:
    """``{window_days: (n_ratings, n_movies)}`` from the per-(window, movie) aggregate table; ``(0, 0)`` for
    a window without rows."""
    totals = dict.fromkeys(window_days, (0, 0))
    if stats is None:
        return totals
    source = _reflect(conn, stats)
    column = {c.name.lower(): c for c in source.columns}
    query = sa.select(column["window_days"], sa.func.sum(column["n_ratings"]), sa.func.count()).group_by(
        column["window_days"]
    )
    totals.update({int(days): (int(n), int(movies)) for days, n, movies in conn.execute(query)})
    return totals


def replace_windows(
    ranking: Any,
    stats: Any,
    plan: dict,
    conn_id: str,
    methods: Sequence[str] = METHODS,
    genres: pd.DataFrame | None = None,
    also: Callable[[sa.engine.Connection, ResultTables, dt.date], object] | None = None,
    produced_by: Mapping[str, str] | None = None,
) -> dict:
    """Replace the rankings of the plan's complete windows ending at its end, in ONE transaction.

    ``ranking`` is the (temporary) table written by ``rank_movies``, or ``None`` when that task was skipped
    because nothing could be ranked: the windows' old rows are then just deleted. ``stats`` is the aggregate
    of ``aggregate_windows`` (the window totals of ``ranking_windows``). Creates or migrates the tables on
    first use. On PostgreSQL concurrent writers are serialised by an advisory lock that lets readers in.
    Windows not in ``plan["complete"]`` are left untouched. ``genres``: the windows' lists per genre
    (:func:`ranking.rank_genres`), stored in ``genre_rankings``. ``also(conn, tables, window_end)`` runs last
    inside the same transaction (the served list is published there: :mod:`.served`). ``produced_by``:
    the ``dag_id``, ``run_id`` and ``params`` recorded in the windows' ``ranking_windows`` rows.

    :return: ``{"table", "window_end", "windows", "deleted", "inserted", "missing"}`` (small, for XCom).
    """
    results = ResultTables(conn_id)
    end = epoch_day(int(plan["window_end_ts"]))
    complete = [int(days) for days in plan["complete"]]
    table, windows, genre_table = results.rankings, results.windows, results.genres
    with results.engine.begin() as conn:
        results.prepare(conn)
        mine = (table.c.window_end == end) & table.c.window_days.in_(complete)
        deleted = conn.execute(table.delete().where(mine)).rowcount
        mine_genres = (genre_table.c.window_end == end) & genre_table.c.window_days.in_(complete)
        conn.execute(genre_table.delete().where(mine_genres))
        conn.execute(
            windows.delete().where((windows.c.window_end == end) & windows.c.window_days.in_(complete))
        )
        inserted = 0
        if ranking is not None and complete:
            source = _reflect(conn, ranking)
            outside = (source.c.window_end != end) | ~source.c.window_days.in_(complete)
            stray = conn.execute(sa.select(sa.func.count()).select_from(source).where(outside)).scalar_one()
            if stray:
                raise ValueError(
                    f"{source.name} holds {stray} rows outside the windows {complete} ending {end}"
                )
            columns = [source.c[column] for column in WINDOW_RANKING_COLUMNS]
            query = table.insert().from_select(WINDOW_RANKING_COLUMNS, sa.select(*columns))
            inserted = conn.execute(query.execution_options(**_ROWCOUNT)).rowcount
        if genres is not None and not genres.empty and complete:
            rows = genres[[*WINDOW_RANKING_COLUMNS, "genre"]]
            stray = (rows["window_end"] != end) | ~rows["window_days"].isin(complete)
            if stray.any():
                raise ValueError(
                    f"{int(stray.sum())} genre rows lie outside the windows {complete} ending {end}"
                )
            conn.execute(genre_table.insert(), rows.to_dict("records"))
        totals = _window_totals(conn, stats, complete)
        now = _utc_now()
        rows = [
            {
                "window_end": end,
                "method": method,
                "window_days": days,
                "n_ratings": totals[days][0],
                "n_movies": totals[days][1],
                "computed_at": now,
                **{key: (produced_by or {}).get(key) for key in PRODUCED_BY},
            }
            for days in complete
            for method in methods
        ]
        if rows:
            conn.execute(windows.insert(), rows)
        extra = also(conn, results, end) if also is not None else None
    log.info(
        "%s: windows %s ending %s replaced (%d rows deleted, %d inserted); not computed: %s",
        results.name, complete, end, deleted, inserted, plan["missing"] or "none",
    )  # fmt: skip
    return {
        "table": results.name,
        "window_end": end.isoformat(),
        "windows": complete,
        "deleted": deleted,
        "inserted": inserted,
        "missing": plan["missing"],
        **({"also": extra} if extra is not None else {}),
    }


def read_ranking(
    window_end: str | dt.date | None = None,
    *,
    method: str = "bayes",
    window_days: int = 1,
    limit: int | None = None,
    conn_id: str = settings.RESULTS_CONN_ID,
) -> pd.DataFrame:
    """Read one (window_end, method, window_days) ranking (default: the latest end) from ``movie_rankings``.

    What a downstream "popular movies" reader does; also used by ``tools/demo_pipeline.py``.
    Returns an empty frame with the ranking columns when there is nothing to read.
    """
    results = ResultTables(conn_id)
    table = results.rankings
    empty = pd.DataFrame(columns=WINDOW_RANKING_COLUMNS)
    with results.engine.connect() as conn:
        if not results.has(conn, table.name):
            return empty
        mine = (table.c.method == method) & (table.c.window_days == window_days)
        if window_end is None:
            window_end = conn.execute(sa.select(sa.func.max(table.c.window_end)).where(mine)).scalar()
            if window_end is None:
                return empty
        if isinstance(window_end, str):
            window_end = dt.date.fromisoformat(window_end)
        query = table.select().where(mine & (table.c.window_end == window_end)).order_by(table.c["rank"])
        if limit is not None:
            query = query.limit(limit)
        return pd.DataFrame(conn.execute(query).fetchall(), columns=[c.name for c in table.columns])[
            WINDOW_RANKING_COLUMNS
        ]
