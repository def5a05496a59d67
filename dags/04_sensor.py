"""04_sensor: wait for the interval's ratings (reschedule mode), load them with the operator, rank."""

from __future__ import annotations

from airflow_movielens.sensors import MovielensRatingsSensor
from include.movielens import settings
from include.movielens.dag_factory import load_ratings_task, movielens_dag
from include.movielens.pipeline import rank_and_publish

DOC_MD = """
### 04_sensor — wait for data before loading

`MovielensRatingsSensor` asks the API for one rating of the interval and, in `reschedule` mode, frees its
worker slot between pokes (`MOVIELENS_SENSOR_POKE_INTERVAL`, default 300 s) until ratings exist or
`MOVIELENS_SENSOR_TIMEOUT` (default 3600 s) passes and the run fails. With `MOVIELENS_SENSOR_DEFERRABLE=true`
it waits in the triggerer instead (`MovielensRatingsTrigger`, no worker slot at all). A day without ratings
whose window is *closed* (the API already has later ratings) is not waited for: the run goes on to an empty
ranking. Then the transfer operator of 03 loads the interval; ranking as in 01.

What it demonstrates: a sensor gating the pipeline on data availability without blocking a worker.
"""

with movielens_dag("04_sensor", doc_md=DOC_MD, tags=["sensor", "operator"]) as dag:
    deferrable = settings.sensor_deferrable()
    wait_for_ratings = MovielensRatingsSensor(
        task_id="wait_for_ratings",
        conn_id=settings.MOVIELENS_CONN_ID,
        interval_start=settings.WINDOW_START_TEMPLATE,
        interval_end=settings.WINDOW_END_TEMPLATE,
        mode="reschedule",
        poke_interval=settings.sensor_poke_interval(),
        timeout=settings.sensor_timeout(),
        deferrable=deferrable,
        # one poke per try in reschedule mode; the whole wait when deferred (never before `timeout`)
        execution_timeout=settings.sensor_execution_timeout(deferrable),
    )
    rank_and_publish(wait_for_ratings >> load_ratings_task())
