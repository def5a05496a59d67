"""Popular-movie lists of one window by several methods: the pure reference (pandas/numpy, no Airflow import).

Every other implementation of the rankings (the daily DAGs' SQL aggregate and dataframe step in
:mod:`include.movielens.ranking`, the vectorised backtest) is tested against this module, so its semantics
are spelled out here exactly. Windows: :mod:`include.movielens.windows`; timestamps: Unix seconds (UTC).

**Methods** (:data:`METHODS`); ``n_ratings`` and ``mean_rating`` are always the window's count and mean:

- ``count``: ``score`` = number of ratings in the window; ties by movieId ascending.
- ``bayes``: IMDb's top-list weighting ``v/(v+m)·R + m/(v+m)·C`` (``v`` the movie's ratings in the window,
  ``R`` their mean, ``C`` the mean of every rating in the window, ``m`` the prior weight), only movies with
  at least ``min_ratings`` ratings; ties by n_ratings descending, then movieId ascending.
- ``trending``: ``score`` = sum over the movie's ratings of ``0.5 ** (age_days / half_life_days)``, where
  ``age_days = floor((end - timestamp) / 86400)`` is the number of *whole* days between the rating and ``end``
  (0 for the last 24 hours before ``end``). Whole days make the weight a function of the rating's day, so SQL
  can join a small table of per-day weights instead of needing ``POWER``/``EXP`` (missing from some SQLite
  builds). The sum is rounded to :data:`TREND_DECIMALS` decimals before ranking (summation order must not
  break ties); ties by movieId ascending.

The pipeline splits the work into :func:`aggregate` (what a database does) and :func:`rank_aggregates` (what
a dataframe task does). Every ranking lists each movie with at least one rating in the window once
(``bayes``: at least ``min_ratings``), ranks 1..N without gaps, columns :data:`SCORE_COLUMNS`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from airflow_movielens.dates import DAY_SECONDS, DateLike, as_midnight
from include.movielens.windows import select_window

METHODS = ("count", "bayes", "trending")
DEFAULT_MIN_RATINGS = 3
DEFAULT_PRIOR_WEIGHT = 10.0
DEFAULT_TOP_N = 100
DEFAULT_HALF_LIFE_DAYS = 7.0
TREND_DECIMALS = 9
AGGREGATE_COLUMNS = ["movieId", "n_ratings", "rating_sum", "decayed"]
SCORE_COLUMNS = ["rank", "movieId", "n_ratings", "mean_rating", "score"]
# the types whatever the database driver returned (e.g. ``Decimal`` for PostgreSQL's NUMERIC)
_DTYPES = dict.fromkeys(["movieId", "n_ratings", "rank"], "int64") | dict.fromkeys(
    ["rating_sum", "decayed", "mean_rating", "score"], "float64"
)


def _require(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = set(columns) - set(frame.columns)
    if missing:
        raise ValueError(f"{what} lack column(s) {sorted(missing)}")


def _typed(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return frame[columns].astype({column: _DTYPES[column] for column in columns})


def _check_top_n(top_n: int | None) -> None:
    if top_n is not None and top_n < 1:
        raise ValueError(f"top_n must be >= 1, got {top_n}")


def _numbered(scored: pd.DataFrame, order: list[str], top_n: int | None) -> pd.DataFrame:
    """``scored`` sorted by ``order`` (movieId ascending, the rest descending; movieId is unique, so the
    order is total), cut at ``top_n``, ranked 1..N."""
    ranked = scored.sort_values(order, ascending=[column == "movieId" for column in order])
    if top_n is not None:
        ranked = ranked.head(top_n)
    ranked["rank"] = range(1, len(ranked) + 1)
    return _typed(ranked, SCORE_COLUMNS).reset_index(drop=True)


def decay_weights(age_days: np.ndarray, half_life_days: float) -> np.ndarray:
    """``0.5 ** (age_days / half_life_days)`` for whole-day ages (the ``trending`` weight of a rating)."""
    if not half_life_days > 0:
        raise ValueError(f"half_life_days must be > 0, got {half_life_days}")
    return np.power(0.5, age_days / float(half_life_days))


def aggregate(
    ratings: pd.DataFrame, *, end: DateLike | int, half_life_days: float = DEFAULT_HALF_LIFE_DAYS
) -> pd.DataFrame:
    """Per-movie aggregates of one window's ratings (``movieId``, ``rating``, ``timestamp``, all before the
    window end ``end``, a UTC midnight or its Unix timestamp): what a SQL ``GROUP BY movieId`` computes.

    :return: :data:`AGGREGATE_COLUMNS`, one row per movie, movieId ascending; ``decayed`` is the sum of the
        ratings' ``trending`` weights.
    """
    _require(ratings, ["movieId", "rating", "timestamp"], "ratings")
    end_ts = end if isinstance(end, int) else as_midnight(end, "window end")
    rated = ratings.dropna(subset=["movieId", "rating"])
    age_days = (end_ts - rated["timestamp"].to_numpy("int64")) // DAY_SECONDS
    weights = decay_weights(age_days, half_life_days)
    frame = rated[["movieId"]].assign(rating=rated["rating"].to_numpy("float64"), weight=weights)
    stats = frame.groupby("movieId").agg(  # sorted by movieId
        n_ratings=("rating", "size"), rating_sum=("rating", "sum"), decayed=("weight", "sum")
    )
    return _typed(stats.reset_index(), AGGREGATE_COLUMNS)


def score_movies(ratings: pd.DataFrame, **kwargs: Any) -> pd.DataFrame:
    """The ``bayes`` ranking of one window's ratings (at least ``movieId`` and ``rating``, one row each);
    the keyword arguments of :func:`score_aggregates`."""
    _require(ratings, ["movieId", "rating"], "ratings")
    rated = ratings[["movieId", "rating"]].dropna()
    stats = rated.groupby("movieId")["rating"].agg(n_ratings="count", rating_sum="sum").reset_index()
    return score_aggregates(stats, **kwargs)


def score_aggregates(
    stats: pd.DataFrame,
    *,
    min_ratings: int = DEFAULT_MIN_RATINGS,
    prior_weight: float = DEFAULT_PRIOR_WEIGHT,
    top_n: int | None = DEFAULT_TOP_N,
) -> pd.DataFrame:
    """The ``bayes`` ranking of one window from its per-movie ``movieId``, ``n_ratings``, ``rating_sum``.

    The window mean ``C`` is ``sum(rating_sum) / sum(n_ratings)`` over every row, before the ``min_ratings``
    filter, exactly as from the raw ratings.

    :param min_ratings: keep movies with at least this many ratings (``v >= min_ratings``).
    :param prior_weight: ``m``, how many "average" ratings every movie is assumed to have.
    :param top_n: keep the first ``top_n`` movies (``None`` keeps all).
    """
    if min_ratings < 1:
        raise ValueError(f"min_ratings must be >= 1, got {min_ratings}")
    if prior_weight < 0:
        raise ValueError(f"prior_weight must be >= 0, got {prior_weight}")
    _check_top_n(top_n)
    _require(stats, ["movieId", "n_ratings", "rating_sum"], "per-movie aggregates")
    stats = _typed(stats, ["movieId", "n_ratings", "rating_sum"])
    total = int(stats["n_ratings"].sum())
    if total == 0:
        return pd.DataFrame({column: pd.Series(dtype=_DTYPES[column]) for column in SCORE_COLUMNS})
    overall_mean = float(stats["rating_sum"].sum()) / total
    stats = stats[stats["n_ratings"] >= min_ratings].copy()
    v, m = stats["n_ratings"], float(prior_weight)
    stats["mean_rating"] = stats["rating_sum"] / v
    stats["score"] = v / (v + m) * stats["mean_rating"] + m / (v + m) * overall_mean
    return _numbered(stats, ["score", "n_ratings", "movieId"], top_n)


def rank_aggregates(
    stats: pd.DataFrame,
    *,
    method: str,
    min_ratings: int = DEFAULT_MIN_RATINGS,
    prior_weight: float = DEFAULT_PRIOR_WEIGHT,
    top_n: int | None = DEFAULT_TOP_N,
) -> pd.DataFrame:
    """Rank one window's movies from their :func:`aggregate` rows (the only input a database must provide).

    ``bayes`` is :func:`score_aggregates`; ``count`` scores ``n_ratings``; ``trending`` scores ``decayed``
    rounded to :data:`TREND_DECIMALS` decimals, so that the order in which a database adds the weights cannot
    turn a tie into a difference of one ulp.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    _check_top_n(top_n)
    if method == "bayes":
        return score_aggregates(stats, min_ratings=min_ratings, prior_weight=prior_weight, top_n=top_n)
    _require(stats, AGGREGATE_COLUMNS, "per-movie aggregates")
    out = _typed(stats, AGGREGATE_COLUMNS)
    out = out[out["n_ratings"] > 0].copy()
    out["mean_rating"] = out["rating_sum"] / out["n_ratings"]
    score = out["n_ratings"].astype(float) if method == "count" else out["decayed"].round(TREND_DECIMALS)
    return _numbered(out.assign(score=score), ["score", "movieId"], top_n)


def rank_ratings(
    ratings: pd.DataFrame,
    *,
    end: DateLike | int,
    method: str,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
    **kwargs: Any,
) -> pd.DataFrame:
    """Rank the movies of ratings that are already one window (no filtering here) by ``method``:
    :func:`aggregate`, then :func:`rank_aggregates` (``kwargs``: its ``min_ratings``, ``prior_weight``,
    ``top_n``).

    :param end: the window end; ``trending`` measures ages to it.
    :param half_life_days: ``trending`` only: a rating this many whole days old weighs 1/2.
    """
    stats = aggregate(ratings, end=end, half_life_days=half_life_days)
    return rank_aggregates(stats, method=method, **kwargs)


def rank_window(ratings: pd.DataFrame, *, end: DateLike, window: str, **kwargs: Any) -> pd.DataFrame:
    """The ranking of ``window`` ending at ``end`` from raw ratings (rows outside the window are ignored):
    :func:`~include.movielens.windows.select_window`, then :func:`rank_ratings` with ``kwargs``."""
    return rank_ratings(select_window(ratings, end, window), end=as_midnight(end, "window end"), **kwargs)
