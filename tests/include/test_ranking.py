"""The daily ranking (include/movielens/ranking.py): the SQL aggregate on a real SQLite file and a real
PostgreSQL database and the dataframe step, against the pure reference (include/movielens/popularity.py)
computed from the raw ratings."""

from __future__ import annotations

import datetime as dt

import jinja2
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from airflow.hooks.base import BaseHook

from airflow_movielens.dates import as_midnight
from airflow_movielens.ratings_table import replace_interval
from include.movielens import popularity
from include.movielens.ranking import (
    AGGREGATE_SQL,
    WINDOW_RANKING_COLUMNS,
    rank_windows,
    weight_table,
)
from include.movielens.windows import WINDOW_DAYS, select_window, window_label

DAY = 86_400
END = as_midnight("2019-01-15")


def hand_made() -> pd.DataFrame:
    """Ties everywhere: equal counts, equal decayed sums, ratings exactly on the window bounds."""
    rows = [
        # movie 10 and 20: same count and same ages in every window (tie -> movieId ascending)
        (1, 10, 4.0, END - 1),
        (2, 10, 3.0, END - 3 * DAY),
        (1, 20, 5.0, END - 1),
        (2, 20, 2.0, END - 3 * DAY),
        # movie 30: exactly on the 7-day bound (inside) and exactly at END (outside every window)
        (3, 30, 4.5, END - 7 * DAY),
        (4, 30, 4.5, END),
        # movie 40: three ratings for bayes' min_ratings, in the 30-day window only
        (5, 40, 1.0, END - 8 * DAY),
        (6, 40, 2.0, END - 20 * DAY),
        (7, 40, 3.0, END - 30 * DAY),
        # movie 50: on the 365-day bound, and one second before it (outside)
        (8, 50, 3.5, END - 365 * DAY),
        (9, 50, 3.5, END - 365 * DAY - 1),
        # movie 60: a day's worth of ratings 12 h before END
        *[(100 + i, 60, 2.5 + (i % 3), END - DAY // 2) for i in range(6)],
    ]
    return pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"])


def twin_like(seed: int = 7, n: int = 20_000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "userId": rng.integers(1, 500, n),
            "movieId": rng.integers(1, 300, n) ** 2 % 997,  # skewed popularity, many ties in counts
            "rating": rng.integers(1, 11, n) / 2,
            "timestamp": END - rng.integers(0, 400 * DAY, n),
        }
    )


def load(ratings: pd.DataFrame, first: int, last: int) -> None:
    """The real loader, marking ``[first, last)`` (epoch midnights) as loaded."""
    day = lambda ts: dt.datetime.fromtimestamp(ts, tz=dt.UTC).date()  # noqa: E731
    hook = BaseHook.get_connection("movielens_results").get_hook()
    inside = ratings[(ratings["timestamp"] >= first) & (ratings["timestamp"] < last)]
    replace_interval(hook, day(first), day(last), inside.to_dict("records"), schema="public")


def sql_aggregate(results_db, window_days, half_life: float = 7.0) -> pd.DataFrame:
    """Run :data:`AGGREGATE_SQL` on the real database (both paths render the same Jinja template)."""
    engine = BaseHook.get_connection("movielens_results").get_hook().get_sqlalchemy_engine()
    weight_table(window_days, half_life).to_sql("weights_t", engine, index=False, if_exists="replace")
    sql = jinja2.Template(AGGREGATE_SQL).render(
        ratings=f"{results_db.schema_prefix}ratings", weights="weights_t", window_end_ts=str(END)
    )
    with engine.connect() as conn:
        return pd.read_sql_query(sa.text(sql), conn)


def reference(ratings: pd.DataFrame, days: int, method: str, half_life: float = 7.0) -> pd.DataFrame:
    return popularity.rank_window(
        ratings,
        end="2019-01-15",
        method=method,
        window=window_label(days),
        half_life_days=half_life,
        top_n=None,
    )


@pytest.mark.parametrize("data", ["hand_made", "twin_like"])
def test_sql_aggregate_and_ranking_equal_the_reference(results_db, data) -> None:
    ratings = hand_made() if data == "hand_made" else twin_like()
    load(ratings, END - 400 * DAY, END + DAY)
    half_life = 3.0
    stats = sql_aggregate(results_db, WINDOW_DAYS, half_life)
    for days in WINDOW_DAYS:
        window = stats[stats["window_days"] == days].drop(columns="window_days")
        window = window.rename(columns={"movieid": "movieId"}).sort_values("movieId").reset_index(drop=True)
        expected = popularity.aggregate(
            select_window(ratings, "2019-01-15", window_label(days)), end=END, half_life_days=half_life
        )
        pd.testing.assert_frame_equal(window, expected, check_dtype=False, rtol=1e-12)
    ranked = rank_windows(stats, None, end_ts=END, window_days=WINDOW_DAYS, top_n=None)
    for days in WINDOW_DAYS:
        for method in popularity.METHODS:
            mine = ranked[(ranked["window_days"] == days) & (ranked["method"] == method)]
            expected = reference(ratings, days, method, half_life)
            assert len(mine) == len(expected), (days, method)
            assert mine["movieId"].tolist() == expected["movieId"].tolist(), (days, method)
            assert mine["score"].to_numpy() == pytest.approx(expected["score"].to_numpy(), rel=1e-12)
            assert set(mine["window_start"]) <= {dt.date(2019, 1, 15) - dt.timedelta(days=days)}
    top_two = {
        int(movie)
        for days in WINDOW_DAYS
        for method in popularity.METHODS
        for movie in reference(ratings, days, method, half_life)["movieId"][:2]
    }
    top_of_each = rank_windows(stats, None, end_ts=END, window_days=WINDOW_DAYS, top_n=2)
    assert sorted(set(top_of_each["movieId"])) == sorted(top_two)
    if data == "hand_made":  # the ties are really there, and broken by movieId
        count_7d = ranked[(ranked["window_days"] == 7) & (ranked["method"] == "count")]
        assert count_7d["movieId"].tolist() == [60, 10, 20, 30]
        assert 50 in ranked[ranked["window_days"] == 365]["movieId"].tolist()


def test_weight_table_has_ages_zero_to_window_days_with_halving_weights() -> None:
    expected = pd.DataFrame(
        {
            "window_days": [1, 1, 2, 2, 2],
            "age_days": [0, 1, 0, 1, 2],
            "weight": [1.0, 0.5, 1.0, 0.5, 0.25],
        }
    )
    pd.testing.assert_frame_equal(weight_table([1, 2], half_life_days=1.0), expected)
    with pytest.raises(ValueError, match="^no window to weigh$"):
        weight_table([])


def window_stats() -> pd.DataFrame:
    """Rows as :data:`AGGREGATE_SQL` returns them: movie 1 is rated often but low, movie 2 rarely but high."""
    rows = [  # window_days, movieId, n_ratings, rating_sum, decayed
        (1, 1, 4, 8.0, 4.0),
        (1, 2, 2, 10.0, 1.5),
        (7, 1, 9, 18.0, 5.0),
        (7, 2, 2, 10.0, 1.5),
        (7, 3, 1, 3.0, 0.25),
    ]
    return pd.DataFrame(rows, columns=["window_days", *popularity.AGGREGATE_COLUMNS])


def test_rank_windows_ranks_each_window_and_method_with_the_given_knobs() -> None:
    stats = window_stats()
    movies = pd.DataFrame({"movieId": [1, 2, 3], "title": ["One", "Two", "Three"], "genres": ["A", "B", "C"]})
    knobs = {"min_ratings": 2, "prior_weight": 1.0, "top_n": None}
    ranked = rank_windows(stats, movies, end_ts=END, window_days=[1, 7], **knobs)
    assert list(ranked.columns) == WINDOW_RANKING_COLUMNS
    pd.testing.assert_index_equal(ranked.index, pd.RangeIndex(len(ranked)))
    assert set(ranked["window_end"]) == {dt.date(2019, 1, 15)}
    for days in (1, 7):
        for method in popularity.METHODS:
            mine = ranked[(ranked["window_days"] == days) & (ranked["method"] == method)]
            window = stats[stats["window_days"] == days].drop(columns="window_days")
            expected = popularity.rank_aggregates(window, method=method, **knobs)
            assert mine["movieId"].tolist() == expected["movieId"].tolist(), (days, method)
            assert mine["score"].tolist() == pytest.approx(expected["score"].tolist()), (days, method)
            assert set(mine["window_start"]) == {dt.date(2019, 1, 15) - dt.timedelta(days=days)}
            assert mine["title"].tolist() == [["One", "Two", "Three"][m - 1] for m in mine["movieId"]]
    # the knobs matter here: with the defaults bayes keeps only movie 1 (min_ratings 3) and a prior weight
    # of 10 pulls movie 2's mean down to the global mean
    default = rank_windows(stats, movies, end_ts=END, window_days=[7], methods=["bayes"], top_n=None)
    bayes_7 = ranked[(ranked["window_days"] == 7) & (ranked["method"] == "bayes")]
    assert default["movieId"].tolist() != bayes_7["movieId"].tolist()
    assert bayes_7["movieId"].tolist() == [2, 1]


def test_rank_windows_reads_aggregate_columns_in_any_case() -> None:
    """A database may return unquoted names folded to upper or lower case."""
    stats = window_stats()
    expected = rank_windows(stats, None, end_ts=END, window_days=[1, 7])
    for fold in (str.upper, str.lower):
        folded = stats.rename(columns=fold)
        pd.testing.assert_frame_equal(rank_windows(folded, None, end_ts=END, window_days=[1, 7]), expected)


def test_rank_windows_without_windows_is_an_empty_table_of_the_ranking_columns() -> None:
    empty = rank_windows(window_stats(), None, end_ts=END, window_days=[])
    assert empty.empty
    assert list(empty.columns) == WINDOW_RANKING_COLUMNS
