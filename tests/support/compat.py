"""What the provider's tests need from Airflow 2.10 and 3.x alike (the provider itself imports through
``airflow.sdk`` where present; these are the test-side differences)."""

from __future__ import annotations

import inspect
import os
from typing import Any

import pendulum
from airflow import __version__ as AIRFLOW_VERSION

try:  # Airflow 3
    from airflow.sdk import DAG, CronDataIntervalTimetable
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 2
    from airflow.exceptions import TaskDeferred
    from airflow.models import DAG
    from airflow.timetables.interval import CronDataIntervalTimetable

__all__ = [
    "AIRFLOW_3",
    "AIRFLOW_VERSION",
    "DAG",
    "DAILY",
    "TaskDeferred",
    "daily_test_dag",
    "dag_bag",
    "init_metadata_db",
    "reschedules",
    "serialized",
    "run_dag_test",
]

#: "@daily" with data intervals on both (Airflow 3's plain "@daily" has zero-length ones).
DAILY = CronDataIntervalTimetable("@daily", timezone="UTC")

AIRFLOW_3 = int(AIRFLOW_VERSION.split(".")[0]) >= 3


def daily_test_dag(dag_id: str) -> Any:
    """A daily DAG from 2019-01-01 (no catch-up) whose tasks get their start date through ``default_args``,
    as the project's DAGs do, and never retry: a failure shows at once."""
    start = pendulum.datetime(2019, 1, 1, tz="UTC")
    return DAG(
        dag_id,
        schedule=DAILY,
        start_date=start,
        catchup=False,
        default_args={"start_date": start, "retries": 0},
    )


def init_metadata_db() -> None:
    """Create a migrated, empty metadata database (without Airflow 2's example connections) that holds the
    API's pool, as every stack's does: a task outside ``dag.test()`` (``airflow tasks run``, a scheduler) in a
    pool that does not exist is never run."""
    from airflow.models.pool import Pool
    from airflow.utils import db

    from include.movielens import settings

    if "load_connections" in inspect.signature(db.initdb).parameters:
        db.initdb(load_connections=False)
    else:
        db.initdb()
    Pool.create_or_update_pool(
        settings.api_pool(), settings.api_pool_slots(), "the Movie Rating API's pulls", include_deferred=False
    )


def dag_bag(dag_folder: str) -> Any:
    """The DAGs of ``dag_folder`` parsed from their files, never read from the metadata database."""
    if AIRFLOW_3:
        from airflow.dag_processing.dagbag import DagBag

        return DagBag(dag_folder=dag_folder)
    from airflow.models import DagBag

    return DagBag(dag_folder=dag_folder, include_examples=False, read_dags_from_db=False)


def serialized(dag: Any) -> Any:
    """``dag`` as the scheduler sees it: through the DAG serializer and back (Airflow 3: a core DAG whose
    timetable computes data intervals; the task SDK's timetables only describe them)."""
    if AIRFLOW_3:
        from airflow.serialization.serialized_objects import DagSerialization

        return DagSerialization.from_dict(DagSerialization.to_dict(dag))
    from airflow.serialization.serialized_objects import SerializedDAG

    return SerializedDAG.from_dict(SerializedDAG.to_dict(dag))


def reschedules(dag_run: Any, task_id: str) -> int:
    """How often ``task_id`` of ``dag_run`` was rescheduled (a sensor in ``reschedule`` mode)."""
    from airflow.models.taskreschedule import TaskReschedule
    from airflow.utils.session import create_session

    with create_session() as session:
        query = session.query(TaskReschedule)
        if AIRFLOW_3:  # keyed by the task instance's id
            query = query.filter(TaskReschedule.ti_id == dag_run.get_task_instance(task_id).id)
        else:
            query = query.filter(
                TaskReschedule.dag_id == dag_run.dag_id,
                TaskReschedule.run_id == dag_run.run_id,
                TaskReschedule.task_id == task_id,
            )
        return query.count()


def run_dag_test(dag: Any, logical_date: Any, **kwargs: Any) -> Any:
    """``dag.test()`` of one logical date (``logical_date`` on Airflow 3, ``execution_date`` on 2)."""
    if AIRFLOW_3:
        _serialize_into_metadata_db(dag)
        return dag.test(logical_date=logical_date, **kwargs)
    return dag.test(execution_date=logical_date, **kwargs)


def _serialize_into_metadata_db(dag: Any) -> None:
    """Airflow 3's ``dag.test()`` runs only DAGs that a DAG bundle has serialized; a DAG defined in a test
    module is in no bundle, so write it into the default bundle here (as the DAG processor would)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder=os.devnull)
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)
