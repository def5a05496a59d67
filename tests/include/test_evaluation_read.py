"""Reading the ratings for the backtest (include/movielens/evaluation.py, include/movielens/binary_copy.py).

The columns that ``read_rating_columns`` reads (a binary ``COPY`` on PostgreSQL, a streamed query on SQLite)
are compared with a plain-driver read of the same table (tests/results_db.py), in the order each one
promises: timestamp then physical order on PostgreSQL, the table's order on SQLite.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd
import pytest

from include.movielens import binary_copy
from include.movielens.backtest import evaluate
from include.movielens.evaluation import read_rating_columns, read_rating_log
from include.movielens.holdout import RATING_COLUMNS, RatingLog

CONN_ID = "movielens_results"
DAY = 86_400
START = 1_546_300_800  # 2019-01-01


def _ratings(n: int, seed: int = 3) -> pd.DataFrame:
    """``n`` ratings over 40 days in half stars, many sharing a timestamp, in no particular order."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "userId": rng.integers(1, 60, n),
            "movieId": rng.integers(1, 40, n),
            "rating": rng.integers(1, 11, n) / 2,
            "timestamp": START + rng.integers(0, 40, n) * DAY + rng.integers(0, 3, n),
        }
    )


def _load(ratings: pd.DataFrame) -> None:
    """The ratings into ``ratings`` through the project's loader (one interval, the table created)."""
    from airflow.hooks.base import BaseHook

    from airflow_movielens.ratings_table import replace_interval

    hook = BaseHook.get_connection(CONN_ID).get_hook()
    replace_interval(hook, "2018-01-01", "2020-01-01", ratings.to_dict("records"), schema="public")


def _plain_read(db) -> pd.DataFrame:
    order = 'ORDER BY "timestamp", ctid' if db.kind == "postgres" else "ORDER BY rowid"
    return db.query(
        f'SELECT "userId", "movieId", "rating", "timestamp" FROM {db.schema_prefix}ratings {order}'
    )


def _assert_same_columns(db, dtypes: tuple[str, ...]) -> dict[str, np.ndarray]:
    columns = read_rating_columns(CONN_ID)
    expected = _plain_read(db)
    assert list(columns) == list(RATING_COLUMNS)
    assert tuple(str(column.dtype) for column in columns.values()) == dtypes
    for name in RATING_COLUMNS:
        np.testing.assert_array_equal(columns[name], expected[name].to_numpy(), err_msg=name)
    return columns


@pytest.mark.parametrize("buffer_bytes", [binary_copy.BUFFER_BYTES, 7])
def test_half_stars_with_ties_read_as_the_table_holds_them(results_db, monkeypatch, buffer_bytes) -> None:
    monkeypatch.setattr(binary_copy, "BUFFER_BYTES", buffer_bytes)  # 7: rows and header cut anywhere
    ratings = _ratings(3_000)
    _load(ratings)
    _assert_same_columns(results_db, ("int32", "int32", "float32", "int64"))
    log, plain = read_rating_log(CONN_ID), RatingLog.from_frame(_plain_read(results_db))
    for field in ("timestamp", "user", "movie", "rating", "movie_ids"):
        np.testing.assert_array_equal(getattr(log, field), getattr(plain, field), err_msg=field)
    # the backtest over it is the same to the last bit as over the frame the tools read
    cutoffs = ["2019-01-21", "2019-01-31"]
    pd.testing.assert_frame_equal(
        evaluate(log, cutoffs, horizon_days=7, k=5),
        evaluate(plain, cutoffs, horizon_days=7, k=5),
        check_exact=True,
    )


def test_one_rating(results_db) -> None:
    _load(pd.DataFrame({"userId": [7], "movieId": [3], "rating": [4.5], "timestamp": [START]}))
    _assert_same_columns(results_db, ("int32", "int32", "float32", "int64"))
    log = read_rating_log(CONN_ID)
    assert (log.user.tolist(), log.movie.tolist(), log.movie_ids.tolist()) == ([0], [0], [3])


def test_ids_beyond_int32_and_inexact_ratings_keep_wide_columns(results_db) -> None:
    ratings = pd.DataFrame(
        {
            "userId": [2**40, 5, 2**40, 2**31],
            "movieId": [2**31, 1, 2**31 - 1, 1],
            "rating": [0.1, 3.0, 4.5, 2.5],
            "timestamp": [START + 2, START, START + 1, START + 1],
        }
    )
    _load(ratings)
    _assert_same_columns(results_db, ("int64", "int64", "float64", "int64"))
    log = read_rating_log(CONN_ID)
    assert log.movie_ids.tolist() == [1, 2**31 - 1, 2**31]
    # in time order, the tie at START + 1 in the table's order: userIds 5, 2**40, 2**31, 2**40
    assert log.user.tolist() == [0, 1, 2, 1]
    assert log.rating.tolist() == [3.0, 4.5, 2.5, 0.1]


def test_an_empty_table_reads_as_empty_columns_and_no_log(results_db) -> None:
    _load(_ratings(0))
    columns = _assert_same_columns(results_db, ("int32", "int32", "float32", "int64"))
    assert all(len(column) == 0 for column in columns.values())
    with pytest.raises(ValueError, match="no ratings"):
        read_rating_log(CONN_ID)


@pytest.fixture
def pg_cursor(postgres_server):
    """A cursor on a fresh database of the session's PostgreSQL."""
    with (
        postgres_server.database() as name,
        contextlib.closing(postgres_server.connect(name)) as conn,
        conn.cursor() as cur,
    ):
        yield cur


@pytest.mark.parametrize(
    ("query", "rows", "message"),
    [
        ("SELECT NULL::int8", 1, r"not 1 8-byte values \(a NULL\?\)"),
        ("SELECT 1::int4", 1, "not 1 8-byte values"),
        ("SELECT x::int8 FROM (VALUES (1), (NULL), (3), (4), (5)) AS v (x)", 5, "not 1 8-byte values"),
        ("SELECT 1::int8", 2, "COPY sent 1 rows, 2 counted"),
        ("SELECT generate_series(1, 3)::int8", 2, "more than the 2 rows counted"),
    ],
)
def test_a_copy_that_is_not_the_counted_rows_is_refused(pg_cursor, query, rows, message) -> None:
    with pytest.raises(ValueError, match=message):
        binary_copy.copy_columns(pg_cursor, query, rows, [np.int64])


def test_narrow_keeps_every_value() -> None:
    assert binary_copy.narrow(np.array([1, 2**31 - 1]), np.int32).dtype == np.int32
    assert binary_copy.narrow(np.array([-(2**31) - 1]), np.int32).dtype == np.int64
    assert binary_copy.narrow(np.array([0.5, 5.0, 1e6 + 0.5]), np.float32).dtype == np.float32
    assert binary_copy.narrow(np.array([3.5, 0.1]), np.float32).tolist() == [3.5, 0.1]
