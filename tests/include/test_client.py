"""The hand-paging ``requests`` client of 01_python against the live API (no mocks)."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from include.movielens import client


def window_of(ratings_csv, start: str, end: str) -> pd.DataFrame:
    ratings = pd.read_csv(ratings_csv)
    lo = int(dt.datetime.fromisoformat(start).replace(tzinfo=dt.UTC).timestamp())
    hi = int(dt.datetime.fromisoformat(end).replace(tzinfo=dt.UTC).timestamp())
    return ratings[(ratings["timestamp"] >= lo) & (ratings["timestamp"] < hi)]


def as_sorted_tuples(frame: pd.DataFrame) -> list[tuple]:
    frame = frame[["userId", "movieId", "rating", "timestamp"]].astype(
        {"userId": "int64", "movieId": "int64", "rating": "float64", "timestamp": "int64"}
    )
    return sorted(frame.itertuples(index=False, name=None))


@pytest.mark.parametrize("batch_size", [250, 1000, 10_000])
def test_pages_by_hand_and_returns_exactly_the_window(movielens_api, batch_size: int) -> None:
    got = list(client.iter_ratings("movielens", "2019-01-02", "2019-01-04", batch_size=batch_size))
    expected = window_of(movielens_api.ratings_csv, "2019-01-02", "2019-01-04")
    assert len(expected) > 1000  # several pages for the small batch sizes
    assert len(got) == len(expected)
    assert as_sorted_tuples(pd.DataFrame(got)) == as_sorted_tuples(expected)


def test_empty_window(movielens_api) -> None:
    assert list(client.iter_ratings("movielens", "2019-02-01", "2019-02-02")) == []


def test_connection_details_come_from_the_airflow_connection(monkeypatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_ML_TEST",
        json.dumps(
            {
                "conn_type": "movielens",
                "host": "api",
                "port": 5001,
                "schema": "https",
                "login": "u",
                "password": "p",
            }
        ),
    )
    assert client.base_url_from_connection("ml_test") == ("https://api:5001", ("u", "p"))
    monkeypatch.setenv("AIRFLOW_CONN_ML_TEST", json.dumps({"conn_type": "movielens", "host": "http://x:9/"}))
    assert client.base_url_from_connection("ml_test") == ("http://x:9", None)


def test_http_errors_are_raised(movielens_api, monkeypatch) -> None:
    import requests

    conn = json.loads(movielens_api.connection_json())
    conn["password"] = "wrong"
    monkeypatch.setenv("AIRFLOW_CONN_ML_BAD", json.dumps(conn))
    with pytest.raises(requests.HTTPError, match="401"):
        list(client.iter_ratings("ml_bad", "2019-01-01", "2019-01-02"))
