"""Every task of a DAG run on its own "worker": own process (``airflow tasks run --local``), own empty working
directory, own empty data directory; the ranking is the one of a normal in-process run.

See tests/support/expected_runs.py for the expected rankings (plain pandas, no project code).
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.results_db import results_database
from tests.support.dag_runs import assert_succeeded, parsed_dags, pipeline_env, run, states
from tests.support.expected_runs import (
    DAY,
    assert_same_ranking,
    assert_same_ratings,
    daily_bayes,
    expected_ranking,
    expected_ratings,
    result_tables,
)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("airflow_db")]


REPO_ROOT = Path(__file__).resolve().parents[2]


def task_order(dag) -> list[str]:
    """The DAG's task ids in an order that respects every dependency (ties broken by task id)."""
    upstream = {task_id: set(task.upstream_task_ids) for task_id, task in dag.task_dict.items()}
    order: list[str] = []
    while upstream:
        ready = sorted(task_id for task_id, ups in upstream.items() if not ups)
        order.append(ready[0])
        del upstream[ready[0]]
        for ups in upstream.values():
            ups.discard(ready[0])
    return order


def create_dag_run(dag, day: dt.date) -> str:
    """A running manual DagRun of ``[day, day + 1)`` in the metadata DB, as the scheduler would create it."""
    import uuid

    import pendulum
    from airflow.models import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunType

    start = pendulum.datetime(day.year, day.month, day.day, tz="UTC")
    run_id = f"workers__{dag.dag_id}__{uuid.uuid4().hex[:8]}"
    with create_session() as session:  # one run per logical date: drop the reference run's
        session.query(DagRun).filter_by(dag_id=dag.dag_id, execution_date=start.add(days=1)).delete()
    dag.create_dagrun(
        run_id=run_id,
        run_type=DagRunType.MANUAL,
        execution_date=start.add(days=1),
        data_interval=(start, start.add(days=1)),
        state=DagRunState.RUNNING,
        external_trigger=True,
        conf={},
    )
    return run_id


def queue(dag_id: str, task_id: str, run_id: str) -> None:
    """Mark a task instance queued, as the scheduler does before an executor hands it to a worker."""
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    with create_session() as session:
        ti = session.query(TaskInstance).filter_by(dag_id=dag_id, task_id=task_id, run_id=run_id).one()
        ti.state = TaskInstanceState.QUEUED


def run_task_as_worker(dag_id: str, task_id: str, run_id: str, worker: Path) -> float:
    """``airflow tasks run --local`` in a new process whose cwd, data dir and log dir are ``worker``'s own.

    What the processes share is what a deployment's workers share: the code (PYTHONPATH), the metadata
    database and the connections (environment), and nothing on a local disk.
    """
    import os
    import subprocess
    import sys

    for folder in ("cwd", "data", "logs"):
        (worker / folder).mkdir(parents=True)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "plugins")]),
        "MOVIELENS_DATA_DIR": str(worker / "data"),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(worker / "logs"),
        "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "1",  # the local task job notices the end sooner
    }
    command = [sys.executable, "-m", "airflow", "tasks", "run", dag_id, task_id, run_id, "--local"]
    command += ["--subdir", str(REPO_ROOT / "dags" / f"{dag_id}.py")]
    queue(dag_id, task_id, run_id)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=worker / "cwd", env=env, capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - started
    logs = "\n".join(path.read_text() for path in sorted((worker / "logs").rglob("*.log")))
    output = f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}\n{logs[-5000:]}"
    assert done.returncode == 0, f"{task_id} failed:\n{output}"
    return elapsed


# Each task process takes 6-20 s on this 2-core machine (Airflow's start-up and the DAG parse), so every DAG
# runs on one kind of results database: the deployment's PostgreSQL for 02_hook and 04_sensor.
WORKER_RUNS = [
    ("01_python", "sqlite"),
    ("02_hook", "postgres"),
    ("03_operator", "sqlite"),
    ("04_sensor", "postgres"),
]


@pytest.mark.parametrize(("dag_id", "kind"), WORKER_RUNS)
def test_every_task_on_its_own_worker_gives_the_same_ranking(
    request, movielens_api, dataset, tmp_path, dag_id: str, kind: str
) -> None:
    from airflow.models import DagRun

    server = request.getfixturevalue("postgres_server") if kind == "postgres" else None
    dag = parsed_dags(kind)[dag_id]
    # the reference: a normal in-process run into its own fresh database
    with (
        results_database(kind, tmp_path / "reference", server) as reference,
        pipeline_env(reference, tmp_path / "reference" / "data"),
    ):
        assert_succeeded(run(dag, DAY))
        normal = reference.rankings()
    assert_same_ranking(daily_bayes(normal), expected_ranking(dataset, DAY))

    with (
        results_database(kind, tmp_path, server) as results_db,
        pipeline_env(results_db, tmp_path / "unused"),
    ):
        run_id = create_dag_run(dag, DAY)
        order = task_order(dag)
        seconds = {
            task_id: run_task_as_worker(dag_id, task_id, run_id, tmp_path / "workers" / f"{i}-{task_id}")
            for i, task_id in enumerate(order)
        }
        print(f"{dag_id} on {len(order)} workers ({results_db.kind}): {seconds}")
        dag_run = DagRun.find(dag_id=dag_id, run_id=run_id)[0]
        assert states(dag_run) == dict.fromkeys(order, "success")
        pd.testing.assert_frame_equal(results_db.rankings(), normal)
        assert_same_ratings(results_db.ratings(), expected_ratings(dataset, DAY))
        assert results_db.tables() == result_tables(results_db)
        # nothing was left on a worker's disk but the export's own artifact (and nothing in any cwd)
        workers = tmp_path / "workers"
        left = sorted(str(path.relative_to(workers)) for path in workers.rglob("*") if path.is_file())
        left = [name for name in left if "/logs/" not in name]
        export = f"{order.index('export_ranking_csv')}-export_ranking_csv"
        assert left == [f"{export}/data/rankings/{dag_id}/2019-01-01.csv"]
