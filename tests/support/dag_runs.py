"""``dag.test()`` runs of the project's DAGs for the DAG suites: the DAGs parsed once per results database
kind, the pipeline's environment pointed at a results database, one day's run and its task states."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.results_db import ResultsDb, forget_connection_types
from tests.support.compat import AIRFLOW_3, dag_bag, run_dag_test

DAG_IDS = ["01_python", "02_hook", "03_operator", "04_sensor"]
SENSOR_TIMEOUT = 4
SENSOR_POKE_INTERVAL = 1
DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"


_PARSED: dict[str, dict] = {}


def parse_dags() -> dict:
    """The DAGs (the four daily ones, 05_history, 06_evaluation), freshly parsed with a wide window and a
    short sensor timeout."""
    if not AIRFLOW_3:
        # dag.test() deletes an existing run of the same date through the ORM, whose DagRunNote maps a
        # foreign key to the FAB user table: its models must be imported for a rerun to work.
        import airflow.providers.fab.auth_manager.models  # noqa: F401

    with pytest.MonkeyPatch.context() as patch:
        # the window override of include/movielens/settings.py: 2019-02-01 is inside the DAGs' range
        patch.setenv("MOVIELENS_END_DATE", "2019-12-31")
        patch.setenv("MOVIELENS_SENSOR_TIMEOUT", str(SENSOR_TIMEOUT))
        patch.setenv("MOVIELENS_SENSOR_POKE_INTERVAL", str(SENSOR_POKE_INTERVAL))
        bag = dag_bag(str(DAGS_FOLDER))
        assert not bag.import_errors, bag.import_errors
        return {dag_id: bag.get_dag(dag_id) for dag_id in [*DAG_IDS, "05_history", "06_evaluation"]}


def parsed_dags(kind: str) -> dict:
    """The four DAGs, parsed once per results database kind.

    The Astro SDK fills the schema of a DAG's temporary output tables in place on first use (PostgreSQL:
    ``tmp_astro``; SQLite: none), so DAG objects that ran on one kind must not run on the other in the
    same process. A real worker parses its DAGs against one deployment's connection, never two.
    """
    if kind not in _PARSED:
        _PARSED[kind] = parse_dags()
    return _PARSED[kind]


@contextlib.contextmanager
def pipeline_env(db: ResultsDb, data_dir: Path) -> Iterator[None]:
    """``movielens_results`` pointing at ``db``, ``MOVIELENS_DATA_DIR`` at ``data_dir``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOVIELENS_DATA_DIR", str(data_dir))
        patch.setenv("AIRFLOW_CONN_MOVIELENS_RESULTS", db.connection_json)
        forget_connection_types()
        try:
            yield
        finally:
            forget_connection_types()


def run(dag, day: dt.date, **conf):
    """``dag.test()`` of the interval ``[day, day + 1)``.

    A manual run's data interval is the schedule interval that *ends* at its logical date, so the logical
    date is the day after the window (a scheduled run of ``day`` covers the same window).
    """
    logical_date = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC) + dt.timedelta(days=1)
    started = time.perf_counter()
    dag_run = run_dag_test(dag, logical_date, run_conf=conf)
    elapsed = time.perf_counter() - started
    print(f"dag.test {dag.dag_id} {day}: {dag_run.state} in {elapsed:.1f}s")
    return dag_run


def states(dag_run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def assert_succeeded(dag_run) -> None:
    assert dag_run.state == "success", states(dag_run)
    assert set(states(dag_run).values()) == {"success"}, states(dag_run)
