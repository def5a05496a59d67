"""The Bayesian score (include/movielens/popularity.py's ``score_movies``, ``score_aggregates``) and a
window's full table with titles (include/movielens/ranking.py's ``attach_movies``)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from include.movielens.popularity import SCORE_COLUMNS, score_aggregates, score_movies
from include.movielens.ranking import RANKING_COLUMNS, attach_movies


def _ratings(pairs: list[tuple[int, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "userId": range(len(pairs)),
            "movieId": [movie for movie, _ in pairs],
            "rating": [rating for _, rating in pairs],
            "timestamp": 1_546_300_800,
        }
    )


def rank_window(ratings: pd.DataFrame, movies: pd.DataFrame | None, *, window_start, window_end, **knobs):
    """One window's full table: :func:`score_movies`, then :func:`attach_movies`."""
    scores = score_movies(ratings, **knobs)
    return attach_movies(scores, movies, window_start=window_start, window_end=window_end)


MOVIES = pd.DataFrame(
    {
        "movieId": [1, 2, 3, 4],
        "title": ["One (1990)", "Two (1991)", "Three (1992)", "Four (1993)"],
        "genres": ["Drama", "Comedy|Drama", "Action", "(no genres listed)"],
    }
)


def test_bayesian_score_matches_the_formula() -> None:
    ratings = _ratings([(1, 5.0)] * 4 + [(2, 3.0)] * 6 + [(3, 1.0)] * 2)
    scores = score_movies(ratings, min_ratings=1, prior_weight=10, top_n=None)
    c = ratings["rating"].mean()
    expected = {
        movie: v / (v + 10) * r + 10 / (v + 10) * c for movie, v, r in [(1, 4, 5.0), (2, 6, 3.0), (3, 2, 1.0)]
    }
    assert list(scores.columns) == SCORE_COLUMNS
    assert scores["movieId"].tolist() == [1, 2, 3]
    assert scores["rank"].tolist() == [1, 2, 3]
    for row in scores.itertuples():
        assert row.score == pytest.approx(expected[row.movieId])
    assert scores.set_index("movieId")["n_ratings"].to_dict() == {1: 4, 2: 6, 3: 2}
    assert scores.set_index("movieId")["mean_rating"].to_dict() == {1: 5.0, 2: 3.0, 3: 1.0}


def test_prior_weight_zero_ranks_by_mean() -> None:
    ratings = _ratings([(1, 4.0)] * 3 + [(2, 4.5)] * 3 + [(3, 3.0)] * 30)
    scores = score_movies(ratings, min_ratings=1, prior_weight=0, top_n=None)
    assert scores["movieId"].tolist() == [2, 1, 3]
    assert scores["score"].tolist() == scores["mean_rating"].tolist()


def test_prior_pulls_small_samples_towards_the_window_mean() -> None:
    # Movie 1: 3 perfect ratings; movie 2: 50 ratings of 4.5. The prior must put movie 2 first.
    ratings = _ratings([(1, 5.0)] * 3 + [(2, 4.5)] * 50 + [(3, 1.0)] * 50)
    assert score_movies(ratings, min_ratings=1, prior_weight=10)["movieId"].tolist()[:2] == [2, 1]


def test_ties_break_on_n_ratings_then_movie_id() -> None:
    # Movies 7 and 3 have identical ratings (same score, same count): lower movieId first.
    # Movie 5 has the same mean but more ratings, hence a higher score (mean above C) and goes first.
    ratings = _ratings([(7, 4.0)] * 3 + [(3, 4.0)] * 3 + [(5, 4.0)] * 4 + [(9, 1.0)] * 3)
    scores = score_movies(ratings, min_ratings=1, prior_weight=10, top_n=None)
    assert scores["movieId"].tolist() == [5, 3, 7, 9]


def test_equal_scores_break_on_n_ratings() -> None:
    # Every movie has the mean of the window, so every score equals C: order by n_ratings desc, movieId asc.
    ratings = _ratings([(4, 3.0)] * 3 + [(2, 3.0)] * 5 + [(8, 3.0)] * 5 + [(1, 3.0)] * 3)
    scores = score_movies(ratings, min_ratings=1, prior_weight=10, top_n=None)
    assert scores["score"].nunique() == 1
    assert scores["movieId"].tolist() == [2, 8, 1, 4]
    assert scores["rank"].tolist() == [1, 2, 3, 4]


def test_min_ratings_filters_but_window_mean_uses_every_rating() -> None:
    ratings = _ratings([(1, 5.0)] * 3 + [(2, 1.0)] * 2 + [(3, 1.0)])
    scores = score_movies(ratings, min_ratings=3, prior_weight=10)
    assert scores["movieId"].tolist() == [1]
    c = (3 * 5.0 + 3 * 1.0) / 6  # movies 2 and 3 are dropped but still count in C
    assert scores["score"].iloc[0] == pytest.approx(3 / 13 * 5.0 + 10 / 13 * c)


def test_min_ratings_boundary_is_inclusive() -> None:
    ratings = _ratings([(1, 4.0)] * 3 + [(2, 4.0)] * 2)
    assert score_movies(ratings, min_ratings=3)["movieId"].tolist() == [1]
    assert score_movies(ratings, min_ratings=2)["movieId"].tolist() == [1, 2]


def test_top_n_keeps_the_best() -> None:
    ratings = _ratings([(movie, float(movie % 5) + 0.5) for movie in range(1, 41) for _ in range(3)])
    full = score_movies(ratings, min_ratings=1, top_n=None)
    top = score_movies(ratings, min_ratings=1, top_n=7)
    assert len(full) == 40
    pd.testing.assert_frame_equal(top, full.head(7))


def test_empty_input_gives_empty_table_with_the_right_columns() -> None:
    empty = pd.DataFrame({"userId": [], "movieId": [], "rating": [], "timestamp": []})
    scores = score_movies(empty)
    assert list(scores.columns) == SCORE_COLUMNS
    assert scores.empty
    ranking = rank_window(empty, MOVIES, window_start="2019-02-01", window_end="2019-02-02")
    assert list(ranking.columns) == RANKING_COLUMNS
    assert ranking.empty


def test_nobody_reaches_min_ratings_gives_empty_table() -> None:
    ranking = rank_window(
        _ratings([(1, 5.0), (2, 4.0)]), MOVIES, window_start="2019-01-01", window_end="2019-01-02"
    )
    assert list(ranking.columns) == RANKING_COLUMNS
    assert ranking.empty


def test_rank_window_adds_window_and_titles() -> None:
    ratings = _ratings([(1, 5.0)] * 3 + [(2, 4.0)] * 3 + [(42, 3.0)] * 3)
    ranking = rank_window(
        ratings, MOVIES, window_start="2019-01-01", window_end=dt.datetime(2019, 1, 2), top_n=10
    )
    assert list(ranking.columns) == RANKING_COLUMNS
    assert ranking["movieId"].tolist() == [1, 2, 42]
    assert ranking["title"].tolist() == ["One (1990)", "Two (1991)", ""]  # 42 is unknown: row kept
    assert ranking["genres"].tolist() == ["Drama", "Comedy|Drama", ""]
    assert set(ranking["window_start"]) == {dt.date(2019, 1, 1)}
    assert set(ranking["window_end"]) == {dt.date(2019, 1, 2)}
    assert ranking.dtypes["n_ratings"] == "int64"
    assert ranking.dtypes["score"] == "float64"


def test_attach_movies_without_catalogue() -> None:
    scores = score_movies(_ratings([(1, 5.0)] * 3), min_ratings=1)
    ranking = attach_movies(scores, None, window_start=dt.date(2019, 1, 1), window_end="2019-01-02")
    assert ranking["title"].tolist() == [""]


def test_input_is_not_modified() -> None:
    ratings = _ratings([(1, 5.0)] * 3 + [(2, 4.0)] * 3)
    before = ratings.copy()
    rank_window(ratings, MOVIES, window_start="2019-01-01", window_end="2019-01-02")
    pd.testing.assert_frame_equal(ratings, before)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_ratings": 0}, "min_ratings"),
        ({"prior_weight": -1}, "prior_weight"),
        ({"top_n": 0}, "top_n"),
    ],
)
def test_rejects_bad_parameters(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        score_movies(_ratings([(1, 5.0)]), **kwargs)


def test_rejects_missing_columns() -> None:
    with pytest.raises(ValueError, match=r"ratings lack column\(s\) \['rating'\]"):
        score_movies(pd.DataFrame({"movieId": [1]}))
    with pytest.raises(ValueError, match=r"aggregates lack column\(s\) \['n_ratings', 'rating_sum'\]"):
        score_aggregates(pd.DataFrame({"movieId": [1]}))


@pytest.mark.parametrize("kwargs", [{"min_ratings": 0}, {"prior_weight": -0.5}, {"top_n": 0}])
def test_aggregates_reject_bad_parameters_too(kwargs: dict) -> None:
    stats = pd.DataFrame({"movieId": [1], "n_ratings": [3], "rating_sum": [12.0]})
    with pytest.raises(ValueError, match=f"{next(iter(kwargs))} must be"):
        score_aggregates(stats, **kwargs)


def test_top_n_of_one_keeps_the_winner() -> None:
    ratings = _ratings([(1, 5.0)] * 4 + [(2, 3.0)] * 4)
    assert score_movies(ratings, min_ratings=1, top_n=1)["movieId"].tolist() == [1]


def test_empty_table_keeps_the_column_types() -> None:
    empty = score_movies(_ratings([]))
    assert empty.dtypes.astype(str).to_dict() == {
        "rank": "int64",
        "movieId": "int64",
        "n_ratings": "int64",
        "mean_rating": "float64",
        "score": "float64",
    }


def test_rank_window_passes_every_knob_on() -> None:
    # movie 5 (3 ratings of 5.0) would lead with the default min_ratings of 3; movie 4 is the third one kept
    ratings = _ratings([(1, 5.0)] * 2 + [(2, 4.0)] * 6 + [(3, 3.0)] * 8 + [(4, 1.0)] * 5 + [(5, 5.0)] * 3)
    knobs = {"min_ratings": 4, "prior_weight": 2.5, "top_n": 2}
    ranked = rank_window(ratings, MOVIES, window_start="2019-01-01", window_end="2019-01-02", **knobs)
    expected = score_movies(ratings, **knobs)
    pd.testing.assert_frame_equal(ranked[SCORE_COLUMNS], expected)
    assert len(ranked) == 2


def test_attach_movies_takes_the_first_of_duplicate_catalogue_rows() -> None:
    scores = score_movies(_ratings([(1, 5.0)] * 3), min_ratings=1)
    movies = pd.DataFrame(
        {"movieId": [1, 1], "title": ["First (1990)", "Second"], "genres": ["Drama", "Comedy"]}
    )
    out = attach_movies(scores, movies, window_start="2019-01-01", window_end="2019-01-02")
    assert out[["movieId", "title", "genres"]].values.tolist() == [[1, "First (1990)", "Drama"]]


def test_attach_movies_keeps_rows_whatever_the_index_and_takes_timestamps() -> None:
    scores = score_movies(_ratings([(1, 5.0)] * 3 + [(2, 4.0)] * 3), min_ratings=1)
    scores.index = [7, 3]  # e.g. a filtered frame
    out = attach_movies(
        scores, None, window_start="2019-01-01T00:00:00+00:00", window_end=dt.datetime(2019, 1, 2, 0, 0)
    )
    assert out["window_start"].tolist() == [dt.date(2019, 1, 1)] * 2
    assert out["window_end"].tolist() == [dt.date(2019, 1, 2)] * 2
    assert out["movieId"].tolist() == [1, 2]


def test_big_movie_ids_keep_every_digit() -> None:
    """BIGINT ids beyond float64's 53-bit mantissa come back exactly (no float round trip)."""
    big = 2**62 + 1
    stats = pd.DataFrame({"movieId": [big, 7], "n_ratings": [5, 5], "rating_sum": [20.0, 10.0]})
    assert score_aggregates(stats, min_ratings=1)["movieId"].tolist() == [big, 7]
