"""Popular-movie ranking: a pure pandas function (no Airflow import), tested in tests/include.

The score is the Bayesian ("true Bayesian estimate") weighting used by IMDb's top list::

    score = v / (v + m) * R + m / (v + m) * C

with ``v`` the movie's number of ratings in the window, ``R`` its mean rating, ``C`` the mean of all ratings
in the window and ``m`` the prior weight. Movies with few ratings are pulled towards ``C``.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from airflow_movielens.dates import as_date

DEFAULT_MIN_RATINGS = 3
DEFAULT_PRIOR_WEIGHT = 10.0
DEFAULT_TOP_N = 100

SCORE_COLUMNS = ["rank", "movieId", "n_ratings", "mean_rating", "score"]
RANKING_COLUMNS = [
    "window_start",
    "window_end",
    "rank",
    "movieId",
    "title",
    "genres",
    "n_ratings",
    "mean_rating",
    "score",
]
_DTYPES = {
    "rank": "int64",
    "movieId": "int64",
    "n_ratings": "int64",
    "mean_rating": "float64",
    "score": "float64",
}


def score_movies(
    ratings: pd.DataFrame,
    *,
    min_ratings: int = DEFAULT_MIN_RATINGS,
    prior_weight: float = DEFAULT_PRIOR_WEIGHT,
    top_n: int | None = DEFAULT_TOP_N,
) -> pd.DataFrame:
    """Rank movies of one window by Bayesian score.

    :param ratings: at least the columns ``movieId`` and ``rating``; one row per rating.
    :param min_ratings: keep movies with at least this many ratings (``v >= min_ratings``).
    :param prior_weight: ``m``, how many "average" ratings every movie is assumed to have.
    :param top_n: keep the first ``top_n`` movies (``None`` keeps all).
    :return: columns ``rank, movieId, n_ratings, mean_rating, score`` ordered by score desc,
        n_ratings desc, movieId asc; ``rank`` is 1..N.
    """
    missing = {"movieId", "rating"} - set(ratings.columns)
    if missing:
        raise ValueError(f"ratings lack column(s) {sorted(missing)}")

    rated = ratings[["movieId", "rating"]].dropna()
    # score_aggregates checks the knobs and casts the aggregates' types
    stats = rated.groupby("movieId")["rating"].agg(n_ratings="count", rating_sum="sum").reset_index()
    return score_aggregates(stats, min_ratings=min_ratings, prior_weight=prior_weight, top_n=top_n)


def score_aggregates(
    stats: pd.DataFrame,
    *,
    min_ratings: int = DEFAULT_MIN_RATINGS,
    prior_weight: float = DEFAULT_PRIOR_WEIGHT,
    top_n: int | None = DEFAULT_TOP_N,
) -> pd.DataFrame:
    """Rank movies of one window from their per-movie aggregates (what the database computes).

    :param stats: one row per movie with ``movieId``, ``n_ratings`` (ratings in the window) and
        ``rating_sum`` (their sum); the window mean ``C`` is ``sum(rating_sum) / sum(n_ratings)`` over all
        rows, before the ``min_ratings`` filter, exactly as from the raw ratings.
    :return: as :func:`score_movies`.
    """
    _check_knobs(min_ratings, prior_weight, top_n)
    missing = {"movieId", "n_ratings", "rating_sum"} - set(stats.columns)
    if missing:
        raise ValueError(f"per-movie aggregates lack column(s) {sorted(missing)}")
    stats = stats[["movieId", "n_ratings", "rating_sum"]].astype(
        {"movieId": "int64", "n_ratings": "int64", "rating_sum": "float64"}
    )
    total = int(stats["n_ratings"].sum())
    if total == 0:
        return pd.DataFrame({col: pd.Series(dtype=_DTYPES[col]) for col in SCORE_COLUMNS})
    overall_mean = float(stats["rating_sum"].sum()) / total
    stats = stats[stats["n_ratings"] >= min_ratings].copy()
    v = stats["n_ratings"]
    m = float(prior_weight)
    stats["mean_rating"] = stats["rating_sum"] / v
    stats["score"] = v / (v + m) * stats["mean_rating"] + m / (v + m) * overall_mean

    # movieId is unique: the order is total, no stable sort needed
    ranked = stats.sort_values(["score", "n_ratings", "movieId"], ascending=[False, False, True])
    if top_n is not None:
        ranked = ranked.head(top_n)
    ranked["rank"] = range(1, len(ranked) + 1)
    return ranked[SCORE_COLUMNS].reset_index(drop=True).astype(_DTYPES)


def _check_knobs(min_ratings: int, prior_weight: float, top_n: int | None) -> None:
    if min_ratings < 1:
        raise ValueError(f"min_ratings must be >= 1, got {min_ratings}")
    if prior_weight < 0:
        raise ValueError(f"prior_weight must be >= 0, got {prior_weight}")
    if top_n is not None and top_n < 1:
        raise ValueError(f"top_n must be >= 1, got {top_n}")


def attach_movies(
    scores: pd.DataFrame,
    movies: pd.DataFrame | None,
    *,
    window_start: str | dt.date | dt.datetime,
    window_end: str | dt.date | dt.datetime,
) -> pd.DataFrame:
    """Add the window bounds and each movie's ``title``/``genres`` to :func:`score_movies` output.

    Movies missing from ``movies`` keep an empty title and genres (the ranking never loses a row).
    ``window_start``/``window_end`` become ``datetime.date`` values.
    """
    out = scores[SCORE_COLUMNS].copy()
    if movies is not None and not movies.empty:
        lookup = movies[["movieId", "title", "genres"]].drop_duplicates("movieId")
        lookup = lookup.astype({"movieId": "int64"})
        out = out.merge(lookup, on="movieId", how="left")
    else:
        out["title"] = out["genres"] = ""
    out["title"] = out["title"].fillna("").astype(object)
    out["genres"] = out["genres"].fillna("").astype(object)
    out["window_start"] = as_date(window_start)
    out["window_end"] = as_date(window_end)
    return out[RANKING_COLUMNS].sort_values("rank").reset_index(drop=True)


def rank_window(
    ratings: pd.DataFrame,
    movies: pd.DataFrame | None,
    *,
    window_start: str | dt.date | dt.datetime,
    window_end: str | dt.date | dt.datetime,
    min_ratings: int = DEFAULT_MIN_RATINGS,
    prior_weight: float = DEFAULT_PRIOR_WEIGHT,
    top_n: int | None = DEFAULT_TOP_N,
) -> pd.DataFrame:
    """:func:`score_movies` then :func:`attach_movies`: the full ranking table of one window."""
    scores = score_movies(ratings, min_ratings=min_ratings, prior_weight=prior_weight, top_n=top_n)
    return attach_movies(scores, movies, window_start=window_start, window_end=window_end)
