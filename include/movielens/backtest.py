"""Backtest of the popular lists: which (method, window) best predicts what users rate next.

Protocol, for a cutoff T (a UTC midnight) and a horizon of H days:

- train = ratings with ``timestamp < T``; test = ratings with ``T <= timestamp < T + H days``.
- a user is *evaluated* if they have at least one *relevant* movie: rated in test and never rated in train.
- each (method, window) ranks movies from train only, exactly as :mod:`include.movielens.popularity` does with
  ``end = T`` (windows: :mod:`include.movielens.windows`); the ``random`` baseline is one random
  permutation of the movies in train (seeded per cutoff).
- a user's list = that ranking without the movies the user rated in train, cut at K.
- HR@K = share of evaluated users with at least one relevant movie in their list.
- nDCG@K = mean over evaluated users of DCG/IDCG (binary relevance): DCG = sum over hits of 1/log2(pos + 1),
  IDCG = the same sum over min(K, number of relevant movies) ideal hits at positions 1, 2, ...
- coverage = distinct movies in any evaluated user's list / distinct movies in train.

The split and the metrics of one cutoff are :mod:`include.movielens.holdout` (vectorised, no loop per user);
the rankings come from per-movie aggregates through :func:`include.movielens.popularity.rank_aggregates`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import pandas as pd

from airflow_movielens.dates import DAY_SECONDS, as_midnight, epoch_day
from include.movielens.holdout import RatingLog, Split, chunks, metrics, split
from include.movielens.popularity import (
    DEFAULT_HALF_LIFE_DAYS,
    DEFAULT_MIN_RATINGS,
    DEFAULT_PRIOR_WEIGHT,
    METHODS,
    decay_weights,
    rank_aggregates,
)
from include.movielens.windows import WINDOWS, window_days, window_start

RANDOM = "random"
EVAL_COLUMNS = ["cutoff", "horizon_days", "k", "method", "window", "users", "hr", "ndcg", "coverage"]
DEFAULT_HORIZON_DAYS = 30
DEFAULT_K = 10
DEFAULT_CUTOFFS = 12
DEFAULT_SEED = 42


def default_cutoffs(
    log: RatingLog, count: int = DEFAULT_CUTOFFS, horizon_days: int = DEFAULT_HORIZON_DAYS
) -> list[dt.date]:
    """The last ``count`` first-of-month days T with ratings before T and a whole horizon of data after it
    (``T + horizon_days`` at most the day after the last rating)."""
    first, latest = log.day(0), log.day(-1) + dt.timedelta(days=1 - horizon_days)
    months = pd.date_range(end=latest, periods=count, freq="MS")
    out = [month.date() for month in months if month.date() > first]
    if not out:
        raise ValueError(
            f"no month start between {first} and {latest} leaves a {horizon_days}-day horizon in the data"
        )
    return out


def _check(horizon_days: int, k: int, methods: Sequence[str], windows: Sequence[str]) -> None:
    if k < 1:
        raise ValueError(f"K must be >= 1, got {k}")
    if horizon_days < 1:
        raise ValueError(f"horizon must be >= 1 day, got {horizon_days}")
    for method in methods:
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; expected some of {', '.join(METHODS)}")
    for window in windows:
        window_days(window)  # raises naming an unknown window


def evaluate(
    log: RatingLog,
    cutoffs: Iterable[str | dt.date],
    *,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    k: int = DEFAULT_K,
    methods: Sequence[str] = METHODS,
    windows: Sequence[str] = tuple(WINDOWS),
    seed: int = DEFAULT_SEED,
    min_ratings: int = DEFAULT_MIN_RATINGS,
    prior_weight: float = DEFAULT_PRIOR_WEIGHT,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
) -> pd.DataFrame:
    """Backtest every (method, window) and the ``random`` baseline (window ``all``) at each cutoff.

    :param cutoffs: UTC days (``YYYY-MM-DD`` or dates); each needs ratings before it and evaluated users.
    :param seed: the ``random`` baseline at cutoff T uses ``numpy.random.default_rng([seed, T.toordinal()])``.
    :return: one row per (cutoff, method, window) with the columns :data:`EVAL_COLUMNS`.
    """
    _check(horizon_days, k, methods, windows)
    days = [epoch_day(as_midnight(c, "cutoff")) for c in cutoffs]
    if not days:
        raise ValueError("no cutoffs given")
    params = {"min_ratings": min_ratings, "prior_weight": prior_weight, "half_life_days": half_life_days}
    rows = []
    for day in days:
        holdout = split(log, day, horizon_days)
        shuffled = np.random.default_rng([seed, day.toordinal()]).permutation(holdout.train_movies)
        rankings = [*_rankings(log, holdout, methods, windows, **params), (RANDOM, "all", shuffled)]
        for method, window, ranking in rankings:
            rows.append((day, horizon_days, k, method, window, holdout.users, *metrics(holdout, ranking, k)))
    return pd.DataFrame(rows, columns=EVAL_COLUMNS)


def _ranking_at(
    log: RatingLog, cutoff: str | dt.date, method: str, window: str, horizon_days: int, k: int, params: dict
) -> tuple[Split, np.ndarray]:
    """The split at ``cutoff`` and the ``(method, window)`` ranking on it, with the ranking ``params``
    (:func:`evaluate`'s defaults for those not given)."""
    _check(horizon_days, k, [method], [window])
    holdout = split(log, epoch_day(as_midnight(cutoff, "cutoff")), horizon_days)
    defaults = {"min_ratings": DEFAULT_MIN_RATINGS, "prior_weight": DEFAULT_PRIOR_WEIGHT}
    params = {**defaults, "half_life_days": DEFAULT_HALF_LIFE_DAYS, **params}
    ((_, _, ranking),) = _rankings(log, holdout, [method], [window], **params)
    return holdout, ranking


def scored_lists(
    log: RatingLog,
    cutoff: str | dt.date,
    *,
    method: str,
    window: str,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    k: int = DEFAULT_K,
    **params: float,
) -> pd.DataFrame:
    """The lists that :func:`evaluate` scores for ``(method, window)`` at ``cutoff``, which
    :func:`~include.movielens.holdout.metrics` never builds: one row per (evaluated user, list position),
    columns ``userId``, ``position`` (1..K) and ``movieId``, in list order; what the per-user read path
    (:mod:`include.movielens.reader`) must return on the cutoff. ``params``: as :func:`evaluate`'s.
    """
    holdout, ranking = _ranking_at(log, cutoff, method, window, horizon_days, k, params)
    pair_user, pair_rank = holdout.rated_pairs(ranking, 0, len(ranking))
    order = np.argsort(pair_user, kind="stable")
    pair_user, pair_rank = pair_user[order], pair_rank[order]
    bounds = np.searchsorted(pair_user, np.arange(holdout.users + 1))
    users, positions, movies = [], [], []
    for i in range(holdout.users):
        rated = pair_rank[bounds[i] : bounds[i + 1]]
        ranks = np.setdiff1d(np.arange(1, min(len(ranking), k + len(rated)) + 1), rated)[:k]
        users.append(np.full(len(ranks), log.user_ids[holdout.evaluated[i]]))
        positions.append(np.arange(1, len(ranks) + 1))
        movies.append(log.movie_ids[ranking[ranks - 1]])
    columns = {"userId": users, "position": positions, "movieId": movies}
    return pd.DataFrame({name: np.concatenate(parts).astype(np.int64) for name, parts in columns.items()})


def unseen_at_depth(
    log: RatingLog,
    cutoff: str | dt.date,
    depths: Sequence[int],
    *,
    method: str,
    window: str,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    k: int = DEFAULT_K,
    **params: float,
) -> pd.DataFrame:
    """For each stored depth d: the share of users with at least ``k`` movies they have not rated among the
    first d of the ``(method, window)`` ranking at ``cutoff`` (the per-user list a depth can still fill).

    :return: one row per depth: ``depth``, ``users`` (with a rating before the cutoff), ``users_share``,
        ``evaluated`` (the backtest's users at ``horizon_days``), ``evaluated_share``.
    """
    if not depths or min(depths) < 1:
        raise ValueError(f"depths must be integers >= 1, got {list(depths)}")
    holdout, ranking = _ranking_at(log, cutoff, method, window, horizon_days, k, params)
    rank_of = np.zeros(len(log.movie_ids), dtype=np.int64)  # 0: not ranked
    rank_of[ranking] = np.arange(1, len(ranking) + 1)
    n_movies = len(log.movie_ids)
    train = chunks(0, holdout.n_train)
    pairs = [log.user[lo:hi].astype(np.int64) * n_movies + log.movie[lo:hi] for lo, hi in train]
    pairs = np.unique(np.concatenate(pairs))  # each (user, movie) rated in train, once
    user, rank = pairs // n_movies, rank_of[pairs % n_movies]
    known = np.bincount(user, minlength=log.n_users) > 0
    evaluated = np.bincount(holdout.evaluated, minlength=log.n_users) > 0
    users, n_evaluated = int(known.sum()), int(evaluated.sum())
    rows = []
    for depth in sorted(depths):
        rated = np.bincount(user[(rank > 0) & (rank <= depth)], minlength=log.n_users)
        full = min(depth, len(ranking)) - rated >= k
        rows.append((depth, users, full[known].mean(), n_evaluated, full[evaluated].mean()))
    return pd.DataFrame(rows, columns=["depth", "users", "users_share", "evaluated", "evaluated_share"])


def _rankings(
    log: RatingLog,
    holdout: Split,
    methods: Sequence[str],
    windows: Sequence[str],
    *,
    half_life_days: float,
    **params: float,
) -> Iterator[tuple[str, str, np.ndarray]]:
    """(method, window, movie codes best first) of every ranking, by :func:`popularity.rank_aggregates`.

    The per-movie aggregates are sums over the time-sorted log: windows are nested suffixes of the train rows,
    so each row is counted once, from the narrowest window outwards.
    """
    n_movies = len(log.movie_ids)
    starts = {w: window_start(holdout.end, w) for w in windows}
    offsets = {w: 0 if s is None else int(np.searchsorted(log.timestamp, s)) for w, s in starts.items()}
    totals = dict.fromkeys(("n_ratings", "rating_sum", "decayed"), 0)  # 0 + sums is sums, bit for bit
    stats_from: dict[int, pd.DataFrame] = {}
    edge = holdout.n_train
    for lo in sorted(set(offsets.values()), reverse=True):
        for name, sums in _segment_sums(log, lo, edge, holdout.end, half_life_days).items():
            totals[name] = totals[name] + sums
        stats = pd.DataFrame({"movieId": np.arange(n_movies), **totals})
        stats_from[lo] = stats[stats["n_ratings"] > 0]
        edge = lo
    for window in windows:
        for method in methods:
            ranking = rank_aggregates(stats_from[offsets[window]], method=method, top_n=None, **params)
            yield method, window, ranking["movieId"].to_numpy()


def _segment_sums(log: RatingLog, lo: int, hi: int, end: int, half_life_days: float) -> dict[str, np.ndarray]:
    """``n_ratings``, ``rating_sum`` and ``decayed`` per movie over the log rows ``[lo, hi)``.

    A chunk at a time, with no full-size temporary; ``np.add.at`` adds in row order like ``np.bincount``
    over the whole range, so the sums are the same to the last bit.
    """
    n_movies = len(log.movie_ids)
    zeros = np.zeros(n_movies)
    sums = {"n_ratings": np.zeros(n_movies, np.int64), "rating_sum": zeros, "decayed": zeros.copy()}
    for start, stop in chunks(lo, hi):
        movie = log.movie[start:stop]
        sums["n_ratings"] += np.bincount(movie, minlength=n_movies)
        np.add.at(sums["rating_sum"], movie, log.rating[start:stop].astype(np.float64))
        np.add.at(sums["decayed"], movie, _day_weights(log.timestamp[start:stop], end, half_life_days))
    return sums


def _day_weights(timestamp: np.ndarray, end: int, half_life_days: float) -> np.ndarray:
    """The ``trending`` weight of each rating of a time-sorted slice, laid out run by run of equal age.

    A rating's whole-day age is at least d iff its timestamp is at most ``end - d days``, so one
    ``searchsorted`` per day finds the runs: cheaper than dividing every timestamp.
    """
    if not len(timestamp):
        return np.zeros(0)
    ages = np.arange((end - int(timestamp[0])) // DAY_SECONDS, -1, -1)  # oldest first, like the rows
    at_least = np.searchsorted(timestamp, end - ages * DAY_SECONDS, side="right")
    return np.repeat(decay_weights(ages, half_life_days), np.diff(at_least, prepend=0))


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Means over the cutoffs per (method, window): users per cutoff, HR, nDCG, coverage; best nDCG first."""
    means = {name: (name, "mean") for name in ("users", "hr", "ndcg", "coverage")}
    summary = results.groupby(["method", "window"], sort=False).agg(cutoffs=("cutoff", "nunique"), **means)
    summary = summary.reset_index().astype({"users": "int64"})
    return summary.sort_values(["ndcg", "hr"], ascending=False, kind="mergesort").reset_index(drop=True)
