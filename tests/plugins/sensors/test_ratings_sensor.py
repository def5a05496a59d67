"""MovielensRatingsSensor against the real API, directly and in reschedule mode inside dag.test()."""

from __future__ import annotations

import pendulum
import pytest
from airflow.exceptions import AirflowFailException
from airflow.models import DAG
from airflow.utils.state import DagRunState, TaskInstanceState

from airflow_movielens.sensors import MovielensRatingsSensor
from tests.live_api import free_port
from tests.plugins.fault_proxy import FaultProxy


def test_template_fields():
    assert MovielensRatingsSensor.template_fields == ("interval_start", "interval_end")


@pytest.mark.parametrize(
    ("start", "end", "found"),
    [
        ("2019-01-03", "2019-01-04", True),
        ("2019-01-01", "2019-01-15", True),
        ("2019-02-01", "2019-02-02", False),
    ],
)
def test_poke(movielens_api, start, end, found):
    sensor = MovielensRatingsSensor(task_id="wait", start_date=start, end_date=end)
    assert sensor.poke({}) is found


def test_poke_asks_for_one_rating(fault_proxy: FaultProxy):
    sensor = MovielensRatingsSensor(
        task_id="wait", conn_id="movielens_proxy", start_date="2019-01-03", end_date="2019-01-04"
    )
    assert sensor.poke({}) is True
    [seen] = fault_proxy.requests_to("/ratings")
    assert seen.query["limit"] == ["1"]


def test_auth_error_fails_at_once(movielens_api, add_connection, waits):
    add_connection("ml_sensor_badpw", **{**movielens_api.connection(), "password": "wrong"})
    sensor = MovielensRatingsSensor(
        task_id="wait", conn_id="ml_sensor_badpw", start_date="2019-01-03", end_date=None
    )
    with pytest.raises(AirflowFailException, match="authentication failed"):
        sensor.poke({})
    assert waits == []


def test_unreachable_api_means_not_yet(add_connection, waits):
    add_connection(
        "ml_sensor_down", conn_type="movielens", host="127.0.0.1", port=free_port(), extra={"max_retries": 1}
    )
    sensor = MovielensRatingsSensor(
        task_id="wait", conn_id="ml_sensor_down", start_date="2019-01-03", end_date=None
    )
    assert sensor.poke({}) is False
    assert len(waits) == 1


def test_bad_interval_fails_at_once():
    sensor = MovielensRatingsSensor(task_id="wait", start_date="2019-01-05", end_date="2019-01-04")
    with pytest.raises(AirflowFailException, match="invalid interval"):
        sensor.poke({})


def _sensor_run(dag_id: str, logical_date: pendulum.DateTime, **sensor_kwargs) -> tuple[str, str]:
    """``dag.test()`` of a one-sensor DAG: (run state, sensor state)."""
    start = pendulum.datetime(2019, 1, 1, tz="UTC")
    with DAG(dag_id, schedule="@daily", start_date=start, catchup=False, default_args={"retries": 0}) as dag:
        MovielensRatingsSensor(task_id="wait", mode="reschedule", poke_interval=1, **sensor_kwargs)
    run = dag.test(execution_date=logical_date)
    return run.state, run.get_task_instance("wait").state


def test_reschedule_mode_in_dag_test_succeeds_on_a_populated_interval(movielens_api, airflow_db):
    states = _sensor_run("movielens_sensor_populated", pendulum.datetime(2019, 1, 4, tz="UTC"), timeout=10)
    assert states == (DagRunState.SUCCESS, TaskInstanceState.SUCCESS)


@pytest.mark.parametrize(
    ("soft_fail", "expected"), [(False, ("failed", "failed")), (True, ("success", "skipped"))]
)
def test_reschedule_mode_in_dag_test_times_out_on_an_empty_interval(
    movielens_api, airflow_db, soft_fail, expected
):
    states = _sensor_run(
        f"movielens_sensor_empty_{expected[1]}",
        pendulum.datetime(2019, 2, 1, tz="UTC"),
        timeout=2,
        soft_fail=soft_fail,
    )
    assert states == expected  # (run, sensor): a soft-failed sensor skips and the run still succeeds
