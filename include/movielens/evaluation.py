"""The backtest over the results database: which (method, window) to serve, stored in ``ranking_evaluation``.

:func:`include.movielens.backtest.evaluate` (the protocol of ``make evaluate``) over the ratings that the DAGs
loaded into ``ratings``. The evaluation DAG runs it when ``movie_rankings`` changes, for the latest month
start whose horizon lies inside the loaded data; a cutoff already stored is not computed again, so new rows
appear at most once a month. No Airflow import.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
import sqlalchemy as sa

from airflow_movielens.dates import as_date, to_api_date
from airflow_movielens.exceptions import MovielensArgumentError
from include.movielens import settings
from include.movielens.backtest import EVAL_COLUMNS, RatingLog, default_cutoffs, evaluate
from include.movielens.binary_copy import copy_columns, narrow
from include.movielens.database import EVALUATION_TABLE, ResultsDb, utc_now
from include.movielens.holdout import RATING_COLUMNS

log = logging.getLogger(__name__)

#: The columns as read (in :data:`RATING_COLUMNS` order), unless a value needs the wide type of its kind.
_DTYPES = (np.int32, np.int32, np.float32, np.int64)


def read_rating_log(conn_id: str = settings.RESULTS_CONN_ID, chunk_rows: int = 1_000_000) -> RatingLog:
    """Every rating of the results database's ``ratings`` table, as the backtest's :class:`RatingLog` (the
    columns of :func:`read_rating_columns` become the log's in place: no other full-size copy)."""
    columns = read_rating_columns(conn_id, chunk_rows)
    return RatingLog.from_columns(*(columns.pop(name) for name in RATING_COLUMNS), reuse=True)


def read_rating_columns(
    conn_id: str = settings.RESULTS_CONN_ID, chunk_rows: int = 1_000_000
) -> dict[str, np.ndarray]:
    """The columns of the ``ratings`` table: ids int32, rating float32 (int64, float64 where a value needs
    it: :func:`~include.movielens.binary_copy.narrow`), timestamp int64.

    PostgreSQL (psycopg2 or psycopg 3): one binary ``COPY`` in timestamp order, ties in a sequential scan's
    order, decoded into columns allocated once (:func:`~include.movielens.binary_copy.copy_columns`). Other
    databases: the table's order, streamed ``chunk_rows`` at a time through SQLAlchemy.
    """
    results = ResultsDb.connect(conn_id)
    dialect = results.engine.dialect
    if dialect.name == "postgresql" and dialect.driver in ("psycopg2", "psycopg"):
        columns = _copy_ratings(results)
    else:
        columns = _query_ratings(results, chunk_rows)
    return dict(zip(RATING_COLUMNS, columns, strict=True))


def _query_ratings(results: ResultsDb, chunk_rows: int) -> list[np.ndarray]:
    """The four columns through a streamed SQLAlchemy query (a server-side cursor where there is one)."""
    query = sa.select(*(results.ratings.c[name] for name in RATING_COLUMNS))
    chunks = [[np.empty(0, dtype=dtype) for dtype in _DTYPES]]  # the columns of an empty table
    with results.engine.connect().execution_options(stream_results=True) as conn:
        for chunk in pd.read_sql_query(query, conn, chunksize=chunk_rows):
            columns = zip(RATING_COLUMNS, _DTYPES, strict=True)
            chunks.append([narrow(chunk[name].to_numpy(), dtype) for name, dtype in columns])
    return [np.concatenate(parts) for parts in zip(*chunks, strict=True)]


def _copy_ratings(results: ResultsDb) -> list[np.ndarray]:
    """The four columns through one binary ``COPY``, counted first in the same snapshot so that they are
    allocated once."""
    name = results.quoted(settings.RATINGS_TABLE)
    casts = ", ".join(
        f'"{column}"::{"float8" if np.dtype(dtype).kind == "f" else "int8"}'
        for column, dtype in zip(RATING_COLUMNS, _DTYPES, strict=True)
    )
    conn = results.hook.get_conn()
    with contextlib.closing(conn), conn.cursor() as cur:  # closing ends the read-only transaction
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        # A sequential scan and a sort, never the timestamp index: on a table whose rows are not stored in
        # time order (days loaded out of order) the index reads the heap at random, 7 times slower on 25 M.
        cur.execute("SET LOCAL enable_indexscan = off")
        cur.execute(f"SELECT count(*) FROM {name}")
        (rows,) = cur.fetchone()
        return copy_columns(cur, f'SELECT {casts} FROM {name} ORDER BY "timestamp", ctid', rows, _DTYPES)


def read_evaluation(conn_id: str = settings.RESULTS_CONN_ID) -> pd.DataFrame:
    """Every row of ``ranking_evaluation`` (:data:`EVAL_COLUMNS`), or an empty frame."""
    results = ResultsDb.connect(conn_id)
    table = results.evaluation
    with results.engine.connect() as conn:
        if not results.has(conn, table):
            return pd.DataFrame(columns=EVAL_COLUMNS)
        rows = conn.execute(sa.select(*(table.c[name] for name in EVAL_COLUMNS))).fetchall()
    return pd.DataFrame(rows, columns=EVAL_COLUMNS)


def check_params(requested: Sequence[object], horizon_days: object, k: object) -> list[dt.date]:
    """The requested cutoffs as days, once ``cutoffs``, ``horizon_days`` and ``k`` are all valid.

    :raises MovielensArgumentError: naming the first bad value (before anything is read or written).
    """
    for name, value in (("horizon_days", horizon_days), ("k", k)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise MovielensArgumentError(f"{name} must be a whole number >= 1, got {value!r}")
    if isinstance(requested, str | bytes) or not isinstance(requested, Sequence):
        raise MovielensArgumentError(f"cutoffs must be a list of YYYY-MM-DD days, got {requested!r}")
    return [dt.date.fromisoformat(to_api_date(day, "cutoffs")) for day in requested if day is not None]


def _check_horizons(log_: RatingLog, cutoffs: Sequence[dt.date], horizon_days: int) -> None:
    first, last = log_.day(0), log_.day(-1)
    for cutoff in cutoffs:
        if not first < cutoff <= last + dt.timedelta(days=1 - horizon_days):
            raise MovielensArgumentError(
                f"cutoffs: {cutoff} with a {horizon_days}-day horizon lies beyond the loaded ratings "
                f"({first} .. {last}): a cutoff needs ratings before it and its whole horizon loaded"
            )


def store_evaluation(results: pd.DataFrame, conn_id: str = settings.RESULTS_CONN_ID) -> int:
    """Replace the rows of ``results``' (cutoff, horizon, K) in ``ranking_evaluation``, in one transaction."""
    db = ResultsDb.connect(conn_id)
    table = db.evaluation
    now = utc_now()
    rows = [
        {**row, "cutoff": as_date(row["cutoff"]), "computed_at": now}
        for row in results[EVAL_COLUMNS].to_dict("records")
    ]
    with db.engine.begin() as conn:
        db.prepare(conn, table)
        for cutoff, horizon, k in {(r["cutoff"], r["horizon_days"], r["k"]) for r in rows}:
            mine = (table.c.cutoff == cutoff) & (table.c.horizon_days == horizon) & (table.c.k == k)
            conn.execute(table.delete().where(mine))
        if rows:
            conn.execute(table.insert(), rows)
    log.info("%s: %d rows stored", EVALUATION_TABLE, len(rows))
    return len(rows)


def run_evaluation(
    *, requested: Sequence[str] = (), horizon_days: int, k: int, conn_id: str = settings.RESULTS_CONN_ID
) -> dict:
    """Backtest the pending cutoffs over the results database and store them; small summary for XCom.

    :return: ``{"cutoffs": [...], "rows": n, "best": {"method", "window", "ndcg", "hr"} or None,
        "reason"}``; no cutoff (and the reason) when there is nothing to do.
    """
    requested_days = check_params(requested, horizon_days, k)
    log_ = read_rating_log(conn_id)
    _check_horizons(log_, requested_days, horizon_days)
    old = read_evaluation(conn_id)
    done = set(old["cutoff"][(old["horizon_days"] == horizon_days) & (old["k"] == k)].map(as_date))
    try:
        days = requested_days or default_cutoffs(log_, 1, horizon_days)
    except ValueError as err:  # no month start leaves a whole horizon in the loaded data (yet)
        return {"cutoffs": [], "rows": 0, "best": None, "reason": str(err)}
    cutoffs = [day for day in days if day not in done]
    if not cutoffs:
        return {"cutoffs": [], "rows": 0, "best": None, "reason": "every cutoff is already evaluated"}
    results = evaluate(log_, cutoffs, horizon_days=horizon_days, k=k)
    stored = store_evaluation(results, conn_id)
    best = results.sort_values(["ndcg", "hr"], ascending=False, kind="mergesort").iloc[0]
    scores = {name: float(best[name]) for name in ("ndcg", "hr")}
    return {
        "reason": "evaluated",
        "cutoffs": [day.isoformat() for day in cutoffs],
        "rows": stored,
        "best": {"method": best["method"], "window": best["window"], **scores},
    }
