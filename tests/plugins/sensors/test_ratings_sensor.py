"""MovielensRatingsSensor against the real API, directly and in reschedule mode inside dag.test()."""

from __future__ import annotations

import datetime as dt
import time

import pendulum
import pytest
from airflow.utils.state import DagRunState, TaskInstanceState

from airflow_movielens.exceptions import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    MovielensArgumentError,
    MovielensAuthError,
    MovielensError,
    MovielensRequestError,
)
from airflow_movielens.sensors import MovielensRatingsSensor
from airflow_movielens.triggers import MovielensRatingsTrigger
from tests.support.compat import DAG, DAILY, TaskDeferred, run_dag_test
from tests.support.fault_proxy import FaultProxy
from tests.support.live_api import free_port


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
    sensor = MovielensRatingsSensor(task_id="wait", interval_start=start, interval_end=end)
    assert sensor.poke({}) is found


#: Before the data: no ratings, and none can come.
CLOSED_EMPTY = {"interval_start": "2018-12-31", "interval_end": "2019-01-01"}
#: After the data: no ratings yet, and some may come.
OPEN_EMPTY = {"interval_start": "2019-02-01", "interval_end": "2019-02-02"}
POPULATED = {"interval_start": "2019-01-03", "interval_end": "2019-01-04"}


def test_closed_empty_window_succeeds_by_default(fault_proxy: FaultProxy):
    sensor = MovielensRatingsSensor(task_id="wait", conn_id="movielens_proxy", **CLOSED_EMPTY)
    assert sensor.on_empty == "succeed"
    assert sensor.poke({}) is True
    assert len(fault_proxy.requests_to("/ratings")) == len(fault_proxy.requests_to("/health")) == 1


def test_closed_empty_window_skips_or_fails_on_request(movielens_api):
    skip = MovielensRatingsSensor(task_id="w", on_empty="skip", **CLOSED_EMPTY)
    with pytest.raises(
        AirflowSkipException, match=r"\[2018-12-31, 2019-01-01\) has no ratings and is closed"
    ):
        skip.poke({})
    fail = MovielensRatingsSensor(task_id="w", on_empty="fail", **CLOSED_EMPTY)
    with pytest.raises(AirflowFailException, match="is past its end.*on_empty='fail'"):
        fail.poke({})


def test_bad_on_empty_is_rejected_when_the_dag_is_parsed():
    with pytest.raises(MovielensArgumentError, match="got 'maybe'"):
        MovielensRatingsSensor(task_id="w", on_empty="maybe")


def test_open_empty_window_waits(fault_proxy: FaultProxy):
    sensor = MovielensRatingsSensor(
        task_id="wait", conn_id="movielens_proxy", interval_start="2019-02-01", interval_end="2019-02-02"
    )
    assert sensor.poke({}) is False
    assert len(fault_proxy.requests_to("/health")) == 1


def test_poke_asks_for_one_rating(fault_proxy: FaultProxy):
    sensor = MovielensRatingsSensor(
        task_id="wait", conn_id="movielens_proxy", interval_start="2019-01-03", interval_end="2019-01-04"
    )
    assert sensor.poke({}) is True
    [seen] = fault_proxy.requests_to("/ratings")
    assert seen.query["limit"] == ["1"]


def test_auth_error_fails_at_once(movielens_api, add_connection, waits):
    add_connection("ml_sensor_badpw", **{**movielens_api.connection(), "password": "wrong"})
    sensor = MovielensRatingsSensor(
        task_id="wait", conn_id="ml_sensor_badpw", interval_start="2019-01-03", interval_end=None
    )
    with pytest.raises(AirflowFailException, match="authentication failed"):
        sensor.poke({})
    assert waits == []


def test_unreachable_api_means_not_yet(add_connection, waits):
    add_connection(
        "ml_sensor_down", conn_type="movielens", host="127.0.0.1", port=free_port(), extra={"max_retries": 1}
    )
    sensor = MovielensRatingsSensor(
        task_id="wait", conn_id="ml_sensor_down", interval_start="2019-01-03", interval_end=None
    )
    assert sensor.poke({}) is False
    assert len(waits) == 1


def test_bad_interval_fails_at_once():
    sensor = MovielensRatingsSensor(task_id="wait", interval_start="2019-01-05", interval_end="2019-01-04")
    with pytest.raises(MovielensArgumentError, match="end_date 2019-01-04 is before start_date 2019-01-05"):
        sensor.poke({})


def _sensor_run(dag_id: str, logical_date: pendulum.DateTime, **sensor_kwargs) -> tuple[str, str]:
    """``dag.test()`` of a one-sensor DAG: (run state, sensor state)."""
    start = pendulum.datetime(2019, 1, 1, tz="UTC")
    with DAG(dag_id, schedule=DAILY, start_date=start, catchup=False, default_args={"retries": 0}) as dag:
        MovielensRatingsSensor(task_id="wait", mode="reschedule", poke_interval=1, **sensor_kwargs)
    run = run_dag_test(dag, logical_date)
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


# -- deferrable: execute() defers to the trigger, execute_complete() applies its event --------------------


@pytest.mark.parametrize(
    ("poke_interval", "backstop"),
    [(7, 30 + 60), (40, 30 + 2 * 40)],  # the timeout plus a minute, or two poke intervals if longer
)
def test_deferrable_execute_defers_with_the_sensor_settings(movielens_api, poke_interval, backstop):
    sensor = MovielensRatingsSensor(
        task_id="w",
        deferrable=True,
        poke_interval=poke_interval,
        timeout=30,
        interval_start="2019-02-01",
        interval_end="2019-02-02",
    )
    before = time.time()
    with pytest.raises(TaskDeferred) as caught:
        sensor.execute({})
    trigger = caught.value.trigger
    assert isinstance(trigger, MovielensRatingsTrigger)
    assert (trigger.conn_id, trigger.interval_start, trigger.interval_end, trigger.poke_interval) == (
        "movielens",
        "2019-02-01",
        "2019-02-02",
        poke_interval,
    )
    assert before + 30 <= trigger.deadline <= time.time() + 30
    assert caught.value.method_name == "execute_complete"
    # Airflow's own deferral timeout is a backstop behind the trigger's deadline, never before it
    assert caught.value.timeout == dt.timedelta(seconds=backstop)


def test_deferrable_execute_pokes_with_the_task_context():
    seen = []

    class Recording(MovielensRatingsSensor):
        def poke(self, context):
            seen.append(context)
            return True

    context = {"ti": "the task instance"}
    assert Recording(task_id="w", deferrable=True, **POPULATED).execute(context) is None
    assert seen == [context]


def test_deferrable_execute_does_not_defer_when_the_data_is_there(movielens_api):
    sensor = MovielensRatingsSensor(
        task_id="w", deferrable=True, interval_start="2019-01-03", interval_end="2019-01-04"
    )
    assert sensor.execute({}) is None


@pytest.mark.parametrize(
    ("event", "raised", "message"),
    [
        ({"status": "ready"}, None, None),
        ({"status": "closed", "newest_timestamp": 1_547_500_000}, None, None),
        ({"status": "timeout", "message": "no ratings"}, AirflowSensorTimeout, "no ratings"),
        (
            {
                "status": "error",
                "error": "MovielensAuthError",
                "message": "refused",
                "status_code": 401,
                "url": "u",
            },
            MovielensAuthError,
            "refused",
        ),
        ({"status": "error", "error": "os.system", "message": "x"}, MovielensError, "x"),
        (
            {"status": "error", "error": "MovielensRequestError"},
            MovielensRequestError,
            "unexpected trigger event {'status': 'error', 'error': 'MovielensRequestError'}",
        ),
    ],
)
def test_execute_complete(event, raised, message):
    sensor = MovielensRatingsSensor(task_id="w", deferrable=True, **CLOSED_EMPTY)
    if raised is None:
        assert sensor.execute_complete({}, event) is None
        return
    with pytest.raises(raised) as caught:
        sensor.execute_complete({}, event)
    assert type(caught.value) is raised
    if raised is AirflowSensorTimeout:
        assert str(caught.value) == f"Sensor has timed out: {message}"
    else:  # the trigger's message as it is, or what the event was when it has none
        assert caught.value.message == message
    if raised is MovielensAuthError:
        assert (caught.value.status_code, caught.value.url) == (401, "u")


@pytest.mark.parametrize(
    ("on_empty", "raised"), [("skip", AirflowSkipException), ("fail", AirflowFailException)]
)
def test_execute_complete_applies_on_empty_to_a_closed_window(on_empty, raised):
    sensor = MovielensRatingsSensor(task_id="w", deferrable=True, on_empty=on_empty, **CLOSED_EMPTY)
    with pytest.raises(raised) as caught:
        sensor.execute_complete({}, {"status": "closed", "newest_timestamp": 1_547_500_000})
    assert str(caught.value) == (
        "[2018-12-31, 2019-01-01) has no ratings and is closed: the API's newest rating "
        f"(2019-01-14T21:06:40+00:00) is past its end (on_empty='{on_empty}')"
    )
