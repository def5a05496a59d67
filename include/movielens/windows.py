"""The rolling windows of the daily pipeline: which ones a run may rank, their SQL aggregate, their ranking.

For a run whose interval ends at D (a UTC midnight), the windows are the last 1, 7, 30 and 365 days before D
(:data:`WINDOW_DAYS`), exactly :mod:`include.movielens.popularity`'s ``"1d"`` .. ``"365d"``. No Airflow
import: the pieces are tested against :mod:`include.movielens.popularity` directly.

* :func:`plan_windows` -- a window is *complete* when every one of its days is marked in ``loaded_days``
  (the loader marks them in the transaction that loads the ratings). Only complete windows are ranked; the
  others are reported as missing and left "not computed" (no row in ``ranking_windows``), never ranked
  from a partial window. A later run or a rerun of the same date ranks them once their days are loaded.
* :func:`missing_ranges` -- the days of the widest window that are not loaded yet, as ranges to load: a
  run loads them (``fill_history``) before it plans, so that a fresh deployment's first run and every run of
  a catch-up whose runs finish out of order rank all of their windows.
* :func:`weight_table` -- one row per (window, whole-day age) with the ``trending`` weight
  ``0.5 ** (age / half_life)``: the SQL joins it instead of calling ``POWER``/``EXP`` (absent from some
  SQLite builds). The ages are those of :func:`popularity.aggregate`: ``floor((D - timestamp) / 86400)``.
* :data:`AGGREGATE_SQL` -- the ``@aql.transform`` body: per (window, movie) ``n_ratings``, ``rating_sum``
  and ``decayed``, the numbers of :func:`popularity.aggregate`, for every complete window in one pass over
  the ratings of the widest one.
* :func:`rank_windows` -- the ``@aql.dataframe`` step: :func:`popularity.rank_aggregates` per (window,
  method), with titles attached.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from airflow_movielens.dates import DAY_SECONDS, epoch_day
from include.movielens.popularity import (
    AGGREGATE_COLUMNS,
    DEFAULT_HALF_LIFE_DAYS,
    METHODS,
    decay_weights,
    rank_aggregates,
)
from include.movielens.ranking import (
    DEFAULT_MIN_RATINGS,
    DEFAULT_PRIOR_WEIGHT,
    DEFAULT_TOP_N,
    RANKING_COLUMNS,
    attach_movies,
)

WINDOW_DAYS: tuple[int, ...] = (1, 7, 30, 365)
#: The ``genre`` of the lists over every movie (the others name one MovieLens genre).
ALL_GENRES = "(all genres)"
#: What movies.csv (and the API's movies as ``|``-joined text) says of a movie without a genre.
NO_GENRES = "(no genres listed)"
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


def plan_windows(end_ts: int, loaded_days: Iterable[int], window_days: Sequence[int] = WINDOW_DAYS) -> dict:
    """Which windows ending at ``end_ts`` have all their days loaded.

    :param loaded_days: the ``day_start`` (epoch seconds) of every loaded day (extra days are ignored).
    :return: ``{"window_end_ts", "complete": [days, ...], "missing": {"<days>": number of missing days}}``.
    """
    if end_ts % DAY_SECONDS:
        raise ValueError(f"window end {end_ts} is not a UTC midnight")
    loaded = set(loaded_days)
    complete: list[int] = []
    missing: dict[str, int] = {}
    for days in window_days:
        gaps = sum(day not in loaded for day in range(end_ts - days * DAY_SECONDS, end_ts, DAY_SECONDS))
        if gaps:
            missing[str(days)] = gaps
        else:
            complete.append(int(days))
    return {"window_end_ts": int(end_ts), "complete": complete, "missing": missing}


def missing_ranges(loaded_days: Iterable[int], start_ts: int, end_ts: int) -> list[tuple[int, int]]:
    """The days of ``[start_ts, end_ts)`` (UTC midnights) not in ``loaded_days``, as ``[start, end)`` runs of
    consecutive days, oldest first: what a run must load so that its windows are complete."""
    if start_ts % DAY_SECONDS or end_ts % DAY_SECONDS:
        raise ValueError(f"[{start_ts}, {end_ts}) does not run from a UTC midnight to a UTC midnight")
    loaded = set(loaded_days)
    ranges: list[tuple[int, int]] = []
    for day in range(start_ts, end_ts, DAY_SECONDS):
        if day in loaded:
            continue
        if ranges and ranges[-1][1] == day:
            ranges[-1] = (ranges[-1][0], day + DAY_SECONDS)
        else:
            ranges.append((day, day + DAY_SECONDS))
    return ranges


def weight_table(window_days: Sequence[int], half_life_days: float = DEFAULT_HALF_LIFE_DAYS) -> pd.DataFrame:
    """Rows ``window_days, age_days, weight`` for the ages ``0 .. window_days`` of each window.

    Age ``window_days`` occurs only for a rating exactly at the window's start (still inside it).
    """
    frames = []
    for days in window_days:
        ages = np.arange(int(days) + 1, dtype="int64")
        frames.append(
            pd.DataFrame(
                {"window_days": int(days), "age_days": ages, "weight": decay_weights(ages, half_life_days)}
            )
        )
    if not frames:
        raise ValueError("no window to weigh")
    return pd.concat(frames, ignore_index=True).astype({"window_days": "int64"})


def _lower_columns(stats: pd.DataFrame) -> pd.DataFrame:
    """Column names as :data:`popularity.AGGREGATE_COLUMNS` whatever case the database returned."""
    names = {name.lower(): name for name in [*AGGREGATE_COLUMNS, "window_days"]}
    return stats.rename(columns={column: names.get(column.lower(), column) for column in stats.columns})


def rank_windows(
    stats: pd.DataFrame,
    movies: pd.DataFrame | None,
    *,
    end_ts: int,
    window_days: Sequence[int],
    methods: Sequence[str] = METHODS,
    min_ratings: int = DEFAULT_MIN_RATINGS,
    prior_weight: float = DEFAULT_PRIOR_WEIGHT,
    top_n: int | None = DEFAULT_TOP_N,
) -> pd.DataFrame:
    """Rank every (window, method) from the rows of :data:`AGGREGATE_SQL`.

    :param movies: ``movieId, title, genres`` of (at least) the ranked movies, or ``None``.
    :return: :data:`WINDOW_RANKING_COLUMNS`, ordered by window, method and rank.
    """
    stats = _lower_columns(stats)
    end = epoch_day(end_ts)
    parts = []
    for days in window_days:
        window = stats[stats["window_days"] == days]
        start = epoch_day(end_ts - int(days) * DAY_SECONDS)
        for method in methods:
            ranked = rank_aggregates(
                window, method=method, min_ratings=min_ratings, prior_weight=prior_weight, top_n=top_n
            )
            part = attach_movies(ranked, movies, window_start=start, window_end=end)
            part["method"] = method
            part["window_days"] = int(days)
            parts.append(part)
    if not parts:
        return pd.DataFrame(columns=WINDOW_RANKING_COLUMNS)
    out = pd.concat(parts, ignore_index=True)[WINDOW_RANKING_COLUMNS]
    return out.astype({"window_days": "int64", "rank": "int64", "movieId": "int64", "n_ratings": "int64"})


def rank_genres(stats: pd.DataFrame, movies: pd.DataFrame, **kwargs) -> pd.DataFrame:
    """:func:`rank_windows` once per MovieLens genre, over the aggregates of that genre's movies only (the
    genre's own window: ``bayes`` pulls towards the genre's mean rating), with a ``genre`` column.

    :param movies: ``movieId`` and ``genres`` (``|``-joined, as movies.csv) of at least the windows' movies.
    :param kwargs: the keyword arguments of :func:`rank_windows`.
    """
    stats = _lower_columns(stats)
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


def ranked_movie_ids(stats: pd.DataFrame, **kwargs) -> list[int]:
    """The movies :func:`rank_windows` would list (to look their titles up once)."""
    ranked = rank_windows(stats, None, **kwargs)
    return sorted({int(movie) for movie in ranked["movieId"]})
