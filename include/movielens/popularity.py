"""Popular-movie lists over rolling windows, by several methods: pure pandas/numpy, no Airflow import.

This module is the reference ("oracle") that any other implementation of the rankings (SQL aggregates in the
database, the vectorised backtest) is tested against, so its semantics are spelled out here exactly.

**Window end** ``end`` (called *D* in the pipeline, *T* in the backtest) is a UTC midnight; it is exclusive.
Timestamps are Unix seconds (UTC).

**Windows** (:data:`WINDOWS`): ``"1d"``, ``"7d"``, ``"30d"``, ``"365d"`` hold the ratings of the last N days
before ``end``: ``end - N days <= timestamp < end``. ``"all"`` holds every rating with ``timestamp < end``.
A rating exactly at ``end - N days`` is inside the window; a rating exactly at ``end`` is outside.

**Methods** (:data:`METHODS`); ``n_ratings`` and ``mean_rating`` are always the window's count and mean:

- ``count``: ``score`` = number of ratings in the window; ties by movieId ascending.
- ``bayes``: :func:`include.movielens.ranking.score_movies` (``v/(v+m)·R + m/(v+m)·C``, C = the window's mean,
  only movies with at least ``min_ratings`` ratings); ties by n_ratings descending, then movieId ascending.
- ``trending``: ``score`` = sum over the movie's ratings of ``0.5 ** (age_days / half_life_days)``, where
  ``age_days = floor((end - timestamp) / 86400)`` is the number of *whole* days between the rating and ``end``
  (0 for the last 24 hours before ``end``, 1 for the 24 hours before those, ...). Whole days make the weight a
  function of the rating's day, so a SQL version can join a small table of per-day weights instead of needing
  ``POWER``/``EXP`` (missing from some SQLite builds). The sum is rounded to :data:`TREND_DECIMALS` decimals
  before ranking (summation order must not break ties); ties by movieId ascending.

The split into :func:`aggregate` (per-movie ``n_ratings``, ``rating_sum``, ``decayed``: the part a database
does) and :func:`rank_aggregates` (the part a dataframe task does) is the one the pipeline uses.

Every ranking lists each movie with at least one rating in the window once (``bayes``: at least
``min_ratings``), ranks 1..N without gaps.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from airflow_movielens.dates import DAY_SECONDS, as_midnight
from include.movielens.ranking import (
    DEFAULT_MIN_RATINGS,
    DEFAULT_PRIOR_WEIGHT,
    DEFAULT_TOP_N,
    SCORE_COLUMNS,
    score_aggregates,
    score_movies,
)

METHODS = ("count", "bayes", "trending")
WINDOWS: dict[str, int | None] = {"1d": 1, "7d": 7, "30d": 30, "365d": 365, "all": None}
DEFAULT_HALF_LIFE_DAYS = 7.0
TREND_DECIMALS = 9
AGGREGATE_COLUMNS = ["movieId", "n_ratings", "rating_sum", "decayed"]
# the aggregates' types, whatever the database driver returned (e.g. ``Decimal`` for PostgreSQL's NUMERIC)
_AGGREGATE_DTYPES = {"movieId": "int64", "n_ratings": "int64", "rating_sum": "float64", "decayed": "float64"}

__all__ = [
    "AGGREGATE_COLUMNS",
    "DEFAULT_HALF_LIFE_DAYS",
    "METHODS",
    "TREND_DECIMALS",
    "WINDOWS",
    "aggregate",
    "decay_weights",
    "rank_aggregates",
    "rank_ratings",
    "rank_window",
    "select_window",
    "window_start",
]


def window_start(end: int, window: str) -> int | None:
    """The first timestamp (inclusive) of ``window`` ending at the Unix midnight ``end``; None for ``all``."""
    if window not in WINDOWS:
        raise ValueError(f"unknown window {window!r}; expected one of {', '.join(WINDOWS)}")
    days = WINDOWS[window]
    return None if days is None else end - days * DAY_SECONDS


def select_window(ratings: pd.DataFrame, end: str | dt.date | dt.datetime, window: str) -> pd.DataFrame:
    """The rows of ``ratings`` inside ``window`` ending at ``end`` (see the module docstring)."""
    end_ts = as_midnight(end, "window end")
    start_ts = window_start(end_ts, window)
    ts = ratings["timestamp"].to_numpy()
    keep = ts < end_ts
    if start_ts is not None:
        keep &= ts >= start_ts
    return ratings[keep]


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")


def _check(method: str, half_life_days: float) -> None:
    _check_method(method)
    _check_half_life(half_life_days)


def _check_half_life(half_life_days: float) -> None:
    if not half_life_days > 0:
        raise ValueError(f"half_life_days must be > 0, got {half_life_days}")


def decay_weights(age_days: np.ndarray, half_life_days: float) -> np.ndarray:
    """``0.5 ** (age_days / half_life_days)`` for whole-day ages (the ``trending`` weight of a rating)."""
    _check_half_life(half_life_days)
    return np.power(0.5, age_days / float(half_life_days))


def aggregate(
    ratings: pd.DataFrame,
    *,
    end: str | dt.date | dt.datetime | int,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
) -> pd.DataFrame:
    """Per-movie aggregates of one window's ratings: what a SQL ``GROUP BY movieId`` computes.

    :param ratings: the window's ratings (``movieId``, ``rating``, ``timestamp``), all before ``end``.
    :param end: the window end, a UTC midnight (or its Unix timestamp).
    :return: :data:`AGGREGATE_COLUMNS`, one row per movie, movieId ascending: ``n_ratings``,
        ``rating_sum`` and ``decayed`` = the sum of the ratings' ``trending`` weights.
    """
    missing = {"movieId", "rating", "timestamp"} - set(ratings.columns)
    if missing:
        raise ValueError(f"ratings lack column(s) {sorted(missing)}")
    end_ts = end if isinstance(end, int) else as_midnight(end, "window end")
    rated = ratings.dropna(subset=["movieId", "rating"])
    age_days = (end_ts - rated["timestamp"].to_numpy("int64")) // DAY_SECONDS
    frame = pd.DataFrame(
        {
            "movieId": rated["movieId"].to_numpy(),
            "rating": rated["rating"].to_numpy("float64"),
            "weight": decay_weights(age_days, half_life_days),
        }
    )
    stats = frame.groupby("movieId").agg(  # sorted by movieId
        n_ratings=("rating", "size"), rating_sum=("rating", "sum"), decayed=("weight", "sum")
    )
    return stats.reset_index()[AGGREGATE_COLUMNS].astype(_AGGREGATE_DTYPES)


def rank_aggregates(
    stats: pd.DataFrame,
    *,
    method: str,
    min_ratings: int = DEFAULT_MIN_RATINGS,
    prior_weight: float = DEFAULT_PRIOR_WEIGHT,
    top_n: int | None = DEFAULT_TOP_N,
) -> pd.DataFrame:
    """Rank one window's movies from their :func:`aggregate` rows (the only input a database must provide).

    ``bayes`` is :func:`include.movielens.ranking.score_aggregates`; ``count`` scores ``n_ratings``;
    ``trending`` scores ``decayed`` rounded to :data:`TREND_DECIMALS` decimals, so that the order in which a
    database happens to add the weights cannot turn a tie into a difference of one ulp.

    :return: columns ``rank, movieId, n_ratings, mean_rating, score``, best first.
    """
    _check_method(method)
    if top_n is not None and top_n < 1:
        raise ValueError(f"top_n must be >= 1, got {top_n}")
    if method == "bayes":
        return score_aggregates(stats, min_ratings=min_ratings, prior_weight=prior_weight, top_n=top_n)
    missing = set(AGGREGATE_COLUMNS) - set(stats.columns)
    if missing:
        raise ValueError(f"per-movie aggregates lack column(s) {sorted(missing)}")
    out = stats[AGGREGATE_COLUMNS].astype(_AGGREGATE_DTYPES)
    out = out[out["n_ratings"] > 0].copy()
    out["mean_rating"] = out["rating_sum"] / out["n_ratings"]
    if method == "count":
        out["score"] = out["n_ratings"].astype(float)
    else:
        out["score"] = out["decayed"].round(TREND_DECIMALS)
    # movieId is unique: the order is total, ties on the score go to the smaller movieId
    ranked = out.sort_values(["score", "movieId"], ascending=[False, True])
    if top_n is not None:
        ranked = ranked.head(top_n)
    ranked["rank"] = range(1, len(ranked) + 1)
    return ranked[SCORE_COLUMNS].reset_index(drop=True)


def rank_ratings(
    ratings: pd.DataFrame,
    *,
    end: str | dt.date | dt.datetime | int,
    method: str,
    min_ratings: int = DEFAULT_MIN_RATINGS,
    prior_weight: float = DEFAULT_PRIOR_WEIGHT,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
    top_n: int | None = DEFAULT_TOP_N,
) -> pd.DataFrame:
    """Rank the movies of ratings that are already one window (no filtering here) by ``method``.

    ``bayes`` goes straight through :func:`include.movielens.ranking.score_movies`; ``count`` and
    ``trending`` through :func:`aggregate` and :func:`rank_aggregates`.

    :param ratings: columns ``movieId``, ``rating`` and ``timestamp``, all before ``end``.
    :param end: the window end, a UTC midnight (or its Unix timestamp); ``trending`` measures ages to it.
    :param min_ratings: ``bayes`` only: keep movies with at least this many ratings.
    :param prior_weight: ``bayes`` only: ``m``.
    :param half_life_days: ``trending`` only: a rating this many whole days old weighs 1/2.
    :param top_n: keep the first ``top_n`` movies (``None`` keeps all).
    :return: columns ``rank, movieId, n_ratings, mean_rating, score``, best first.
    """
    _check(method, half_life_days)
    if method == "bayes":
        return score_movies(ratings, min_ratings=min_ratings, prior_weight=prior_weight, top_n=top_n)
    stats = aggregate(ratings, end=end, half_life_days=half_life_days)
    return rank_aggregates(stats, method=method, top_n=top_n)


def rank_window(
    ratings: pd.DataFrame,
    *,
    end: str | dt.date | dt.datetime,
    method: str,
    window: str,
    min_ratings: int = DEFAULT_MIN_RATINGS,
    prior_weight: float = DEFAULT_PRIOR_WEIGHT,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
    top_n: int | None = DEFAULT_TOP_N,
) -> pd.DataFrame:
    """The ranking of ``window`` ending at ``end``, from raw ratings: select, then :func:`rank_ratings`.

    :param ratings: raw ratings with at least ``movieId``, ``rating``, ``timestamp`` (Unix seconds); rows
        outside the window (before it or at/after ``end``) are ignored.
    """
    _check(method, half_life_days)
    end_ts = as_midnight(end, "window end")
    return rank_ratings(
        select_window(ratings, end, window),
        end=end_ts,
        method=method,
        min_ratings=min_ratings,
        prior_weight=prior_weight,
        half_life_days=half_life_days,
        top_n=top_n,
    )
