"""The rankings of the daily DAGs in the results database: ``movie_rankings``, ``genre_rankings`` and
``ranking_windows`` (defined in :mod:`include.movielens.database`), replaced a plan's windows at a time.

Several daily DAGs may publish the same day: the last publish replaces the lists it computed whole, in one
transaction, so a list never mixes two runs and its ``ranking_windows`` row names the run it came from. The
writes are plain SQLAlchemy so that they share that transaction; the tables the ranking tasks wrote are
reflected through :func:`include.movielens.compat.table_metadata`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa

from airflow_movielens.dates import epoch_day
from include.movielens import settings
from include.movielens.compat import table_metadata
from include.movielens.database import ResultsDb, utc_now
from include.movielens.popularity import METHODS
from include.movielens.ranking import WINDOW_RANKING_COLUMNS, canonical_names

log = logging.getLogger(__name__)

#: An ``INSERT ... SELECT``'s row count: SQLAlchemy 2 (Airflow 3) keeps it only when asked (1.4 ignores this).
_ROWCOUNT = {"preserve_rowcount": True}
#: What ``ranking_windows`` records of the DAG run that computed a list.
PRODUCED_BY = ("dag_id", "run_id", "params")


def prepare(conn: sa.engine.Connection, results: ResultsDb) -> None:
    """Create the ranking tables where missing, or add the columns they lack, in the caller's transaction."""
    results.prepare(conn, results.windows, results.genres, results.rankings)


def loaded_days(conn_id: str, start_ts: int, end_ts: int) -> list[int]:
    """The ``day_start`` of every loaded day in ``[start_ts, end_ts)`` (none if nothing was ever loaded)."""
    results = ResultsDb.connect(conn_id)
    with results.engine.connect() as conn:
        return (
            results.read_loaded_days(conn, start_ts, end_ts) if results.has(conn, results.loaded_days) else []
        )


def _reflect(conn: sa.engine.Connection, handle: Any) -> sa.Table:
    """A table written by a ranking task (an Astro SDK table or a :mod:`.sql_tasks` handle), reflected."""
    name, metadata = table_metadata(handle)
    return sa.Table(name, metadata, autoload_with=conn)


def _window_totals(conn: sa.engine.Connection, stats: Any, window_days: Sequence[int]) -> dict[int, dict]:
    """``{window_days: {"n_ratings", "n_movies"}}`` from the per-(window, movie) aggregate table (zeros for a
    window without rows)."""
    totals = dict.fromkeys(window_days, {"n_ratings": 0, "n_movies": 0})
    if stats is None:
        return totals
    source = _reflect(conn, stats)
    column = {name: source.c[stored] for stored, name in canonical_names(source.c.keys()).items()}
    window = column["window_days"]
    rows = conn.execute(sa.select(window, sa.func.sum(column["n_ratings"]), sa.func.count()).group_by(window))
    totals.update({int(days): {"n_ratings": int(n), "n_movies": int(movies)} for days, n, movies in rows})
    return totals


def replace_windows(
    ranking: Any,
    stats: Any,
    plan: dict,
    conn_id: str,
    genres: pd.DataFrame | None = None,
    also: Callable[[sa.engine.Connection, ResultsDb, dt.date], object] | None = None,
    produced_by: Mapping[str, str] | None = None,
) -> dict:
    """Replace the rankings of the plan's complete windows ending at its end, in ONE transaction (creating the
    tables on first use); windows not in ``plan["complete"]`` are left untouched.

    :param ranking: the (temporary) table of ``rank_movies``, or ``None`` when that task was skipped because
        nothing could be ranked: the windows' old rows are then just deleted.
    :param stats: the table of ``aggregate_windows`` (the window totals of ``ranking_windows``).
    :param genres: the windows' lists per genre (:func:`ranking.rank_genres`), for ``genre_rankings``.
    :param also: ``also(conn, tables, window_end)`` runs last in the same transaction (the served list).
    :param produced_by: the ``dag_id``, ``run_id`` and ``params`` recorded in ``ranking_windows``.
    :return: ``{"table", "window_end", "windows", "deleted", "inserted", "missing"}`` (small, for XCom).
    """
    results = ResultsDb.connect(conn_id)
    end = epoch_day(int(plan["window_end_ts"]))
    complete = [int(days) for days in plan["complete"]]
    table, windows, genre_table = results.rankings, results.windows, results.genres
    with results.engine.begin() as conn:
        prepare(conn, results)
        deleted, _, _ = (  # the windows' rows of the three tables; the count of movie_rankings' is logged
            conn.execute(t.delete().where((t.c.window_end == end) & t.c.window_days.in_(complete))).rowcount
            for t in (table, genre_table, windows)
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
        about = {"computed_at": utc_now(), **{key: (produced_by or {}).get(key) for key in PRODUCED_BY}}
        rows = [
            {"window_end": end, "method": method, "window_days": days, **totals[days], **about}
            for days in complete
            for method in METHODS
        ]
        if rows:
            conn.execute(windows.insert(), rows)
        extra = also(conn, results, end) if also is not None else None
    log.info("%s: windows %s ending %s replaced (%d rows deleted, %d inserted); not computed: %s",
             results.name, complete, end, deleted, inserted, plan["missing"] or "none")  # fmt: skip
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
    method: str,
    window_days: int,
    limit: int | None = None,
    conn_id: str = settings.RESULTS_CONN_ID,
) -> pd.DataFrame:
    """One (window_end, method, window_days) ranking of ``movie_rankings`` (default: the latest end), best
    first; an empty frame with the ranking columns when there is nothing to read (the served list:
    :func:`include.movielens.served.read_served`)."""
    results = ResultsDb.connect(conn_id)
    table = results.rankings
    mine = (table.c.method == method) & (table.c.window_days == window_days)
    return results.read_list(table, window_end, mine, latest=mine, limit=limit)[WINDOW_RANKING_COLUMNS]
