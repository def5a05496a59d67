"""d. Several workers: the project's compose stack with the CeleryExecutor, Redis and two worker containers
that share no volume (lab/compose/celery.yml); all four DAGs run two days each and every ranking is exact."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import airflow_runs as runs
from lab.conftest import DATASET_IN_VOLUME, PLAIN_FILES, ApiVolume
from lab.stack import Stack, assert_down_leaves_nothing, docker, purge

ROOT = Path(__file__).resolve().parents[1]
DAGS = ["01_python", "02_hook", "03_operator", "04_sensor"]
DAYS = ["2019-01-01", "2019-01-02"]
SERVICES = ["postgres", "airflow-init", "redis", "movielens-api", "scheduler", "worker-1", "worker-2"]


@pytest.fixture(scope="module")
def stack(api_volume: ApiVolume, shell_env: dict[str, str]) -> Iterator[Stack]:
    s = Stack(
        name="movielens-lab-celery",
        cwd=ROOT,
        project_dir=ROOT,
        files=[*PLAIN_FILES, ROOT / "lab" / "compose" / "celery.yml"],
        env={**shell_env, "MOVIELENS_DATA": DATASET_IN_VOLUME},
    )
    purge(s.name)
    try:
        s.compose("up", "--build", "--no-start", *SERVICES, timeout=1200)
        api_volume.seed(s, venvs=True)
        s.compose("up", "-d", *SERVICES)
        yield s
    finally:
        s.down()
        purge(s.name)


def test_d_workers_share_no_volume(stack: Stack) -> None:
    stack.wait(["worker-1", "worker-2", "scheduler"], timeout=400, condition="running")
    for worker in ("worker-1", "worker-2"):
        mounts = docker("inspect", "--format", "{{json .Mounts}}", stack.container(worker)).stdout.strip()
        assert mounts in ("[]", "null"), f"{worker} mounts {mounts}"


def test_d_all_four_dags_succeed_for_two_days_on_two_workers(stack: Stack, dataset: Path) -> None:
    runs.wait_parsed(stack, DAGS)
    runs.airflow_cli(stack, "scheduler", *(f"dags unpause {dag}" for dag in DAGS))
    runs.wait_success(
        stack,
        [(dag, day) for dag in DAGS for day in DAYS],
        timeout=900,
        log_services=("worker-1", "worker-2"),
    )
    runs.pause(stack, DAGS)
    hosts = {r[0] for r in stack.sql("SELECT DISTINCT hostname FROM task_instance WHERE state = 'success'")}
    assert hosts == {"worker-1", "worker-2"}, hosts
    runs.assert_exact(stack, dataset, DAYS)


def test_d_down_leaves_nothing(stack: Stack) -> None:
    assert_down_leaves_nothing(stack)
