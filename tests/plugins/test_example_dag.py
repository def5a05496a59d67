"""The provider-only example DAG, run with dag.test() against the live API (on Airflow 2.10 and 3.x)."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from airflow_movielens.example_dags.example_movielens import dag
from tests.support.compat import run_dag_test


def test_example_dag_waits_then_fetches_a_day(movielens_api, airflow_db, expected_ratings, tmp_path):
    run = run_dag_test(dag, dt.datetime(2019, 1, 6, tzinfo=dt.UTC), run_conf={"output_dir": str(tmp_path)})
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {"wait_for_ratings": "success", "fetch_ratings": "success"}, states
    day, next_day = "2019-01-05", "2019-01-06"
    assert (run.data_interval_start.date().isoformat(), run.data_interval_end.date().isoformat()) == (
        day,
        next_day,
    )
    written = pd.read_parquet(tmp_path / "ratings" / f"{day}.parquet")
    pd.testing.assert_frame_equal(written, expected_ratings(day, next_day))
