"""Both ratings operators against requests-mock: which connection and page size they use, and that their
completeness check logs to the task's log. (End to end against the real API: the modules beside this one.)"""

from __future__ import annotations

import logging

import pytest

from airflow_movielens.operators import MovielensFetchRatingsOperator
from airflow_movielens.transfers import MovielensRatingsToSqlOperator
from tests.results_db import forget_connection_types, sqlite_results
from tests.support.compat import AIRFLOW_3

BASE = "http://api.test:5000"
DAY, NEXT_DAY = "2019-01-07", "2019-01-08"


def rating(i: int) -> dict:
    return {"userId": i, "movieId": 10 + i, "rating": 3.5, "timestamp": 1_546_819_200 + i}


@pytest.fixture
def api(requests_mock, add_connection, waits, tmp_path, monkeypatch):
    """Connection ``ml_unit`` (the default ``movielens`` is not defined) to a fake API of 5 ratings."""
    add_connection("ml_unit", conn_type="movielens", host="api.test", extra={"backoff": 0, "max_retries": 0})
    results = sqlite_results(tmp_path / "results.db")  # the SQL operator's target
    monkeypatch.setenv("AIRFLOW_CONN_MOVIELENS_RESULTS", results.connection_json)
    forget_connection_types()
    rows = [rating(i) for i in range(5)]

    def page(request, context):
        limit, offset = int(request.qs["limit"][0]), int(request.qs.get("offset", ["0"])[0])
        return {"result": rows[offset : offset + limit], "total": len(rows), "limit": limit, "offset": offset}

    requests_mock.get(f"{BASE}/ratings", json=page)
    return requests_mock


def operators(tmp_path) -> list:
    common = {"conn_id": "ml_unit", "interval_start": DAY, "interval_end": NEXT_DAY, "batch_size": 2}
    return [
        MovielensFetchRatingsOperator(task_id="fetch", output_path=str(tmp_path / "out.json"), **common),
        MovielensRatingsToSqlOperator(task_id="load", sql_conn_id="movielens_results", **common),
    ]


@pytest.mark.parametrize("index", [0, 1], ids=["fetch", "to_sql"])
def test_the_operator_pages_with_its_batch_size_on_its_connection(api, tmp_path, index):
    result = operators(tmp_path)[index].execute({})
    assert result["count"] == 5
    limits = [r.qs["limit"][0] for r in api.request_history]
    assert limits == ["2", "2", "2", "1"]  # three pages of two, then the completeness count


@pytest.mark.parametrize("index", [0, 1], ids=["fetch", "to_sql"])
def test_an_empty_interval_is_logged_to_the_task_log(api, tmp_path, index, caplog):
    api.get(f"{BASE}/ratings", json={"result": [], "total": 0})
    api.get(f"{BASE}/health", json={"status": "ok", "last_rating_timestamp": 1_600_000_000})
    operator = operators(tmp_path)[index]
    with caplog.at_level(logging.INFO):
        assert operator.execute({})["count"] == 0
    names = [r.name for r in caplog.records if "has no ratings" in r.getMessage()]
    assert "airflow_movielens.hooks" not in names  # not the module's own logger
    if not AIRFLOW_3:  # Airflow 3's task logger is structlog's: it does not reach the logging module
        assert names == [operator.log.name]


def test_the_sql_operator_loads_into_the_table_it_is_given(api, tmp_path):
    operator = MovielensRatingsToSqlOperator(
        task_id="load",
        conn_id="ml_unit",
        sql_conn_id="movielens_results",
        interval_start=DAY,
        interval_end=NEXT_DAY,
        table="ratings_copy",
    )
    assert operator.execute({})["table"] == "ratings_copy"
    results = sqlite_results(tmp_path / "results.db")
    assert results.ratings("ratings_copy")["userId"].tolist() == [0, 1, 2, 3, 4]
    assert "ratings" not in results.tables()
