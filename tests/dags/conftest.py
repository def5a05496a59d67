"""Fixtures of the DAG suites: the test dataset as plain pandas, the parsed DAGs, a fresh workspace."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from tests.support.dag_runs import parsed_dags, pipeline_env


@pytest.fixture(scope="module")
def dataset(movielens_api) -> tuple[pd.DataFrame, pd.DataFrame]:
    ratings = pd.read_csv(movielens_api.ratings_csv)
    movies = pd.read_csv(movielens_api.movies_csv, dtype={"title": str, "genres": str}, keep_default_na=False)
    return ratings, movies


@pytest.fixture
def dags(movielens_api, results_db) -> dict:
    return parsed_dags(results_db.kind)


@pytest.fixture
def workspace(results_db, tmp_path) -> Iterator[dict]:
    """A fresh data dir and a fresh results database (SQLite, then PostgreSQL) for one test."""
    data_dir = tmp_path / "data"
    with pipeline_env(results_db, data_dir):
        yield {"data_dir": data_dir, "db": results_db}
