"""What a failed task reports, through real ``dag.test()`` runs on Airflow 2.10 and 3: one JSON log line, and
a POST of the same record to the alert connection (a recording HTTP server on 127.0.0.1) when
``MOVIELENS_ALERT_CONN_ID`` names it; and ``check_served``, which fails a daily run whose publish left no
served list for its day."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest

from tests.support.alert_sink import alert_sink
from tests.support.compat import run_dag_test
from tests.support.dag_runs import assert_succeeded, parse_dags, pipeline_env, run, states

pytestmark = pytest.mark.usefixtures("airflow_db")
DAY = dt.date(2019, 1, 3)
LOGGER = "include.movielens.alerts"


def failing_dag(dag_id: str):
    """A DAG of the factory (its default_args: timeouts, failure callbacks) whose second task fails."""
    from include.movielens.compat import task
    from include.movielens.dag_factory import on_demand_dag

    with on_demand_dag(
        dag_id, description="fails", doc_md="fails", schedule=None, params={}, tags=["test"]
    ) as dag:

        @task
        def works() -> int:
            return 7

        @task
        def breaks(value: int) -> None:
            raise ValueError(f"boom after {value}")

        breaks(works())
    return dag


def logged_failures(caplog) -> list[dict]:
    """The records of the ``task failed {...}`` lines."""
    lines = [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == logging.ERROR]
    assert all(line.startswith("task failed {") for line in lines), lines
    return [json.loads(line.removeprefix("task failed ")) for line in lines]


@pytest.mark.parametrize("configured", [True, False])
def test_a_failed_task_logs_one_line_and_posts_it_when_configured(monkeypatch, caplog, configured) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    with alert_sink() as sink:
        monkeypatch.setenv("AIRFLOW_CONN_ALERTS", sink.connection_json())
        if configured:
            monkeypatch.setenv("MOVIELENS_ALERT_CONN_ID", "alerts")
        else:
            monkeypatch.delenv("MOVIELENS_ALERT_CONN_ID", raising=False)
        dag_run = run_dag_test(failing_dag(f"alerts_{configured}"), dt.datetime(2019, 2, 1, tzinfo=dt.UTC))
    assert dag_run.state == "failed"
    assert states(dag_run) == {"works": "success", "breaks": "failed"}
    record = {
        "dag_id": f"alerts_{configured}",
        "task_id": "breaks",
        "run_id": dag_run.run_id,
        "try_number": 1,
        "exception": "ValueError: boom after 7",
    }
    assert logged_failures(caplog) == [record]  # one line, for the failed task only
    expected = [{"path": "/", "content_type": "application/json", "json": record}] if configured else []
    assert sink.posts == expected  # off unless MOVIELENS_ALERT_CONN_ID names the connection


def test_an_alert_endpoint_that_fails_does_not_hide_the_task_failure(monkeypatch, caplog) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    with alert_sink(status=500) as sink:
        monkeypatch.setenv("AIRFLOW_CONN_ALERTS", sink.connection_json())
        monkeypatch.setenv("MOVIELENS_ALERT_CONN_ID", "alerts")
        dag_run = run_dag_test(failing_dag("alerts_refused"), dt.datetime(2019, 2, 1, tzinfo=dt.UTC))
    assert dag_run.state == "failed"
    assert states(dag_run)["breaks"] == "failed"
    assert [post["json"]["task_id"] for post in sink.posts] == ["breaks"]  # tried once, refused
    assert [record["exception"] for record in logged_failures(caplog)] == ["ValueError: boom after 7"]


@pytest.mark.parametrize("results_db", ["sqlite"], indirect=True)
def test_a_day_without_a_served_list_fails_its_run_and_is_reported(
    movielens_api, results_db, tmp_path, monkeypatch
) -> None:
    with alert_sink() as sink, pipeline_env(results_db, tmp_path / "data"):
        monkeypatch.setenv("AIRFLOW_CONN_ALERTS", sink.connection_json())
        monkeypatch.setenv("MOVIELENS_ALERT_CONN_ID", "alerts")
        dag = parse_dags()["02_hook"]  # parsed with the alert connection set
        assert_succeeded(run(dag, DAY))  # check_served passes: the day's list is served
        assert sink.posts == []
        # the next day's publish "succeeds" without writing anything (marked success, not run)
        logical_date = dt.datetime(2019, 1, 5, tzinfo=dt.UTC)  # the interval [2019-01-04, 2019-01-05)
        dag_run = run_dag_test(dag, logical_date, mark_success_pattern="publish_ranking")
    assert dag_run.state == "failed"
    assert states(dag_run)["check_served"] == "failed"
    assert states(dag_run)["publish_ranking"] == "success"
    [post] = sink.posts
    assert (post["json"]["task_id"], post["json"]["run_id"]) == ("check_served", dag_run.run_id)
    assert post["json"]["exception"].startswith(
        "ServedListMissingError: popular_movies holds no list for 2019-01-05 after this run's publish"
    )
