"""d. Several workers: the project's compose stack with the CeleryExecutor, Redis and two worker containers
that share no volume (lab/compose/celery.yml); all four DAGs run two days each and every ranking is exact,
also after k. a worker killed (SIGKILL) in the middle of a task that loads or aggregates ratings."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import airflow_runs as runs
from lab.conftest import (
    COMPOSE_IMAGE,
    DATASET_IN_VOLUME,
    PLAIN_FILES,
    REPORT,
    ApiVolume,
    exclusive,
    free_port,
)
from lab.fresh_machine import FreshMachine
from lab.stack import Stack, assert_down_leaves_nothing, docker, owned

ROOT = Path(__file__).resolve().parents[1]
DAGS = ["01_python", "02_hook", "03_operator", "04_sensor"]
DAYS = ["2019-01-01", "2019-01-02"]
SERVICES = ["postgres", "airflow-init", "redis", "movielens-api", "scheduler", "worker-1", "worker-2"]


@pytest.fixture(scope="module")
def stack(api_volume: ApiVolume, shell_env: dict[str, str], fresh_machine: FreshMachine) -> Iterator[Stack]:
    """The Celery stack; test f's fresh machine is started first and runs beside it (lab/fresh_machine.py)."""
    s = Stack(
        name="movielens-lab-celery",
        cwd=ROOT,
        project_dir=ROOT,
        files=[*PLAIN_FILES, ROOT / "lab" / "compose" / "celery.yml"],
        # beside the defaults lane (lab/run), which holds 8080 and 5000: the documented port knobs
        env={
            **shell_env,
            "MOVIELENS_DATA": DATASET_IN_VOLUME,
            "MOVIELENS_API_PORT": str(free_port()),
            "AIRFLOW_WEBSERVER_PORT": str(free_port()),
        },
    )
    with owned(s):
        with exclusive(COMPOSE_IMAGE, "d"):  # test a's `up --build` builds the same image
            s.compose("up", "--build", "--no-start", *SERVICES, timeout=1200)
        api_volume.seed(s, venvs=True)
        s.compose("up", "-d", *SERVICES)
        yield s


def test_d_workers_share_no_volume(stack: Stack) -> None:
    stack.wait(["worker-1", "worker-2", "scheduler"], timeout=400, condition="running")
    for worker in ("worker-1", "worker-2"):
        mounts = docker("inspect", "--format", "{{json .Mounts}}", stack.container(worker)).stdout.strip()
        assert mounts in ("[]", "null"), f"{worker} mounts {mounts}"


def test_d_all_four_dags_succeed_for_two_days_on_two_workers(stack: Stack, dataset: Path) -> None:
    """With drill k: as soon as a worker runs ``load_ratings`` or ``aggregate_windows``, that worker's
    container is killed (SIGKILL) and started again 5 s later. The task's heartbeat stops, the scheduler
    finds it a zombie and the task runs again (try 2, on whichever worker takes it); the result is exact."""
    runs.wait_parsed(stack, DAGS)
    runs.airflow_cli(stack, "scheduler", *(f"dags unpause {dag}" for dag in DAGS))
    began = time.monotonic()
    victim = _running_heavy_task(stack, timeout=600)
    killed_at = time.monotonic() - began
    stack.compose("kill", "-s", "SIGKILL", victim["hostname"])
    time.sleep(5)
    stack.compose("start", victim["hostname"])
    runs.wait_success(
        stack,
        [(dag, day) for dag in DAGS for day in DAYS],
        timeout=1800,
        log_services=("worker-1", "worker-2"),
    )
    runs.pause(stack, DAGS)
    again = stack.sql(
        "SELECT state, try_number, hostname FROM task_instance WHERE dag_id = '{dag_id}' "
        "AND run_id = '{run_id}' AND task_id = '{task_id}'".format(**victim)
    )[0]
    REPORT.append(
        f"drill Celery worker SIGKILL: {victim['hostname']} killed {killed_at:.0f} s after the unpause while "
        f"it ran {victim['dag_id']}.{victim['task_id']}; that task ended {again[0]} at try {again[1]} on "
        f"{again[2]}; all runs done {time.monotonic() - began:.0f} s after the unpause"
    )
    assert again[0] == "success"
    assert int(again[1]) > 1, "the killed task did not run again"
    hosts = {r[0] for r in stack.sql("SELECT DISTINCT hostname FROM task_instance WHERE state = 'success'")}
    assert hosts == {"worker-1", "worker-2"}, hosts
    runs.assert_exact(stack, dataset, DAYS)
    runs.assert_api_pool(stack, DAGS)


def _running_heavy_task(stack: Stack, timeout: float) -> dict[str, str]:
    """The first ``load_ratings`` or ``aggregate_windows`` task instance seen running on a worker."""
    deadline = time.monotonic() + timeout
    while True:
        rows = stack.sql(
            "SELECT hostname, dag_id, run_id, task_id FROM task_instance WHERE state = 'running' "
            "AND task_id IN ('load_ratings', 'aggregate_windows') AND hostname IN ('worker-1', 'worker-2') "
            "LIMIT 1"
        )
        if rows:
            return dict(zip(("hostname", "dag_id", "run_id", "task_id"), rows[0], strict=True))
        assert time.monotonic() < deadline, "no load_ratings or aggregate_windows ran on a worker"
        time.sleep(0.2)


def test_d_down_leaves_nothing(stack: Stack) -> None:
    assert_down_leaves_nothing(stack)
