"""Provider-only example: wait for a day's ratings, then save them to a parquet file.

Runs unchanged on Airflow 2.10 and 3.x: a schedule *with data intervals* (on Airflow 3 a plain ``"@daily"``
has zero-length ones, which the operator and sensor reject), and only templates and context keys that exist
in both (``data_interval_start``/``data_interval_end``, ``ds``, ``params``; never ``execution_date``).
Set ``MOVIELENS_SENSOR_DEFERRABLE=true`` to wait in the triggerer instead of rescheduling.
"""

from __future__ import annotations

import datetime as dt
import os

try:  # Airflow 3
    from airflow.sdk import DAG, CronDataIntervalTimetable
except ImportError:  # Airflow 2
    from airflow.models import DAG
    from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_movielens.operators import MovielensFetchRatingsOperator
from airflow_movielens.sensors import MovielensRatingsSensor

with DAG(
    dag_id="example_movielens",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=dt.datetime(2019, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    params={"output_dir": "/tmp/airflow-movielens"},
    default_args={"retries": 2, "retry_delay": dt.timedelta(minutes=1)},
    tags=["example", "movielens"],
) as dag:
    wait = MovielensRatingsSensor(
        task_id="wait_for_ratings",
        mode="reschedule",
        poke_interval=60,
        timeout=6 * 3600,
        deferrable=os.environ.get("MOVIELENS_SENSOR_DEFERRABLE", "").lower() == "true",
    )
    fetch = MovielensFetchRatingsOperator(
        task_id="fetch_ratings",
        output_path="{{ params.output_dir }}/ratings/{{ data_interval_start | ds }}.parquet",
    )
    wait >> fetch
