"""The DAGs' shape and shared configuration (parsed, never run): the four daily DAGs' graph, and the
operations of all six (timeouts, the API's pool, failure callbacks)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pendulum
import pytest

from tests.support.compat import serialized

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"
DAG_IDS = ["01_python", "02_hook", "03_operator", "04_sensor"]
ALL_DAG_IDS = [*DAG_IDS, "05_history", "06_evaluation"]
RANKING_EDGES = {
    ("load_ratings", "fill_history"),
    ("fill_history", "plan_windows"),
    ("plan_windows", "window_weights"),
    ("plan_windows", "rank_movies"),
    ("plan_windows", "publish_ranking"),
    ("window_weights", "aggregate_windows"),
    ("window_weights", "cleanup_temp_tables"),
    ("aggregate_windows", "rank_movies"),
    ("aggregate_windows", "publish_ranking"),
    ("aggregate_windows", "cleanup_temp_tables"),
    ("rank_movies", "export_ranking_csv"),
    ("rank_movies", "publish_ranking"),
    ("rank_movies", "cleanup_temp_tables"),
    ("export_ranking_csv", "cleanup_temp_tables"),
    ("publish_ranking", "cleanup_temp_tables"),
    ("publish_ranking", "check_served"),
}

# DagBag.get_dag() asks the metadata DB whether a DAG expired: the tests must not depend on another module
# having created it first.
pytestmark = pytest.mark.usefixtures("airflow_db")


#: Every setting the DAGs read when parsed; a test parses with the production defaults unless it sets one.
PARSE_SETTINGS = (
    "MOVIELENS_START_DATE",
    "MOVIELENS_END_DATE",
    "MOVIELENS_MAX_ACTIVE_RUNS",
    "MOVIELENS_TASK_RETRIES",
    "MOVIELENS_TASK_RETRY_DELAY",
    "MOVIELENS_SENSOR_POKE_INTERVAL",
    "MOVIELENS_SENSOR_TIMEOUT",
    "MOVIELENS_SENSOR_DEFERRABLE",
    "MOVIELENS_TASK_TIMEOUT",
    "MOVIELENS_LOAD_TIMEOUT_PER_DAY",
    "MOVIELENS_API_POOL",
    "MOVIELENS_API_POOL_SLOTS",
    "MOVIELENS_ALERT_CONN_ID",
    "MOVIELENS_TOP_N",
)


def parse(monkeypatch, ids: list[str] = DAG_IDS, **env: str) -> dict:
    from tests.support.compat import dag_bag

    # (tests/conftest.py turns task retries off for runs)
    for name in PARSE_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    bag = dag_bag(str(DAGS_FOLDER))
    assert not bag.import_errors, bag.import_errors
    # bag.dags, not bag.get_dag(): get_dag() also looks the DAG up in the metadata database
    return {dag_id: bag.dags[dag_id] for dag_id in ids}


@pytest.fixture(scope="module")
def dags() -> dict:
    with pytest.MonkeyPatch.context() as patch:
        return parse(patch)


def edges(dag) -> set[tuple[str, str]]:
    return {(task.task_id, down) for task in dag.tasks for down in task.downstream_task_ids}


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_schedule_and_default_window(dags, dag_id: str) -> None:
    dag = dags[dag_id]
    # daily, with day-long data intervals (a plain "@daily" gives zero-length ones on Airflow 3)
    timetable = serialized(dag).timetable
    assert type(timetable).__name__ == "CronDataIntervalTimetable"
    interval = timetable.infer_manual_data_interval(run_after=pendulum.datetime(2019, 1, 5, tz="UTC"))
    assert (interval.start, interval.end) == (
        pendulum.datetime(2019, 1, 4, tz="UTC"),
        pendulum.datetime(2019, 1, 5, tz="UTC"),
    )
    assert dag.catchup is True
    assert dag.start_date == pendulum.datetime(2019, 1, 1, tz="UTC")
    assert dag.end_date == pendulum.datetime(2019, 1, 10, tz="UTC")
    assert 1 <= dag.max_active_runs <= 4
    assert "movielens" in dag.tags
    assert dag_id.split("_", 1)[1] in dag.doc_md.splitlines()[1]  # the doc says which layer it shows
    assert dag.default_args["owner"] == "movielens"
    assert dag.default_args["retries"] == 2
    assert dag.default_args["retry_delay"] == dt.timedelta(minutes=1)
    assert dag.default_args["max_retry_delay"] == dt.timedelta(minutes=10)
    assert all(task.retries == 2 for task in dag.tasks)


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_ranking_params(dags, dag_id: str) -> None:
    params = dags[dag_id].params
    assert {name: params[name] for name in ("min_ratings", "prior_weight", "top_n", "half_life_days")} == {
        "min_ratings": 3,
        "prior_weight": 10,
        "top_n": 300,  # MOVIELENS_TOP_N's default
        "half_life_days": 7,
    }


def test_task_graphs(dags) -> None:
    for dag_id in ("01_python", "02_hook", "03_operator"):
        assert edges(dags[dag_id]) == RANKING_EDGES, dag_id
    assert edges(dags["04_sensor"]) == RANKING_EDGES | {("wait_for_ratings", "load_ratings")}


def _ranking_operator_types() -> dict[str, type]:
    """The operator of each ranking task on this path: the Astro SDK's (Airflow 2) or TaskFlow's (3)."""
    from include.movielens.compat import ASTRO_SDK

    if ASTRO_SDK:
        from astro.sql.operators.cleanup import CleanupOperator
        from astro.sql.operators.dataframe import DataframeOperator
        from astro.sql.operators.transform import TransformOperator

        return {
            "aggregate_windows": TransformOperator,
            "window_weights": DataframeOperator,
            "rank_movies": DataframeOperator,
            "export_ranking_csv": DataframeOperator,
            "cleanup_temp_tables": CleanupOperator,
        }
    from airflow.providers.standard.decorators.python import _PythonDecoratedOperator

    names = ["aggregate_windows", "window_weights", "rank_movies", "export_ranking_csv"]
    return dict.fromkeys([*names, "cleanup_temp_tables"], _PythonDecoratedOperator)


def test_shared_ranking_tasks(dags) -> None:
    from include.movielens.compat import ASTRO_SDK

    types = _ranking_operator_types()
    for dag in dags.values():
        group = dag.task_group.children["rank_and_publish"]
        assert set(group.children) == {
            "plan_windows",
            "window_weights",
            "aggregate_windows",
            "rank_movies",
            "export_ranking_csv",
            "publish_ranking",
            "check_served",
            "cleanup_temp_tables",
        }
        for task_id, operator in types.items():
            assert isinstance(dag.get_task(task_id), operator), task_id
        ratings = dag.get_task("aggregate_windows").op_args[0]
        if ASTRO_SDK:
            ratings = {"name": ratings.name, "conn_id": ratings.conn_id}
        assert (ratings["name"], ratings["conn_id"]) == ("ratings", "movielens_results")
        cleanup = dag.get_task("cleanup_temp_tables")
        assert cleanup.is_teardown  # runs after failures, but does not decide the run's state
        publish = dag.get_task("publish_ranking")
        assert publish.trigger_rule == "none_failed"
        # the SDK Table's URI; Airflow 3 normalises an Asset's URI (a "/" path)
        path = "/" if not ASTRO_SDK else ""
        assert [outlet.uri for outlet in publish.outlets] == [
            f"astro://movielens_results@{path}?table=movie_rankings"
        ]


def test_sensor_reschedules(dags) -> None:
    sensor = dags["04_sensor"].get_task("wait_for_ratings")
    assert sensor.mode == "reschedule"
    assert sensor.poke_interval == 300
    assert sensor.timeout == 3600


def test_load_steps_fill_the_ratings_table(dags) -> None:
    from airflow_movielens.transfers import MovielensRatingsToSqlOperator

    for dag_id in ("03_operator", "04_sensor"):
        load = dags[dag_id].get_task("load_ratings")
        assert isinstance(load, MovielensRatingsToSqlOperator)
        assert (load.sql_conn_id, load.table, load.schema) == ("movielens_results", "ratings", "public")
        assert load.interval_start == "{{ data_interval_start | ds }}"
        assert load.interval_end == "{{ data_interval_end | ds }}"
    for dag_id in ("01_python", "02_hook"):
        load = dags[dag_id].get_task("load_ratings")
        assert list(load.op_args) == ["{{ data_interval_start | ds }}", "{{ data_interval_end | ds }}"]


def test_window_and_concurrency_are_overridable(monkeypatch) -> None:
    dags = parse(
        monkeypatch,
        MOVIELENS_START_DATE="2015-03-01",
        MOVIELENS_END_DATE="2015-03-31",
        MOVIELENS_MAX_ACTIVE_RUNS="1",
    )
    for dag in dags.values():
        assert dag.start_date == pendulum.datetime(2015, 3, 1, tz="UTC")
        assert dag.end_date == pendulum.datetime(2015, 3, 31, tz="UTC")
        assert dag.max_active_runs == 1


def test_retries_are_overridable(monkeypatch) -> None:
    dags = parse(monkeypatch, MOVIELENS_TASK_RETRIES="0", MOVIELENS_TASK_RETRY_DELAY="5")
    for dag in dags.values():
        assert dag.default_args["retry_delay"] == dt.timedelta(seconds=5)
        assert {task.task_id: task.retries for task in dag.tasks} == dict.fromkeys(dag.task_ids, 0)


def test_retries_under_test_are_off() -> None:
    # tests/conftest.py: dag.test() runs of a failing task end at once instead of after minutes of retries
    from include.movielens import settings

    assert settings.task_retries() == 0
    assert settings.task_retry_delay() == dt.timedelta(0)


@pytest.mark.parametrize(("value", "deferrable"), [(None, False), ("true", True), ("false", False)])
def test_sensor_deferrable_setting(airflow_db, monkeypatch, value, deferrable) -> None:
    monkeypatch.delenv("MOVIELENS_SENSOR_DEFERRABLE", raising=False)
    env = {} if value is None else {"MOVIELENS_SENSOR_DEFERRABLE": value}
    sensor = parse(monkeypatch, **env)["04_sensor"].get_task("wait_for_ratings")
    assert sensor.deferrable is deferrable
    assert sensor.mode == "reschedule"  # what the non-deferrable path uses


def test_bad_sensor_deferrable_setting_is_rejected(monkeypatch) -> None:
    from include.movielens import settings

    monkeypatch.setenv("MOVIELENS_SENSOR_DEFERRABLE", "sometimes")
    with pytest.raises(
        ValueError, match="MOVIELENS_SENSOR_DEFERRABLE must be true or false, got 'sometimes'"
    ):
        settings.sensor_deferrable()


def test_bad_window_is_rejected(monkeypatch) -> None:
    from include.movielens import settings

    monkeypatch.setenv("MOVIELENS_START_DATE", "2019-01-10")
    monkeypatch.setenv("MOVIELENS_END_DATE", "2019-01-01")
    with pytest.raises(ValueError, match="before"):
        settings.schedule_window()
    monkeypatch.setenv("MOVIELENS_START_DATE", "01/01/2019")
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        settings.schedule_window()


def test_data_location_default_and_override(monkeypatch, tmp_path) -> None:
    from include.movielens import settings

    monkeypatch.delenv("MOVIELENS_DATA_DIR", raising=False)
    monkeypatch.delenv("MOVIELENS_DATA_CONN_ID", raising=False)
    assert settings.data_location() == (DAGS_FOLDER.parent / "include" / "data").as_uri()
    assert settings.data_conn_id() is None
    monkeypatch.setenv("MOVIELENS_DATA_DIR", str(tmp_path))
    assert settings.data_location() == tmp_path.as_uri()
    monkeypatch.setenv("MOVIELENS_DATA_DIR", "s3://bucket/movielens/")
    monkeypatch.setenv("MOVIELENS_DATA_CONN_ID", "aws_artifacts")
    assert settings.data_location() == "s3://bucket/movielens"
    assert settings.data_conn_id() == "aws_artifacts"
    assert settings.ranking_csv_key("02_hook", "2019-01-01") == "rankings/02_hook/2019-01-01.csv"


# ------------------------------------------------------------------------------------------------------
# Operations of all six DAGs: timeouts, the API's pool, failure callbacks
# ------------------------------------------------------------------------------------------------------
#: The tasks that page the API's ratings, and how many days each pages at most.
API_PAGING = {
    **{(dag_id, "load_ratings"): 1 for dag_id in DAG_IDS},
    **{(dag_id, "fill_history"): 365 for dag_id in DAG_IDS},
    ("05_history", "load_history"): 29 * 365,
}
FIXED = dt.timedelta(minutes=30)


@pytest.fixture(scope="module")
def six_dags() -> dict:
    with pytest.MonkeyPatch.context() as patch:
        return parse(patch, ALL_DAG_IDS)


def test_every_task_has_a_timeout_and_every_api_pull_the_pool(six_dags) -> None:
    found = set()
    for dag_id, dag in six_dags.items():
        scheduled = serialized(dag)  # what the scheduler and the workers see
        for task in dag.tasks:
            key = (dag_id, task.task_id)
            for seen in (task, scheduled.get_task(task.task_id)):
                if key in API_PAGING:
                    found.add(key)
                    assert seen.pool == "movielens_api", key
                    assert seen.execution_timeout == FIXED + dt.timedelta(seconds=API_PAGING[key]), key
                else:
                    assert seen.pool == "default_pool", key
                    assert seen.execution_timeout == FIXED, key
    assert found == set(API_PAGING)  # every paging task exists under its id


def test_timeouts_and_pool_follow_their_settings(monkeypatch) -> None:
    env = {
        "MOVIELENS_TASK_TIMEOUT": "120",
        "MOVIELENS_LOAD_TIMEOUT_PER_DAY": "3",
        "MOVIELENS_API_POOL": "api_pulls",
    }
    dags = parse(monkeypatch, ALL_DAG_IDS, **env)
    assert dags["06_evaluation"].get_task("evaluate_rankings").execution_timeout == dt.timedelta(minutes=2)
    assert dags["03_operator"].get_task("aggregate_windows").execution_timeout == dt.timedelta(minutes=2)
    for (dag_id, task_id), days in API_PAGING.items():
        task = dags[dag_id].get_task(task_id)
        assert task.pool == "api_pulls"
        assert task.execution_timeout == dt.timedelta(seconds=120 + 3 * days), (dag_id, task_id)


@pytest.mark.parametrize("deferrable", ["false", "true"])
def test_the_sensor_times_out_by_its_own_timeout(monkeypatch, deferrable: str) -> None:
    env = {"MOVIELENS_SENSOR_DEFERRABLE": deferrable, "MOVIELENS_SENSOR_POKE_INTERVAL": "600"}
    sensor = parse(monkeypatch, **env)["04_sensor"].get_task("wait_for_ratings")
    assert sensor.pool == "default_pool"  # one request per poke: it does not page
    if deferrable == "false":  # each poke is a try of its own; `timeout` spans the tries
        assert sensor.execution_timeout == FIXED
        return
    # deferred, one try spans the wait: Airflow 2 ends the deferral at start + execution_timeout, which
    # must come after the sensor's own deadline and its trigger's last poll (AirflowSensorTimeout, no retry)
    assert sensor.execution_timeout > dt.timedelta(seconds=sensor.timeout + 2 * sensor.poke_interval)


def test_a_bad_timeout_setting_is_rejected(monkeypatch) -> None:
    from include.movielens import settings

    monkeypatch.setenv("MOVIELENS_TASK_TIMEOUT", "0")
    with pytest.raises(ValueError, match="MOVIELENS_TASK_TIMEOUT must be >= 1, got 0"):
        settings.task_timeout()


@pytest.mark.parametrize("alert_conn_id", [None, "ops_alerts"])
def test_every_task_reports_its_failure(monkeypatch, alert_conn_id: str | None) -> None:
    from include.movielens.alerts import FailureWebhookNotifier, log_failure

    env = {"MOVIELENS_ALERT_CONN_ID": alert_conn_id} if alert_conn_id else {}
    for dag in parse(monkeypatch, ALL_DAG_IDS, **env).values():
        for task in dag.tasks:
            callbacks = list(task.on_failure_callback)
            assert callbacks[0] is log_failure, task.task_id
            notifiers = [c.http_conn_id for c in callbacks if isinstance(c, FailureWebhookNotifier)]
            assert notifiers == ([alert_conn_id] if alert_conn_id else []), task.task_id


def test_the_stored_depth_follows_its_setting(monkeypatch) -> None:
    """``top_n`` defaults to MOVIELENS_TOP_N: 300 unless set (the depth docs/benchmarks.md measures)."""
    for dag in parse(monkeypatch).values():
        assert dag.params["top_n"] == 300, dag.dag_id
    for dag in parse(monkeypatch, MOVIELENS_TOP_N="120").values():
        assert dag.params["top_n"] == 120, dag.dag_id
    monkeypatch.setenv("MOVIELENS_TOP_N", "0")
    from include.movielens import settings

    with pytest.raises(ValueError, match="MOVIELENS_TOP_N must be >= 1, got 0"):
        settings.top_n()
    monkeypatch.setenv("MOVIELENS_HISTORY_START", "1995-13-01")
    with pytest.raises(
        ValueError, match="MOVIELENS_HISTORY_START must be a YYYY-MM-DD date, got '1995-13-01'"
    ):
        settings.history_start()
