"""04_sensor on a day without ratings *inside* the data's range (real MovieLens sets have such days).

The API serves the test dataset with one day cut out. That day's window is closed (the API's newest rating is
later), so the sensor goes on at once (``on_empty="succeed"``) instead of waiting for its timeout, and the run
ends with an empty ranking; an open day (after the data) still waits, see test_reruns.py.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.support.live_api import run_api

GAP_DAY = dt.date(2019, 1, 10)
SENSOR_TIMEOUT = 60

pytestmark = pytest.mark.usefixtures("airflow_db")


@pytest.fixture(scope="module")
def gapped_api(movielens_api, tmp_path_factory):
    """A second API whose ratings.csv lacks every rating of GAP_DAY."""
    data_dir = tmp_path_factory.mktemp("movielens-gap")
    ratings = pd.read_csv(movielens_api.ratings_csv)
    day = pd.to_datetime(ratings["timestamp"], unit="s", utc=True).dt.date
    ratings[day != GAP_DAY].to_csv(data_dir / "ratings.csv", index=False)
    (data_dir / "movies.csv").write_bytes(movielens_api.movies_csv.read_bytes())
    with run_api(data_dir) as api:
        yield api


def test_closed_empty_day_goes_on_at_once_to_an_empty_ranking(gapped_api, tmp_path, monkeypatch):
    from tests.support.compat import dag_bag, reschedules, run_dag_test

    monkeypatch.setenv("AIRFLOW_CONN_MOVIELENS", gapped_api.connection_json(max_retries=1, backoff=0))
    monkeypatch.setenv("MOVIELENS_SENSOR_TIMEOUT", str(SENSOR_TIMEOUT))
    monkeypatch.setenv("MOVIELENS_SENSOR_POKE_INTERVAL", "1")
    monkeypatch.setenv("MOVIELENS_END_DATE", "2019-12-31")  # GAP_DAY inside the DAG's schedule
    monkeypatch.setenv("MOVIELENS_DATA_DIR", str(tmp_path / "data"))
    results = tmp_path / "results.db"
    monkeypatch.setenv(
        "AIRFLOW_CONN_MOVIELENS_RESULTS", json.dumps({"conn_type": "sqlite", "host": str(results)})
    )
    bag = dag_bag(str(Path(__file__).resolve().parents[2] / "dags" / "04_sensor.py"))
    assert not bag.import_errors, bag.import_errors
    dag = bag.get_dag("04_sensor")
    assert dag.get_task("wait_for_ratings").on_empty == "succeed"

    started = time.perf_counter()
    logical_date = dt.datetime.combine(GAP_DAY + dt.timedelta(days=1), dt.time(), dt.UTC)
    dag_run = run_dag_test(dag, logical_date)
    elapsed = time.perf_counter() - started

    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert dag_run.state == "success", states
    assert states["wait_for_ratings"] == "success"
    assert states["load_ratings"] == "success"
    assert dag_run.get_task_instance("load_ratings").xcom_pull(task_ids="load_ratings")["count"] == 0
    # at once: the first poke succeeds (the run's own time includes Airflow 3's dag.test() start-up)
    waited = reschedules(dag_run, "wait_for_ratings")
    assert waited == 0, f"the sensor rescheduled {waited} times for a closed window ({elapsed:.1f} s)"
