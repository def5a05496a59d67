"""What the six DAGs share: default_args and tags, the daily DAGs' schedule, window and params, the triggered
DAGs' one-run-at-a-time settings, and the load step of 03_operator, 04_sensor and 05_history.

Every task gets from ``default_args`` retries with backoff, an ``execution_timeout`` (the fixed bound
:func:`settings.task_timeout`) and ``on_failure_callback`` (:mod:`include.movielens.alerts`); a task that
pages the API's ratings takes :func:`api_paging` on top: the pool ``movielens_api`` and a timeout that grows
with the days it pages."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pendulum

from airflow_movielens.transfers import MovielensRatingsToSqlOperator
from include.movielens import settings
from include.movielens.alerts import failure_callbacks
from include.movielens.compat import DAG, DAILY, Param
from include.movielens.popularity import DEFAULT_HALF_LIFE_DAYS, DEFAULT_MIN_RATINGS, DEFAULT_PRIOR_WEIGHT


def ranking_params() -> dict[str, Param]:
    """The ranking's knobs as DAG params (overridable per run, e.g. ``airflow dags trigger -c``)."""
    return {
        "min_ratings": Param(
            DEFAULT_MIN_RATINGS,
            type="integer",
            minimum=1,
            description="Keep movies with at least this many ratings in the window.",
        ),
        "prior_weight": Param(
            DEFAULT_PRIOR_WEIGHT,
            type="number",
            minimum=0,
            description="m in score = v/(v+m)*R + m/(v+m)*C: ratings of prior pull towards the window mean.",
        ),
        "top_n": Param(
            settings.top_n(), type="integer", minimum=1, description="How many movies each ranking keeps."
        ),
        "half_life_days": Param(
            DEFAULT_HALF_LIFE_DAYS,
            type="number",
            exclusiveMinimum=0,
            description="trending: a rating this many whole days old counts 1/2.",
        ),
    }


def default_args() -> dict:
    retry_delay = settings.task_retry_delay()
    return {
        "owner": settings.OWNER,
        "retries": settings.task_retries(),
        "retry_delay": retry_delay,
        "retry_exponential_backoff": True,
        "max_retry_delay": retry_delay * 10,
        "execution_timeout": settings.task_timeout(),
        "on_failure_callback": failure_callbacks(),
    }


def api_paging(days: int) -> dict[str, Any]:
    """The arguments of a task that pages ``days`` days of ratings from the Movie Rating API: the API's pool
    (concurrent pulls are capped) and an ``execution_timeout`` that grows with the days."""
    return {"pool": settings.api_pool(), "execution_timeout": settings.load_timeout(days)}


def _utc(day: dt.date) -> pendulum.DateTime:
    return pendulum.datetime(day.year, day.month, day.day, tz="UTC")


def _dag(dag_id: str, *, tags: list[str], **kwargs: Any) -> DAG:
    """What every DAG of the project shares: its default_args and tags."""
    return DAG(dag_id=dag_id, default_args=default_args(), tags=[*settings.TAGS, *tags], **kwargs)


def movielens_dag(dag_id: str, *, doc_md: str, tags: list[str]) -> DAG:
    """A daily, catching-up DAG over the configured window (see :mod:`include.movielens.settings`)."""
    start, end = settings.schedule_window()
    return _dag(
        dag_id,
        doc_md=doc_md,
        tags=tags,
        description="Daily popular-movie ranking of the MovieLens ratings.",
        schedule=DAILY,
        start_date=_utc(start),
        end_date=_utc(end),
        catchup=True,
        max_active_runs=settings.max_active_runs(),
        params=ranking_params(),
    )


def on_demand_dag(dag_id: str, *, tags: list[str], **kwargs: Any) -> DAG:
    """A DAG run by hand (``schedule=None``) or by an Asset/Dataset, one run at a time, no catch-up;
    ``kwargs``: its ``description``, ``doc_md``, ``schedule`` and ``params``."""
    start_date = pendulum.datetime(2019, 1, 1, tz="UTC")
    return _dag(dag_id, tags=tags, start_date=start_date, catchup=False, max_active_runs=1, **kwargs)


def load_ratings_task(
    task_id: str = "load_ratings", *, days: int = 1, **kwargs: Any
) -> MovielensRatingsToSqlOperator:
    """The provider's transfer operator from the API connection into the results database's ``ratings``.

    :param days: the most days the interval spans, which sets its timeout (:func:`api_paging`).
    :param kwargs: more operator arguments: ``interval_start``/``interval_end`` (Jinja templates rendered per
        run; by default the run's data interval), ``batch_size`` (by default ``settings.DEFAULT_BATCH_SIZE``).
    """
    return MovielensRatingsToSqlOperator(
        task_id=task_id,
        conn_id=settings.MOVIELENS_CONN_ID,
        sql_conn_id=settings.RESULTS_CONN_ID,
        table=settings.RATINGS_TABLE,
        schema=settings.results_schema(),
        **{"batch_size": settings.DEFAULT_BATCH_SIZE, **api_paging(days), **kwargs},
    )
