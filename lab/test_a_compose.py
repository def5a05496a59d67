"""a. docs/operations.md "Plain Docker Compose" in real containers as written, and on that stack e. the API
killed during a fetch and g. the stack's PostgreSQL restarted while a history load streams.

The guide's commands run as written: `docker compose up --build -d` in the project folder with nothing in the
shell's environment and no .env, so the API installs its venv and generates its default dataset (the 25M twin)
on this first start; `docker compose ps` until healthy; `down -v` ends it, leaving nothing. Every outcome is
checked against the twin generated on the host.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from lab import airflow_runs as runs
from lab.conftest import (
    COMPOSE_IMAGE,
    PLAIN_FILES,
    REPORT,
    ApiVolume,
    api_matches,
    exclusive,
    require_free_ports,
)
from lab.first_start import API, FirstStart
from lab.stack import Stack, assert_down_leaves_nothing, owned

ROOT = Path(__file__).resolve().parents[1]
DAY = "2019-01-01"
#: The interval of the history drill (inclusive): half a year of the twin, about 840,000 ratings.
HISTORY = ("2018-07-01", "2019-01-14")
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
def stack(shell_env: dict[str, str]) -> Iterator[Stack]:
    require_free_ports(8080, 5000)
    s = Stack(name=default_project_name(), cwd=ROOT, project_dir=ROOT, files=PLAIN_FILES, env=shell_env)
    with owned(s):
        yield s


def test_a_services_become_healthy(stack: Stack, api_volume: ApiVolume, twin: Path) -> None:
    with exclusive(COMPOSE_IMAGE, "a"):  # test d's `up --build` builds the same image
        stack.compose("up", "--build", "-d", timeout=1800)
    start = FirstStart()
    stack.wait(["airflow-init"], timeout=300, condition="exited")
    stack.wait(["postgres", "webserver"], timeout=420)
    start.mark("webserver healthy")
    stack.wait(["scheduler", "triggerer"], timeout=60, condition="running")
    health = start.wait_api(stack, within=1500)
    stack.wait(["movielens-api"], timeout=120)  # Compose's own health check agrees
    start.mark("movielens-api healthy (compose)")
    REPORT.append(f"docker compose up, first start on defaults: {start.summary()}")
    api_matches(twin, health)
    api_volume.keep_venvs(stack)
    assert requests.get(f"{API}/", timeout=10).ok
    assert requests.get("http://127.0.0.1:8080/health", timeout=10).json()["scheduler"]["status"] == "healthy"


def test_a_04_sensor_runs_one_day_through_the_scheduler(stack: Stack, twin: Path) -> None:
    runs.wait_parsed(stack, ["04_sensor", "03_operator"])
    runs.airflow_cli(stack, "scheduler", "dags unpause 04_sensor")
    began = time.monotonic()
    runs.wait_success(stack, [("04_sensor", DAY)], timeout=1200)
    runs.pause(stack, ["04_sensor"])
    took = time.monotonic() - began
    REPORT.append(f"docker compose: 04_sensor {DAY} (its 365-day window loaded first) in {took:.0f} s")
    assert len(runs.expected_ranking(twin, DAY)) > 0
    runs.assert_exact(stack, twin, [DAY])
    runs.assert_api_pool(stack, ["04_sensor"])  # airflow-init created the pool
    # A fresh stack ranks every window from its first run: the 7-, 30- and 365-day windows too, over exactly
    # the ratings of their days (the run loaded what its widest window lacked).
    end = dt.date.fromisoformat(DAY) + dt.timedelta(days=1)
    ranked = stack.sql(
        f"SELECT window_days, n_ratings FROM ranking_windows WHERE window_end = '{end}' AND method = 'count'",
        database=runs.RESULTS_DB,
    )
    expected = {}
    for days in (1, 7, 30, 365):
        first = (end - dt.timedelta(days=days)).isoformat()
        expected[days] = sum(runs.ratings_per_day(twin, first, DAY).values())
    assert {int(days): int(n) for days, n in ranked} == expected


def test_e_fetch_through_a_killed_and_restarted_api_ends_exact(stack: Stack, twin: Path) -> None:
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
    runs.assert_exact(stack, twin, days)


def test_g_postgres_restarted_while_a_history_load_streams(stack: Stack, twin: Path) -> None:
    """Drill: the stack's PostgreSQL (metadata and results) restarted while 05_history streams half a year of
    the twin into ``ratings``. The run ends in success through Airflow's recovery (the task retried, or the
    scheduler and its containers restarted by their restart policy), every day's ratings exactly once."""
    first, last = HISTORY
    stack.sql("DELETE FROM loaded_days", database=runs.RESULTS_DB)
    runs.airflow_cli(stack, "scheduler", "dags unpause 05_history")
    end = (dt.date.fromisoformat(last) + dt.timedelta(days=1)).isoformat()
    conf = f'{{"history_start": "{first}", "history_end": "{end}"}}'
    runs.airflow_cli(stack, "scheduler", f"dags trigger 05_history --run-id drill-pg -c '{conf}'")
    began = time.monotonic()
    runs.wait_task_state(stack, "05_history", "load_history", "run_id = 'drill-pg'", "running", 300)
    time.sleep(3)  # well inside the load: half a year of the twin streams for longer than that
    restarted_at = time.monotonic() - began
    stack.compose("restart", "postgres")
    stack.wait(["postgres"], timeout=120)
    state = runs.wait_run_done(stack, "05_history", "drill-pg", timeout=900)
    tries = runs.tries(stack, "05_history", "drill-pg")
    REPORT.append(
        f"drill postgres restart during 05_history ({first}..{last}): restarted {restarted_at:.1f} s after "
        f"the trigger, run {state} after {time.monotonic() - began:.0f} s; tasks {tries}"
    )
    assert state == "success", tries
    expected = runs.ratings_per_day(twin, first, last)
    loaded = runs.loaded_per_day(stack, first, last)
    assert loaded == {day: (n, n) for day, n in expected.items()}


def test_i_postgres_restarted_while_a_run_publishes(stack: Stack, twin: Path) -> None:
    """Drill: 04_sensor's run of DAY cleared and run again; the stack's PostgreSQL restarted as soon as its
    ``publish_ranking`` task starts. The run ends in success through the task's retry, the day's ratings and
    rankings exact (the publish replaces a day's rows in one transaction, so a reader sees the old rows or the
    new ones, never a mix)."""
    run_id = runs.run_id_of(stack, "04_sensor", DAY)
    runs.airflow_cli(stack, "scheduler", f"tasks clear 04_sensor -s {DAY} -e {DAY} -y")
    runs.airflow_cli(stack, "scheduler", "dags unpause 04_sensor")
    began = time.monotonic()
    runs.wait_task_state(stack, "04_sensor", "publish_ranking", f"run_id = '{run_id}'", "running", 900)
    restarted_at = time.monotonic() - began
    stack.compose("restart", "postgres")
    stack.wait(["postgres"], timeout=120)
    state = runs.wait_run_done(stack, "04_sensor", run_id, timeout=900)
    runs.pause(stack, ["04_sensor"])
    tries = runs.tries(stack, "04_sensor", run_id)
    REPORT.append(
        f"drill postgres restart during publish_ranking: restarted {restarted_at:.1f} s after the clear, run "
        f"{state} after {time.monotonic() - began:.0f} s; tasks {tries}"
    )
    assert state == "success", tries
    runs.assert_exact(stack, twin, [DAY])


def test_j_scheduler_killed_mid_run_and_started_again(stack: Stack, twin: Path) -> None:
    """Drill: the scheduler container (LocalExecutor: the running tasks are its children) killed with SIGKILL
    while 01_python's catch-up runs a task, then started again. Every run of the window completes and each
    day is published once, exactly."""
    days = ["2019-01-01", "2019-01-02", "2019-01-03"]
    runs.airflow_cli(stack, "scheduler", "dags unpause 01_python")
    began = time.monotonic()
    runs.wait_task_state(stack, "01_python", "aggregate_windows", "true", "running", 900)
    killed_at = time.monotonic() - began
    stack.compose("kill", "-s", "SIGKILL", "scheduler")
    assert stack.state("scheduler")["Status"] == "exited"
    time.sleep(5)
    stack.compose("start", "scheduler")
    runs.wait_success(stack, [("01_python", d) for d in days], timeout=1500)
    runs.pause(stack, ["01_python"])
    tries = {d: runs.tries(stack, "01_python", runs.run_id_of(stack, "01_python", d)) for d in days}
    retried = sorted({t.split()[0] for day in tries.values() for t in day if int(t.split()[2]) > 1})
    REPORT.append(
        f"drill scheduler SIGKILL: killed {killed_at:.1f} s after unpausing 01_python, started 5 s later; "
        f"{', '.join(days)} succeeded {time.monotonic() - began:.0f} s after the unpause; tasks run again: "
        f"{retried or 'none'}"
    )
    for day in days:
        published = stack.sql(
            "SELECT count(*) FROM ranking_windows WHERE window_end = "
            f"'{(dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat()}' AND window_days = 1 "
            "AND method = 'bayes'",
            database=runs.RESULTS_DB,
        )
        assert int(published[0][0]) == 1, (day, published)
    runs.assert_exact(stack, twin, days)


def test_a_down_removes_every_container_network_and_volume(stack: Stack) -> None:
    assert_down_leaves_nothing(stack)
