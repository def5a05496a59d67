"""a. docs/operations.md "Plain Docker Compose" in real containers, and e. the API killed during a fetch, on
that stack.

The guide's command is `docker compose up --build` in the project folder. The lab runs it detached and in two
steps so that the API serves the lab's small dataset (the documented `MOVIELENS_DATA` knob, given in the shell
environment) instead of generating the 25M twin: `up --build --no-start` creates the project, the dataset is
copied into the API's data volume, then `up -d` starts everything. `down -v` ends it, leaving nothing.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import requests
import yaml

from lab import airflow_runs as runs
from lab.conftest import DATASET_IN_VOLUME, PLAIN_FILES, REPORT, ApiVolume, require_free_ports
from lab.stack import Stack, assert_down_leaves_nothing, purge

ROOT = Path(__file__).resolve().parents[1]
DAY = "2019-01-01"
#: The task of 03_operator that pages through the API (MovielensRatingsToSqlOperator).
FETCH_TASK = "load_ratings"


def default_project_name() -> str:
    """The name `docker compose` gives the project in this folder (no -p)."""
    out = subprocess.run(
        ["docker", "compose", "config", "--format", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return yaml.safe_load(out)["name"]


@pytest.fixture(scope="module")
def stack(api_volume: ApiVolume, shell_env: dict[str, str]) -> Iterator[Stack]:
    require_free_ports(8080, 5000)
    s = Stack(
        name=default_project_name(),
        cwd=ROOT,
        project_dir=ROOT,
        files=PLAIN_FILES,
        env={**shell_env, "MOVIELENS_DATA": DATASET_IN_VOLUME},
    )
    purge(s.name)
    try:
        s.compose("up", "--build", "--no-start", timeout=1200)
        api_volume.seed(s, venvs=False)
        s.compose("up", "-d")
        yield s
    finally:
        s.down()
        purge(s.name)


def test_a_services_become_healthy(stack: Stack, api_volume: ApiVolume) -> None:
    stack.wait(["airflow-init"], timeout=300, condition="exited")
    stack.wait(["postgres", "movielens-api", "webserver"], timeout=420)
    api_volume.keep_venvs(stack)
    stack.wait(["scheduler", "triggerer"], timeout=60, condition="running")
    assert requests.get("http://127.0.0.1:5000/", timeout=10).ok
    assert requests.get("http://127.0.0.1:8080/health", timeout=10).json()["scheduler"]["status"] == "healthy"


def test_a_04_sensor_runs_one_day_through_the_scheduler(stack: Stack, dataset: Path) -> None:
    runs.wait_parsed(stack, ["04_sensor", "03_operator"])
    runs.airflow_cli(stack, "scheduler", "dags unpause 04_sensor")
    runs.wait_success(stack, [("04_sensor", DAY)], timeout=400)
    runs.pause(stack, ["04_sensor"])
    assert len(runs.expected_ranking(dataset, DAY)) > 0
    runs.assert_exact(stack, dataset, [DAY])


def test_e_fetch_through_a_killed_and_restarted_api_ends_exact(stack: Stack, dataset: Path) -> None:
    """The API container is killed (SIGKILL) as 03_operator's runs start, so their fetch meets the outage
    whatever the machine's speed (a lab day is fetched in well under a second: a kill aimed at a running
    fetch can land after it), and started again 5 s after the fetch began: the fetch retries (its requests,
    or the task), both runs succeed, and every rating of both days is in the ratings table exactly once and
    counted exactly once in the rankings."""
    days = ["2019-01-01", "2019-01-02"]
    stack.sql("DELETE FROM movie_rankings", database=runs.RESULTS_DB)  # what 04_sensor wrote in test a
    stack.compose("kill", "movielens-api")
    assert stack.state("movielens-api")["Status"] == "exited"
    runs.airflow_cli(stack, "scheduler", "dags unpause 03_operator")
    deadline = time.monotonic() + 300
    while not stack.sql(
        f"SELECT 1 FROM task_instance WHERE dag_id = '03_operator' AND task_id = '{FETCH_TASK}' "
        "AND state = 'running'"
    ):
        assert time.monotonic() < deadline, "03_operator's fetch never started"
        time.sleep(0.3)
    time.sleep(5)
    stack.compose("start", "movielens-api")
    runs.wait_success(stack, [("03_operator", d) for d in days], timeout=420)
    runs.pause(stack, ["03_operator"])
    retried = stack.sql(
        f"SELECT count(*) FROM task_instance WHERE dag_id = '03_operator' AND task_id = '{FETCH_TASK}' "
        "AND try_number > 1"
    )[0][0]
    hook_retries = stack.exec(
        "scheduler",
        "bash",
        "-c",
        f"grep -h 'retry' /usr/local/airflow/logs/dag_id=03_operator/*/task_id={FETCH_TASK}/*.log || true",
    )
    assert int(retried) > 0 or "retry" in hook_retries, "the fetch neither retried its requests nor its task"
    runs.assert_exact(stack, dataset, days)


def test_g_postgres_restarted_while_a_history_load_streams(stack: Stack, dataset: Path) -> None:
    """Drill: the stack's PostgreSQL (metadata and results) restarted while 05_history streams the whole lab
    dataset into ``ratings``. The run ends in success through Airflow's recovery (the task retried, or the
    scheduler and its containers restarted by their restart policy), every day's ratings exactly once."""
    days = _days(dataset)
    stack.sql("DELETE FROM loaded_days", database=runs.RESULTS_DB)
    runs.airflow_cli(stack, "scheduler", "dags unpause 05_history")
    conf = '{"history_start": "2019-01-01", "history_end": "2019-01-15"}'
    runs.airflow_cli(stack, "scheduler", f"dags trigger 05_history --run-id drill-pg -c '{conf}'")
    began = time.monotonic()
    deadline = began + 300
    while not stack.sql(
        "SELECT 1 FROM task_instance WHERE dag_id = '05_history' AND task_id = 'load_history' "
        "AND run_id = 'drill-pg' AND state = 'running'"
    ):
        assert time.monotonic() < deadline, "05_history's load never started"
        time.sleep(0.2)
    restarted_at = time.monotonic() - began
    stack.compose("restart", "postgres")
    stack.wait(["postgres"], timeout=120)
    deadline = time.monotonic() + 900
    while True:
        try:
            state = stack.sql("SELECT state FROM dag_run WHERE dag_id = '05_history' AND run_id = 'drill-pg'")
        except RuntimeError:  # the database is still coming back
            state = []
        if state and state[0][0] in ("success", "failed"):
            break
        assert time.monotonic() < deadline, runs.task_report(stack, "05_history", "2019-01-15")
        time.sleep(3)
    tries = stack.sql(
        "SELECT task_id, state, try_number FROM task_instance "
        "WHERE dag_id = '05_history' AND run_id = 'drill-pg'"
    )
    REPORT.append(
        f"drill postgres restart during 05_history: restarted {restarted_at:.1f} s after the trigger, run "
        f"{state[0][0]} after {time.monotonic() - began:.0f} s; tasks {[' '.join(t) for t in tries]}"
    )
    assert state[0][0] == "success", tries
    for day in days:
        n = runs.ratings_in_window(dataset, day)
        assert runs.ratings_loaded(stack, day) == (n, n), f"{day}: ratings table vs {n} in the dataset"


def _days(dataset: Path) -> list[str]:
    ratings = pd.read_csv(dataset / "ratings.csv", usecols=["timestamp"])
    return sorted(pd.to_datetime(ratings["timestamp"], unit="s").dt.strftime("%Y-%m-%d").unique())


def test_a_down_removes_every_container_network_and_volume(stack: Stack) -> None:
    assert_down_leaves_nothing(stack)
