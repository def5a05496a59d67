"""The ``movie_rankings`` table of the results connection (``movielens_results``), via the Astro SDK.

One table for every window, primary key ``(window_start, rank)``. The Astro SDK's database layer gives the
engine (SQLite: the connection's ``host`` is the file path; PostgreSQL: ``schema`` is the database) and the
qualified names; the write itself is plain SQLAlchemy so that delete and insert share ONE transaction.
"""

from __future__ import annotations

import datetime as dt
import logging

import pandas as pd
import sqlalchemy as sa
from astro.databases import create_database
from astro.databases.base import BaseDatabase
from astro.table import BaseTable, Metadata, Table

from include.movielens import settings
from include.movielens.ranking import RANKING_COLUMNS

log = logging.getLogger(__name__)


#: ``movie_rankings`` as an Airflow Dataset (the Astro SDK Table is one): ``publish_ranking`` lists it in its
#: outlets, so a downstream recommender DAG can be scheduled on it (``schedule=[RANKINGS_DATASET]``).
RANKINGS_DATASET = Table(name=settings.RESULTS_TABLE, conn_id=settings.RESULTS_CONN_ID)


def _results_columns() -> list[sa.Column]:
    # Fresh Column objects on every call: a Column belongs to exactly one sqlalchemy Table.
    return [
        sa.Column("window_start", sa.Date, primary_key=True),
        sa.Column("window_end", sa.Date, nullable=False),
        sa.Column("rank", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("movieId", sa.BigInteger, nullable=False),
        sa.Column("title", sa.Text),
        sa.Column("genres", sa.Text),
        sa.Column("n_ratings", sa.Integer, nullable=False),
        sa.Column("mean_rating", sa.Float, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
    ]


def results_table(conn_id: str = settings.RESULTS_CONN_ID) -> Table:
    """``movie_rankings`` as an Astro SDK :class:`Table` of ``conn_id`` (with a schema where one exists)."""
    db = create_database(conn_id)
    metadata = Metadata() if db.sql_type == "sqlite" else Metadata(schema=settings.results_schema())
    return Table(name=settings.RESULTS_TABLE, conn_id=conn_id, metadata=metadata, columns=_results_columns())


def _open_results(conn_id: str) -> tuple[BaseDatabase, Table, sa.Table]:
    """The SDK database of ``conn_id``, ``movie_rankings`` as an SDK table and as a SQLAlchemy table."""
    target = results_table(conn_id)
    db = create_database(conn_id, table=target)
    target = db.populate_table_metadata(target)
    return db, target, sa.Table(target.name, target.sqlalchemy_metadata, *_results_columns())


def replace_window(ranking: BaseTable | None, window_start: str, conn_id: str) -> dict:
    """Replace ``window_start``'s rows of ``movie_rankings`` by the rows of ``ranking``, in one transaction.

    ``ranking`` is the (temporary) SDK table written by ``rank_movies``, or ``None`` when that task was
    skipped because nothing could be ranked: the window's old rows are then just deleted. Creates the
    table on first use. On PostgreSQL concurrent writers are serialised by a table lock that still lets
    readers in, so two runs of the same window cannot interleave.

    :return: ``{"table", "window_start", "deleted", "inserted"}`` (small, for XCom).
    """
    db, target, table = _open_results(conn_id)
    name = db.get_table_qualified_name(target)
    window = dt.date.fromisoformat(window_start)
    with db.sqlalchemy_engine.begin() as conn:
        table.create(conn, checkfirst=True)
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text(f"LOCK TABLE {name} IN SHARE ROW EXCLUSIVE MODE"))
        deleted = conn.execute(table.delete().where(table.c.window_start == window)).rowcount
        inserted = 0
        if ranking is not None:
            source = sa.Table(ranking.name, ranking.sqlalchemy_metadata, autoload_with=conn)
            stray = conn.execute(
                sa.select(sa.func.count()).select_from(source).where(source.c.window_start != window)
            ).scalar_one()
            if stray:
                raise ValueError(f"{ranking.name} holds {stray} rows outside the window {window_start}")
            columns = [source.c[column] for column in RANKING_COLUMNS]
            inserted = conn.execute(table.insert().from_select(RANKING_COLUMNS, sa.select(*columns))).rowcount
    log.info("%s: window %s replaced (%d rows deleted, %d inserted)", name, window_start, deleted, inserted)
    return {"table": name, "window_start": window_start, "deleted": deleted, "inserted": inserted}


def read_ranking(
    window_start: str | dt.date | None = None,
    *,
    limit: int | None = None,
    conn_id: str = settings.RESULTS_CONN_ID,
) -> pd.DataFrame:
    """Read a window's ranking (default: the latest window) from ``movie_rankings``, best first.

    What a downstream "popular movies" reader does; also used by ``tools/demo_pipeline.py``.
    Returns an empty frame with the ranking columns when there is nothing to read.
    """
    db, target, table = _open_results(conn_id)
    with db.sqlalchemy_engine.connect() as conn:
        if not sa.inspect(conn).has_table(target.name, schema=target.metadata.schema or None):
            return pd.DataFrame(columns=RANKING_COLUMNS)
        if window_start is None:
            window_start = conn.execute(sa.select(sa.func.max(table.c.window_start))).scalar()
            if window_start is None:
                return pd.DataFrame(columns=RANKING_COLUMNS)
        if isinstance(window_start, str):
            window_start = dt.date.fromisoformat(window_start)
        query = table.select().where(table.c.window_start == window_start).order_by(table.c.rank)
        if limit is not None:
            query = query.limit(limit)
        return pd.DataFrame(conn.execute(query).fetchall(), columns=RANKING_COLUMNS)
