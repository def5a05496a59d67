"""Fixtures of the provider tests: the expected data read straight from the API's source CSVs, a fault proxy,
and hooks whose retry waits are recorded instead of slept."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator

import pandas as pd
import pytest

from airflow_movielens.hooks import MovielensHook
from tests.support.fault_proxy import FaultProxy

RATING_COLUMNS = ["userId", "movieId", "rating", "timestamp"]


def day_epoch(day: str) -> int:
    return int(dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC).timestamp())


@pytest.fixture(scope="session")
def source_ratings(movielens_api) -> pd.DataFrame:
    """ratings.csv as the API must serve it: ordered by (timestamp, userId, movieId)."""
    frame = pd.read_csv(
        movielens_api.ratings_csv,
        dtype={"userId": "int64", "movieId": "int64", "rating": "float64", "timestamp": "int64"},
    )
    return frame.sort_values(["timestamp", "userId", "movieId"], kind="stable", ignore_index=True)


@pytest.fixture(scope="session")
def expected_ratings(source_ratings) -> Callable[[str | None, str | None], pd.DataFrame]:
    """The ratings of ``[start, end)`` computed from the CSV, independently of the API."""

    def select(start: str | None, end: str | None) -> pd.DataFrame:
        mask = pd.Series(True, index=source_ratings.index)
        if start:
            mask &= source_ratings["timestamp"] >= day_epoch(start)
        if end:
            mask &= source_ratings["timestamp"] < day_epoch(end)
        return source_ratings[mask].reset_index(drop=True)

    return select


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Retry waits the hooks asked for; nothing actually sleeps."""
    recorded: list[float] = []
    monkeypatch.setattr(MovielensHook, "_sleep", staticmethod(recorded.append))
    return recorded


@pytest.fixture
def add_connection(monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Define an Airflow connection through an ``AIRFLOW_CONN_<ID>`` JSON env var; return its id."""

    def add(conn_id: str, **conn: object) -> str:
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        return conn_id

    return add


@pytest.fixture
def fault_proxy(movielens_api, add_connection, waits) -> Iterator[FaultProxy]:
    """A fault proxy in front of the live API, with connection ``movielens_proxy`` pointing at it
    (4 retries, zero backoff; a 3 s read timeout ends each stall, and is long enough that a healthy page
    on a loaded machine is never mistaken for one)."""
    with FaultProxy(movielens_api.base_url) as proxy:
        conn = movielens_api.connection(timeout=3, connect_timeout=3, max_retries=4, backoff=0)
        add_connection("movielens_proxy", **{**conn, "port": proxy.port})
        yield proxy
