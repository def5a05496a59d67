"""Reference rankings (include/movielens/popularity.py) on small hand-made data: ties and boundaries."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from airflow_movielens.dates import as_midnight
from include.movielens.popularity import (
    AGGREGATE_COLUMNS,
    METHODS,
    WINDOWS,
    aggregate,
    rank_aggregates,
    rank_ratings,
    rank_window,
    select_window,
)
from include.movielens.ranking import SCORE_COLUMNS, score_movies
from tests.support.timezone import local_time_zone

END = "2019-01-10"
D = 1_547_078_400  # 2019-01-10T00:00:00Z
DAY = 86_400


def _frame(rows: list[tuple[int, float, int]]) -> pd.DataFrame:
    """(movieId, rating, timestamp) rows; ``row`` numbers them so that a test can see which were kept."""
    return pd.DataFrame(
        {
            "row": range(len(rows)),
            "userId": range(len(rows)),
            "movieId": [m for m, _, _ in rows],
            "rating": [r for _, r, _ in rows],
            "timestamp": [t for _, _, t in rows],
        }
    )


# One rating on each side of every window boundary, for window end D = 2019-01-10 00:00 UTC.
BOUNDARIES = _frame(
    [
        (1, 4.0, D),  # 0: at D: outside every window (the end is exclusive)
        (1, 4.0, D - 1),  # 1: the last second before D: in every window
        (1, 4.0, D - 1 * DAY),  # 2: exactly D - 1 day: in 1d
        (1, 4.0, D - 1 * DAY - 1),  # 3: just before: in 7d, not 1d
        (1, 4.0, D - 7 * DAY),  # 4: in 7d
        (1, 4.0, D - 7 * DAY - 1),  # 5: in 30d, not 7d
        (1, 4.0, D - 30 * DAY),  # 6: in 30d
        (1, 4.0, D - 30 * DAY - 1),  # 7: in 365d, not 30d
        (1, 4.0, D - 365 * DAY),  # 8: in 365d
        (1, 4.0, D - 365 * DAY - 1),  # 9: only in all
        (1, 4.0, D + 5 * DAY),  # 10: after D: outside every window
    ]
)


@pytest.mark.parametrize(
    ("window", "rows"),
    [
        ("1d", [1, 2]),
        ("7d", [1, 2, 3, 4]),
        ("30d", [1, 2, 3, 4, 5, 6]),
        ("365d", [1, 2, 3, 4, 5, 6, 7, 8]),
        ("all", [1, 2, 3, 4, 5, 6, 7, 8, 9]),
    ],
)
def test_windows_include_their_start_and_exclude_their_end(window: str, rows: list[int]) -> None:
    assert select_window(BOUNDARIES, END, window)["row"].tolist() == rows
    assert rank_window(BOUNDARIES, end=END, method="count", window=window)["n_ratings"].tolist() == [
        len(rows)
    ]


def test_window_end_accepts_date_datetime_and_string() -> None:
    assert as_midnight("2019-01-10") == D
    assert as_midnight(dt.date(2019, 1, 10)) == D
    assert as_midnight(dt.datetime(2019, 1, 10)) == D  # naive = UTC
    assert as_midnight(dt.datetime(2019, 1, 10, 1, tzinfo=dt.timezone(dt.timedelta(hours=1)))) == D


def test_count_breaks_ties_by_movie_id() -> None:
    # Counts: 7 -> 3, 5 -> 2, 9 -> 2, 2 -> 2, 4 -> 1. Ties among 2, 5, 9 go by movieId ascending.
    ratings = _frame(
        [(m, 3.0, D - DAY + i) for i, m in enumerate([9, 5, 7, 2, 7, 9, 5, 4, 7, 2])]
        + [(4, 5.0, D)]  # at D: not counted
    )
    ranking = rank_window(ratings, end=END, method="count", window="1d")
    assert list(ranking.columns) == SCORE_COLUMNS
    assert ranking["movieId"].tolist() == [7, 2, 5, 9, 4]
    assert ranking["rank"].tolist() == [1, 2, 3, 4, 5]
    assert ranking["score"].tolist() == [3.0, 2.0, 2.0, 2.0, 1.0]
    assert ranking.set_index("movieId")["mean_rating"].to_dict() == {7: 3.0, 2: 3.0, 5: 3.0, 9: 3.0, 4: 3.0}


def test_bayes_is_score_movies_on_the_window() -> None:
    # Inside 7d: movie 1 has 3 x 5.0, movie 2 has 3 x 5.0 (a tie with 1), movie 3 has 4 x 4.0, movie 4 has
    # 2 x 5.0 (below min_ratings=3). Movie 1's fourth rating (1.0) is 8 days old: outside the window.
    inside = [(1, 5.0), (2, 5.0), (3, 4.0)] * 3 + [(3, 4.0), (4, 5.0), (4, 5.0)]
    ratings = _frame([(m, r, D - 7 * DAY + i) for i, (m, r) in enumerate(inside)] + [(1, 1.0, D - 8 * DAY)])
    ranking = rank_window(ratings, end=END, method="bayes", window="7d", min_ratings=3)
    c = (6 * 5.0 + 4 * 4.0 + 2 * 5.0) / 12  # the window mean counts movie 4 although it is not ranked
    expected = {1: 3 / 13 * 5.0 + 10 / 13 * c, 2: 3 / 13 * 5.0 + 10 / 13 * c, 3: 4 / 14 * 4.0 + 10 / 14 * c}
    assert ranking["movieId"].tolist() == sorted(expected, key=lambda m: (-expected[m], m)) == [1, 2, 3]
    assert ranking["score"].tolist() == pytest.approx([expected[1], expected[2], expected[3]])
    window = select_window(ratings, END, "7d")
    pd.testing.assert_frame_equal(ranking, score_movies(window, min_ratings=3, top_n=100))


def test_bayes_ties_break_on_n_ratings_then_movie_id() -> None:
    # Every rating equals the window mean, so every score is C: n_ratings desc, then movieId asc.
    ratings = _frame([(m, 3.0, D - DAY) for m in [8] * 3 + [6] * 4 + [2] * 3 + [9] * 4])
    assert rank_window(ratings, end=END, method="bayes", window="1d")["movieId"].tolist() == [6, 9, 2, 8]


def test_trending_weighs_each_rating_by_its_whole_days_of_age() -> None:
    # Half-life 7 days. Ages in whole days before D: D - 1 s -> 0 (weight 1), D - 1 day -> 1 (2 ** (-1/7)),
    # D - 1 day - 1 s -> 1 as well, D - 7 days -> 7 (weight 1/2), D - 14 days - 1 s -> 14 (weight 1/4).
    ratings = _frame(
        [
            (1, 4.0, D - 1),
            (2, 4.0, D - DAY),
            (2, 4.0, D - DAY - 1),
            (3, 4.0, D - 7 * DAY),
            (3, 4.0, D - 7 * DAY),
            (4, 4.0, D - 14 * DAY - 1),
            (4, 4.0, D),  # at D: outside the window
        ]
    )
    ranking = rank_window(ratings, end=END, method="trending", window="30d")
    expected = {2: 2 * 0.5 ** (1 / 7), 1: 1.0, 3: 2 * 0.5, 4: 0.25}
    assert ranking["movieId"].tolist() == [2, 1, 3, 4]
    assert ranking["score"].tolist() == pytest.approx([expected[m] for m in [2, 1, 3, 4]], abs=1e-9)
    assert ranking["n_ratings"].tolist() == [2, 1, 2, 1]


def test_trending_half_life_is_a_parameter() -> None:
    # Movie 1: one rating today; movie 2: three ratings 10 days ago. Half-life 7: 3 * 2 ** (-10/7) = 1.11 > 1.
    # Half-life 2: 3 * 2 ** -5 = 0.09 < 1.
    ratings = _frame([(1, 4.0, D - 1)] + [(2, 4.0, D - 10 * DAY)] * 3)
    assert rank_window(ratings, end=END, method="trending", window="30d")["movieId"].tolist() == [2, 1]
    ranking = rank_window(ratings, end=END, method="trending", window="30d", half_life_days=2)
    assert ranking["movieId"].tolist() == [1, 2]


def test_trending_ties_break_on_movie_id_whatever_the_summation_order() -> None:
    # Movies 5 and 3 have the same multiset of ages (0, 3, 11 days) in a different order: floating-point sums
    # may differ in the last bit, the rounded scores do not. Movie 3 comes first (lower movieId).
    ages = [0, 3, 11]
    ratings = _frame(
        [(5, 4.0, D - a * DAY - 1) for a in ages] + [(3, 4.0, D - a * DAY - 1) for a in reversed(ages)]
    )
    ranking = rank_window(ratings, end=END, method="trending", window="30d")
    assert ranking["movieId"].tolist() == [3, 5]
    assert ranking["score"].iloc[0] == ranking["score"].iloc[1]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("window", list(WINDOWS))
def test_aggregate_then_rank_aggregates_equals_the_raw_ranking(method: str, window: str) -> None:
    # What the database computes (aggregate) plus the dataframe step (rank_aggregates) must give the same
    # ranking as the raw path, on random data with many ties.
    rng = np.random.default_rng(7)
    n = 3000
    ratings = pd.DataFrame(
        {
            "userId": rng.integers(1, 50, n),
            "movieId": rng.integers(1, 40, n),
            "rating": rng.integers(1, 11, n) / 2,
            "timestamp": D - rng.integers(-10, 400, n) * DAY // 4 * 2,  # many exact half-day stamps
        }
    )
    window_ratings = select_window(ratings, END, window)
    stats = aggregate(window_ratings, end=D)
    pd.testing.assert_frame_equal(stats, aggregate(window_ratings, end=dt.date(2019, 1, 10)))
    assert list(stats.columns) == AGGREGATE_COLUMNS
    assert stats["n_ratings"].sum() == len(window_ratings)
    via_aggregates = rank_aggregates(stats, method=method, top_n=None)
    raw = rank_ratings(window_ratings, end=END, method=method, top_n=None)
    pd.testing.assert_frame_equal(via_aggregates, raw, check_exact=False, rtol=1e-12)
    pd.testing.assert_frame_equal(
        rank_window(ratings, end=END, method=method, window=window, top_n=None), raw
    )


def test_top_n_and_empty_window() -> None:
    ratings = _frame([(m, 4.0, D - DAY) for m in range(1, 30)])
    assert len(rank_window(ratings, end=END, method="count", window="1d", top_n=5)) == 5
    for method in METHODS:
        empty = rank_window(ratings, end="2018-01-01", method=method, window="7d")
        assert list(empty.columns) == SCORE_COLUMNS
        assert empty.empty


def test_input_is_not_modified() -> None:
    before = BOUNDARIES.copy()
    for method in METHODS:
        rank_window(BOUNDARIES, end=END, method=method, window="all")
    pd.testing.assert_frame_equal(BOUNDARIES, before)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "median"}, "unknown method 'median'"),
        ({"window": "14d"}, "unknown window '14d'"),
        ({"end": "2019-13-01"}, "window end is not a valid calendar date: '2019-13-01'"),
        ({"end": "yesterday"}, "'yesterday'"),
        ({"end": dt.datetime(2019, 1, 10, 12, tzinfo=dt.UTC)}, "window end must be midnight UTC"),
        ({"method": "trending", "half_life_days": 0}, "half_life_days must be > 0, got 0"),
        ({"method": "bayes", "min_ratings": 0}, "min_ratings must be >= 1, got 0"),
        ({"top_n": 0}, "top_n must be >= 1, got 0"),
    ],
)
def test_bad_input_names_the_bad_value(kwargs: dict, message: str) -> None:
    args = {"end": END, "method": "count", "window": "7d", **kwargs}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        rank_window(BOUNDARIES, **args)


def test_missing_columns_are_named() -> None:
    with pytest.raises(ValueError, match="timestamp"):
        rank_ratings(BOUNDARIES.drop(columns="timestamp"), end=END, method="trending")
    with pytest.raises(ValueError, match="decayed"):
        rank_aggregates(pd.DataFrame({"movieId": [1], "n_ratings": [1], "rating_sum": [4.0]}), method="count")


def _many_ties(n: int = 40) -> pd.DataFrame:
    """``n`` movies, each rated 3 times (4.0) on 2019-01-14: every method ties them all."""
    return pd.DataFrame(
        {
            "userId": np.arange(3 * n),
            "movieId": np.repeat(np.arange(n, 0, -1), 3),  # listed in descending id order
            "rating": 4.0,
            "timestamp": as_midnight("2019-01-14") + 60,
        }
    )


@pytest.mark.parametrize("method", METHODS)
def test_many_ties_rank_by_movie_id(method) -> None:
    """More ties than numpy's small-array sort keeps stable by accident: ties still go by movieId."""
    ranked = rank_ratings(_many_ties(), end="2019-01-15", method=method, top_n=None)
    assert ranked["movieId"].tolist() == list(range(1, 41))


@pytest.mark.parametrize("method", ["count", "trending"])
def test_movies_without_ratings_in_the_window_are_not_ranked(method) -> None:
    stats = pd.DataFrame(
        {"movieId": [1, 2], "n_ratings": [0, 2], "rating_sum": [0.0, 7.0], "decayed": [0.0, 1.5]}
    )
    assert rank_aggregates(stats, method=method, top_n=None)["movieId"].tolist() == [2]


def test_bayes_passes_its_knobs_through() -> None:
    ratings = _many_ties(3)
    ratings.loc[ratings["movieId"] == 2, "rating"] = 5.0
    for kwargs in ({"min_ratings": 4}, {"prior_weight": 0.0}, {"top_n": 1}):
        expected = score_movies(ratings, **kwargs)
        pd.testing.assert_frame_equal(
            rank_ratings(ratings, end="2019-01-15", method="bayes", **kwargs), expected
        )
        stats = aggregate(ratings, end="2019-01-15")
        pd.testing.assert_frame_equal(rank_aggregates(stats, method="bayes", **kwargs), expected)


def test_top_n_of_one_and_a_short_half_life_are_valid() -> None:
    ratings = _many_ties(3)
    assert len(rank_aggregates(aggregate(ratings, end="2019-01-15"), method="count", top_n=1)) == 1
    assert (
        len(rank_ratings(ratings, end="2019-01-15", method="trending", half_life_days=0.5, top_n=None)) == 3
    )


def test_bad_window_and_method_list_the_choices() -> None:
    from include.movielens.popularity import window_start

    with pytest.raises(ValueError, match=r"expected one of 1d, 7d, 30d, 365d, all$"):
        window_start(as_midnight("2019-01-15"), "2w")
    with pytest.raises(ValueError, match=r"expected one of count, bayes, trending$"):
        rank_ratings(_many_ties(2), end="2019-01-15", method="hot")


def test_as_midnight_is_utc_whatever_the_local_time_zone() -> None:
    with local_time_zone("America/Los_Angeles"):
        values = [
            as_midnight("2019-01-15"),
            as_midnight(dt.date(2019, 1, 15)),
            as_midnight(dt.datetime(2019, 1, 15)),
            as_midnight(dt.datetime(2019, 1, 15, 9, tzinfo=dt.timezone(dt.timedelta(hours=9)))),
        ]
    assert values == [1_547_510_400] * 4


def test_rank_window_passes_its_knobs_through() -> None:
    ratings = _many_ties(3)
    ratings.loc[ratings["movieId"] == 2, "rating"] = 5.0
    for kwargs in ({"min_ratings": 4}, {"prior_weight": 0.0}, {"top_n": 1}, {"half_life_days": 0.5}):
        method = "trending" if "half_life_days" in kwargs else "bayes"
        expected = rank_ratings(ratings, end="2019-01-15", method=method, **kwargs)
        got = rank_window(ratings, end="2019-01-15", method=method, window="7d", **kwargs)
        pd.testing.assert_frame_equal(got, expected)


def test_numbers_a_database_driver_returns_as_objects_give_the_same_numeric_columns() -> None:
    """PostgreSQL's NUMERIC arrives as ``Decimal`` and some drivers hand back Python ints in object columns:
    the aggregate and the ranking still have int64 ids and counts and float64 sums and scores."""
    from decimal import Decimal

    ratings = _frame([(1, 4.5, D - 10), (2, 3.0, D - DAY - 10), (1, 2.0, D - 3 * DAY)])
    as_objects = ratings.astype(object)
    as_objects["rating"] = [Decimal(str(r)) for r in ratings["rating"]]
    expected = aggregate(ratings, end=END)
    assert expected.dtypes.astype(str).to_dict() == {
        "movieId": "int64", "n_ratings": "int64", "rating_sum": "float64", "decayed": "float64"
    }  # fmt: skip
    pd.testing.assert_frame_equal(aggregate(as_objects, end=END), expected)
    stats = expected.astype(object)
    stats["rating_sum"] = [Decimal(str(r)) for r in expected["rating_sum"]]
    for method in METHODS:
        ranked = rank_aggregates(expected, method=method, min_ratings=1, top_n=None)
        assert ranked.dtypes.astype(str).to_dict() == dict.fromkeys(SCORE_COLUMNS[:3], "int64") | {
            "mean_rating": "float64", "score": "float64"
        }  # fmt: skip
        from_objects = rank_aggregates(stats, method=method, min_ratings=1, top_n=None)
        pd.testing.assert_frame_equal(from_objects, ranked)


def test_a_rating_with_a_missing_user_still_counts() -> None:
    """Only a missing movie or rating drops a row; other columns may be empty (SQL's ``COUNT(*)`` agrees)."""
    ratings = _frame([(1, 4.0, D - 10), (1, 3.0, D - 20)]).astype({"userId": "float64"})
    ratings.loc[0, "userId"] = np.nan
    assert aggregate(ratings, end=END)["n_ratings"].tolist() == [2]
