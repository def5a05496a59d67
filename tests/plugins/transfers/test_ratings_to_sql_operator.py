"""MovielensRatingsToSqlOperator against the real API, into a real SQLite file and PostgreSQL database."""

from __future__ import annotations

import inspect

import pandas as pd
import pendulum
import pytest
from airflow.utils.state import DagRunState, TaskInstanceState

from airflow_movielens.exceptions import MovielensArgumentError, MovielensDataChangedError
from airflow_movielens.hooks import MovielensHook
from airflow_movielens.transfers import MovielensRatingsToSqlOperator
from tests.support.compat import daily_test_dag, run_dag_test

DAY, NEXT_DAY = "2019-01-07", "2019-01-08"


def operator(**kwargs) -> MovielensRatingsToSqlOperator:
    args = {
        "task_id": "load",
        "sql_conn_id": "movielens_results",
        "interval_start": DAY,
        "interval_end": NEXT_DAY,
        "schema": "public",
        "batch_size": 900,
    }
    return MovielensRatingsToSqlOperator(**{**args, **kwargs})


def test_signature_and_template_fields() -> None:
    params = inspect.signature(MovielensRatingsToSqlOperator.__init__).parameters
    assert all(p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD) for name, p in params.items() if name != "self")
    assert params["conn_id"].default == "movielens"
    assert params["interval_start"].default == "{{ data_interval_start | ds }}"
    assert params["interval_end"].default == "{{ data_interval_end | ds }}"
    assert params["table"].default == "ratings"
    fields = ("interval_start", "interval_end", "table", "schema")
    assert MovielensRatingsToSqlOperator.template_fields == fields


def test_loads_the_interval_and_reruns_idempotently(movielens_api, expected_ratings, results_db) -> None:
    expected = expected_ratings(DAY, NEXT_DAY)
    result = operator().execute({})
    table = "public.ratings" if results_db.kind == "postgres" else "ratings"
    assert result == {
        "table": table,
        "start_date": DAY,
        "end_date": NEXT_DAY,
        "count": len(expected),
        "deleted": 0,
    }
    pd.testing.assert_frame_equal(results_db.ratings(), expected, check_dtype=False)
    assert operator().execute({})["deleted"] == len(expected)
    pd.testing.assert_frame_equal(results_db.ratings(), expected, check_dtype=False)


def test_count_mismatch_fails_and_leaves_the_table_unchanged(movielens_api, results_db, monkeypatch) -> None:
    operator().execute({})
    before = results_db.ratings()
    real_count = MovielensHook.count_ratings
    monkeypatch.setattr(MovielensHook, "count_ratings", lambda self, *a: real_count(self, *a) + 1)
    with pytest.raises(MovielensDataChangedError, match=", the table was left unchanged$"):
        operator().execute({})
    pd.testing.assert_frame_equal(results_db.ratings(), before)


def test_a_connection_without_a_sql_hook_is_rejected(add_connection) -> None:
    add_connection("not_sql", conn_type="http", host="example.invalid")
    with pytest.raises(MovielensArgumentError, match="connection 'not_sql' gives a HttpHook, not a SQL"):
        operator(sql_conn_id="not_sql").execute({})


def test_an_open_interval_is_rejected() -> None:
    with pytest.raises(MovielensArgumentError, match="interval_start and interval_end are both required"):
        operator(interval_start=None).execute({})


def test_in_dag_test_renders_the_data_interval(
    movielens_api, airflow_db, expected_ratings, results_db
) -> None:
    with daily_test_dag("movielens_transfer_dag_test") as dag:
        MovielensRatingsToSqlOperator(task_id="load", sql_conn_id="movielens_results", schema="public")

    # dag.test() makes a manual run: for @daily at 2019-01-09 its data interval is [01-08, 01-09).
    run = run_dag_test(dag, pendulum.datetime(2019, 1, 9, tz="UTC"))

    assert run.state == DagRunState.SUCCESS
    ti = run.get_task_instance("load")
    assert ti.state == TaskInstanceState.SUCCESS
    expected = expected_ratings("2019-01-08", "2019-01-09")
    assert ti.xcom_pull(task_ids="load")["count"] == len(expected)
    pd.testing.assert_frame_equal(results_db.ratings(), expected, check_dtype=False)
