"""The daily DAGs' ranking of every window: the SQL aggregate the database runs (:data:`AGGREGATE_SQL`, over
the per-day weights of :func:`weight_table`) and the dataframe step that ranks its rows (:func:`rank_windows`,
:func:`rank_genres`). No Airflow import; tested against :mod:`include.movielens.popularity` (the reference).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from airflow_movielens.dates import DAY_SECONDS, DateLike, as_date, epoch_day
from include.movielens.popularity import (
    AGGREGATE_COLUMNS,
    DEFAULT_HALF_LIFE_DAYS,
    METHODS,
    SCORE_COLUMNS,
    decay_weights,
    rank_aggregates,
)

#: The ``genre`` of the lists over every movie (the others name one MovieLens genre).
ALL_GENRES = "(all genres)"
#: What movies.csv (and the API's movies as ``|``-joined text) says of a movie without a genre.
NO_GENRES = "(no genres listed)"
#: Columns of :func:`attach_movies`.
RANKING_COLUMNS = [
    "window_start", "window_end", "rank", "movieId", "title", "genres", "n_ratings", "mean_rating", "score"
]  # fmt: skip
#: Columns of ``movie_rankings`` (key: window_end, method, window_days, rank).
_KEY = ["window_end", "method", "window_days", "rank", "window_start"]
WINDOW_RANKING_COLUMNS = _KEY + [column for column in RANKING_COLUMNS if column not in _KEY]

#: Per (window, movie) aggregates of the ratings before ``window_end_ts``. ``weights`` holds the complete
#: windows' (window_days, age_days, weight) rows: a rating joins the row of its whole-day age in each window
#: that contains it (age N only for a rating exactly on an N-day window's first second). Integer division
#: of non-negative BIGINTs floors on SQLite and PostgreSQL alike.
AGGREGATE_SQL = """
    SELECT w.window_days AS window_days, r."movieId" AS "movieId",
           COUNT(*) AS n_ratings, SUM(r."rating") AS rating_sum, SUM(w.weight) AS decayed
    FROM {{ ratings }} AS r
    JOIN {{ weights }} AS w
      ON w.age_days = (CAST({{ window_end_ts }} AS BIGINT) - r."timestamp") / 86400
     AND r."timestamp" >= CAST({{ window_end_ts }} AS BIGINT) - 86400 * w.window_days
    WHERE r."timestamp" < CAST({{ window_end_ts }} AS BIGINT)
      AND r."timestamp" >= CAST({{ window_end_ts }} AS BIGINT)
                           - 86400 * (SELECT MAX(window_days) FROM {{ weights }})
    GROUP BY w.window_days, r."movieId"
"""
_NAMES = {name.lower(): name for name in [*WINDOW_RANKING_COLUMNS, *AGGREGATE_COLUMNS, "genre"]}


def canonical_names(names: Iterable[str]) -> dict[str, str]:
    """``{name: its spelling here}`` for column names as a database returned them (it may fold unquoted
    identifiers to upper or lower case); names it does not know stay as they are."""
    return {name: _NAMES.get(name.lower(), name) for name in names}


def weight_table(window_days: Sequence[int], half_life_days: float = DEFAULT_HALF_LIFE_DAYS) -> pd.DataFrame:
    """Rows ``window_days, age_days, weight`` for the ages ``0 .. window_days`` of each window (age
    ``window_days`` occurs only for a rating exactly at the window's start, still inside it): the ``trending``
    weights that :data:`AGGREGATE_SQL` joins instead of calling ``POWER``/``EXP`` (absent from some SQLite
    builds)."""
    if not len(window_days):
        raise ValueError("no window to weigh")
    days = np.asarray(window_days, dtype="int64")
    ages = np.concatenate([np.arange(n + 1, dtype="int64") for n in days])
    weights = decay_weights(ages, half_life_days)
    return pd.DataFrame({"window_days": np.repeat(days, days + 1), "age_days": ages, "weight": weights})


def with_titles(ranked: pd.DataFrame, movies: pd.DataFrame | None) -> pd.DataFrame:
    """``ranked`` (row order kept) with each movie's ``title``/``genres`` from ``movies``; a movie missing
    there keeps an empty title and genres (the ranking never loses a row)."""
    out = ranked.drop(columns=["title", "genres"], errors="ignore")
    if movies is not None and not movies.empty:
        lookup = movies[["movieId", "title", "genres"]].drop_duplicates("movieId")
        out = out.merge(lookup.astype({"movieId": "int64"}), on="movieId", how="left")
    else:
        out["title"] = out["genres"] = ""
    out[["title", "genres"]] = out[["title", "genres"]].fillna("").astype(object)
    return out


def attach_movies(
    scores: pd.DataFrame, movies: pd.DataFrame | None, *, window_start: DateLike, window_end: DateLike
) -> pd.DataFrame:
    """:data:`RANKING_COLUMNS`: a ranking (``SCORE_COLUMNS``) with the window bounds (as ``datetime.date``)
    and each movie's ``title``/``genres`` (:func:`with_titles`)."""
    out = with_titles(scores[SCORE_COLUMNS], movies)
    out = out.assign(window_start=as_date(window_start), window_end=as_date(window_end))
    return out[RANKING_COLUMNS].sort_values("rank").reset_index(drop=True)


def rank_windows(
    stats: pd.DataFrame,
    movies: pd.DataFrame | None,
    *,
    end_ts: int,
    window_days: Sequence[int],
    methods: Sequence[str] = METHODS,
    **kwargs: Any,
) -> pd.DataFrame:
    """Rank every (window, method) from the rows of :data:`AGGREGATE_SQL`.

    :param movies: ``movieId, title, genres`` of (at least) the ranked movies, or ``None``.
    :param kwargs: ``min_ratings``, ``prior_weight``, ``top_n`` of :func:`popularity.rank_aggregates`.
    :return: :data:`WINDOW_RANKING_COLUMNS`, ordered by window, method and rank.
    """
    stats = stats.rename(columns=canonical_names(stats.columns))
    end = epoch_day(end_ts)
    parts = []
    for days in window_days:
        window = stats[stats["window_days"] == days]
        start = epoch_day(end_ts - int(days) * DAY_SECONDS)
        for method in methods:
            ranked = rank_aggregates(window, method=method, **kwargs)
            part = attach_movies(ranked, movies, window_start=start, window_end=end)
            parts.append(part.assign(method=method, window_days=int(days)))
    if not parts:
        return pd.DataFrame(columns=WINDOW_RANKING_COLUMNS)
    out = pd.concat(parts, ignore_index=True)[WINDOW_RANKING_COLUMNS]
    return out.astype({"window_days": "int64", "rank": "int64", "movieId": "int64", "n_ratings": "int64"})


def rank_genres(stats: pd.DataFrame, movies: pd.DataFrame, **kwargs: Any) -> pd.DataFrame:
    """:func:`rank_windows` (with ``kwargs``) once per MovieLens genre, over that genre's movies only (so
    ``bayes`` pulls towards the genre's mean rating), with a ``genre`` column.

    :param movies: ``movieId`` and ``genres`` (``|``-joined, as movies.csv) of at least the windows' movies.
    """
    stats = stats.rename(columns=canonical_names(stats.columns))
    genres = movies[["movieId", "genres"]].astype({"movieId": "int64"}).drop_duplicates("movieId")
    genres = genres.assign(genre=genres["genres"].fillna("").str.split("|")).explode("genre")
    genres = genres[~genres["genre"].fillna("").isin(["", NO_GENRES])]
    parts = []
    for genre, ids in genres.groupby("genre", sort=True)["movieId"]:
        mine = stats[stats["movieId"].isin(ids)]
        if not mine.empty:
            parts.append(rank_windows(mine, movies, **kwargs).assign(genre=genre))
    if not parts:
        return pd.DataFrame(columns=[*WINDOW_RANKING_COLUMNS, "genre"])
    return pd.concat(parts, ignore_index=True)
