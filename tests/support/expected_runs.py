"""The expected results of the DAG runs, computed with plain pandas straight from the dataset files (no
project code), and the assertions that compare what a run left in the results database and the CSV files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from tests.results_db import ResultsDb

DAY = dt.date(2019, 1, 1)
EMPTY_DAY = dt.date(2019, 2, 1)  # the test dataset has no ratings after 2019-01-14
COLUMNS = [
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


def expected_ranking(dataset, day: dt.date, min_ratings=3, prior_weight=10, top_n=100) -> pd.DataFrame:
    ratings, movies = dataset
    start = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())
    window = ratings[(ratings["timestamp"] >= start) & (ratings["timestamp"] < start + 86_400)]
    c = window["rating"].mean()
    per_movie = window.groupby("movieId")["rating"].agg(n_ratings="count", mean_rating="mean").reset_index()
    per_movie = per_movie[per_movie["n_ratings"] >= min_ratings].copy()
    v, r, m = per_movie["n_ratings"], per_movie["mean_rating"], prior_weight
    per_movie["score"] = v / (v + m) * r + m / (v + m) * c
    per_movie = per_movie.sort_values(["score", "n_ratings", "movieId"], ascending=[False, False, True])
    top = per_movie.head(top_n).merge(movies[["movieId", "title", "genres"]], on="movieId", how="left")
    top.insert(0, "rank", range(1, len(top) + 1))
    top.insert(0, "window_end", (day + dt.timedelta(days=1)).isoformat())
    top.insert(0, "window_start", day.isoformat())
    return top[COLUMNS].reset_index(drop=True)


def expected_ratings(dataset, first: dt.date, days: int = 1) -> pd.DataFrame:
    """The ratings of ``[first, first + days)`` as the ``ratings`` table must hold them."""
    ratings, _ = dataset
    start = int(dt.datetime(first.year, first.month, first.day, tzinfo=dt.UTC).timestamp())
    window = ratings[(ratings["timestamp"] >= start) & (ratings["timestamp"] < start + days * 86_400)]
    order = ["timestamp", "userId", "movieId"]
    return window[["userId", "movieId", "rating", "timestamp"]].sort_values(order).reset_index(drop=True)


def assert_same_ratings(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert len(actual) == len(expected)
    pd.testing.assert_frame_equal(actual.reset_index(drop=True), expected, check_dtype=False)


def daily_bayes(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of the 1-day ``bayes`` rankings (what the first schema held)."""
    return rows[(rows["method"] == "bayes") & (rows["window_days"] == 1)].reset_index(drop=True)


def assert_same_ranking(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    actual = actual[COLUMNS].reset_index(drop=True).copy()
    for col in ("window_start", "window_end"):
        actual[col] = actual[col].astype(str)
    assert len(actual) == len(expected) > 0
    exact = ["window_start", "window_end", "rank", "movieId", "title", "genres", "n_ratings"]
    pd.testing.assert_frame_equal(actual[exact], expected[exact], check_dtype=False)
    for col in ("mean_rating", "score"):
        assert actual[col].to_numpy() == pytest.approx(expected[col].to_numpy(), rel=1e-12, abs=1e-12)


def window_rows(db: ResultsDb, day: dt.date) -> pd.DataFrame:
    rows = db.rankings()
    return daily_bayes(rows[rows["window_start"].astype(str) == day.isoformat()])


def ranking_csv(data_dir: Path, dag_id: str, day: dt.date) -> Path:
    return data_dir / "rankings" / dag_id / f"{day.isoformat()}.csv"


#: What a first run leaves in the results database (the temporary tables of the ranking are dropped).
RESULT_TABLES = [
    "genre_rankings",
    "loaded_days",
    "movie_rankings",
    "popular_movies",
    "ranking_windows",
    "ratings",
]


def result_tables(db: ResultsDb) -> list[str]:
    return [f"public.{name}" for name in RESULT_TABLES] if db.kind == "postgres" else list(RESULT_TABLES)
