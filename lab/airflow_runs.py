"""Driving DAG runs in a running stack through its scheduler (Airflow CLI in a container) and reading the
outcome from the metadata and results databases; the expected rankings come from the dataset file itself."""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from include.movielens import settings
from include.movielens.popularity import score_movies
from lab.stack import Stack

RESULTS_DB = "movielens"
#: The ``dag_run`` column of a run's logical date, by the stack's Airflow major: Airflow 3 renamed
#: ``execution_date`` to ``logical_date`` (the other tables and columns read here are unchanged).
LOGICAL_DATE = {"2": "execution_date", "3": "logical_date"}


def _run_day(stack: Stack, table: str = "") -> str:
    """SQL for the UTC day (YYYY-MM-DD) of a ``dag_run`` row's logical date."""
    column = f"{table}{LOGICAL_DATE[stack.airflow_major]}"
    return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


def wait_parsed(stack: Stack, dag_ids: Sequence[str], timeout: float = 240) -> None:
    """Wait until the scheduler has serialized every DAG (rows in ``dag`` and ``serialized_dag``)."""
    wanted = set(dag_ids)
    quoted = ",".join(f"'{d}'" for d in wanted)
    deadline = time.monotonic() + timeout
    while True:
        try:
            rows = stack.sql(f"SELECT dag_id FROM serialized_dag WHERE dag_id IN ({quoted})")
        except RuntimeError:  # tables not migrated yet
            rows = []
        if {r[0] for r in rows} >= wanted:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"DAGs not parsed after {timeout:.0f}s: {wanted - {r[0] for r in rows}}")
        time.sleep(3)


def airflow_cli(stack: Stack, service: str, *commands: str) -> str:
    """Run Airflow CLI commands (``"dags unpause 04_sensor"``, ...) in one shell in ``service``."""
    script = " && ".join(f"airflow {c}" for c in commands)
    return stack.exec(service, "bash", "-c", script)


def pause(stack: Stack, dag_ids: Iterable[str]) -> None:
    """Stop a DAG's catch-up once the test has what it needs: the flag the UI toggle and `airflow dags pause`
    set, written directly (an Airflow CLI start costs 10-30 s of CPU on the lab's 2 cores)."""
    quoted = ",".join(f"'{d}'" for d in dag_ids)
    stack.sql(f"UPDATE dag SET is_paused = true WHERE dag_id IN ({quoted})")


def run_states(stack: Stack, dag_ids: Iterable[str]) -> dict[tuple[str, str], str]:
    quoted = ",".join(f"'{d}'" for d in dag_ids)
    rows = stack.sql(f"SELECT dag_id, {_run_day(stack)}, state FROM dag_run WHERE dag_id IN ({quoted})")
    return {(dag, day): state for dag, day, state in rows}


def task_report(stack: Stack, dag_id: str, day: str) -> str:
    rows = stack.sql(
        "SELECT task_id, state, try_number, hostname FROM task_instance ti JOIN dag_run dr "
        "ON ti.dag_id = dr.dag_id AND ti.run_id = dr.run_id "
        f"WHERE dr.dag_id = '{dag_id}' AND {_run_day(stack, 'dr.')} = '{day}' "
        "ORDER BY ti.start_date"
    )
    return "\n".join(" ".join(r) for r in rows)


#: The Airflow pool of the tasks that page the Movie Rating API (include/movielens/settings.py) and the tasks
#: of a daily DAG that do: what the stack's own set-up must have created, and what must have run in it.
API_POOL = "movielens_api"
API_PAGING_TASKS = ("load_ratings", "fill_history")


def assert_api_pool(stack: Stack, dag_ids: Iterable[str]) -> None:
    """The stack created the API's pool, and every try of the DAGs' API-paging tasks ran in it."""
    assert stack.sql(f"SELECT slots FROM slot_pool WHERE pool = '{API_POOL}'"), f"no pool {API_POOL}"
    quoted = ",".join(f"'{d}'" for d in dag_ids)
    tasks = ",".join(f"'{t}'" for t in API_PAGING_TASKS)
    rows = stack.sql(
        f"SELECT dag_id, task_id, pool FROM task_instance WHERE dag_id IN ({quoted}) AND task_id IN ({tasks})"
    )
    assert rows, f"no API-paging task of {quoted} ran"
    outside = [row for row in rows if row[2] != API_POOL]
    assert not outside, f"API-paging tasks outside {API_POOL}: {outside}"


def wait_success(
    stack: Stack,
    runs: Sequence[tuple[str, str]],
    timeout: float,
    log_services: Sequence[str] = ("scheduler",),
) -> None:
    """Wait until every (dag_id, YYYY-MM-DD) run succeeded; fail at once, with task states and logs, on a
    failed run."""
    deadline = time.monotonic() + timeout
    dag_ids = {dag for dag, _ in runs}
    while True:
        states = run_states(stack, dag_ids)
        failed = [run for run in runs if states.get(run) == "failed"]
        pending = [run for run in runs if states.get(run) != "success"]
        if failed or (pending and time.monotonic() > deadline):
            bad = failed or pending
            report = "\n".join(
                f"{dag} {day}: {states.get((dag, day))}\n{task_report(stack, dag, day)}" for dag, day in bad
            )
            logs = "\n".join(stack.logs(s, tail=30) for s in log_services)
            task_logs = "\n".join(_task_logs(stack, log_services, dag, day) for dag, day in bad[:2])
            raise AssertionError(
                f"runs {'failed' if failed else f'not done after {timeout:.0f}s'}:\n"
                f"{report}\n{task_logs}\n{logs}"
            )
        if not pending:
            return
        time.sleep(3)


def _task_logs(stack: Stack, services: Sequence[str], dag_id: str, day: str) -> str:
    out = []
    for service in services:
        try:
            out.append(
                stack.exec(
                    service,
                    "bash",
                    "-c",
                    f"tail -n 25 /usr/local/airflow/logs/dag_id={dag_id}/run_id=*{day}*"
                    "/task_id=*/attempt=*.log "
                    "2>/dev/null || true",
                )
            )
        except RuntimeError as exc:
            out.append(str(exc))
    return "\n".join(out)


def rankings(stack: Stack, day: str) -> pd.DataFrame:
    """The daily Bayesian list in ``movie_rankings`` for the window from ``day``: rank, movieId, n_ratings."""
    rows = stack.sql(
        f"SELECT rank, \"movieId\", n_ratings FROM movie_rankings WHERE window_start = '{day}' "
        "AND method = 'bayes' AND window_days = 1 ORDER BY rank",
        database=RESULTS_DB,
    )
    return pd.DataFrame([[int(v) for v in r] for r in rows], columns=["rank", "movieId", "n_ratings"])


def ratings_loaded(stack: Stack, day: str) -> tuple[int, int]:
    """(rows, distinct ratings) of the ``ratings`` table in the window starting ``day``."""
    start = _epoch(day)
    rows = stack.sql(
        'SELECT count(*), count(DISTINCT ("userId", "movieId", "timestamp")) FROM ratings '
        f'WHERE "timestamp" >= {start} AND "timestamp" < {start + 86_400}',
        database=RESULTS_DB,
    )
    return int(rows[0][0]), int(rows[0][1])


def _epoch(day: str) -> int:
    return int(dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC).timestamp())


@functools.cache
def ratings_frame(dataset: Path) -> pd.DataFrame:
    """The dataset's ratings.csv, read once per lab session (the 25M twin takes about 10 s and 0.8 GB)."""
    return pd.read_csv(dataset / "ratings.csv", engine="pyarrow")


def _day(dataset: Path, day: str) -> pd.DataFrame:
    ratings = ratings_frame(dataset)
    start = _epoch(day)
    return ratings[(ratings["timestamp"] >= start) & (ratings["timestamp"] < start + 86_400)]


def expected_ranking(dataset: Path, day: str) -> pd.DataFrame:
    """The ranking of one day computed from the dataset's ratings.csv with the pure ranking function, as
    deep as the stacks store it (``MOVIELENS_TOP_N``'s default: they do not set it)."""
    ranking = score_movies(_day(dataset, day), top_n=settings.TOP_N)
    return ranking[["rank", "movieId", "n_ratings"]].reset_index(drop=True)


def ratings_in_window(dataset: Path, day: str) -> int:
    return len(_day(dataset, day))


def ratings_per_day(dataset: Path, first: str, last: str) -> dict[str, int]:
    """Ratings of each day in [first, last] (inclusive) in the dataset file; days without ratings left out."""
    ratings = ratings_frame(dataset)
    start, end = _epoch(first), _epoch(last) + 86_400
    stamps = ratings["timestamp"][(ratings["timestamp"] >= start) & (ratings["timestamp"] < end)]
    days = pd.to_datetime(stamps, unit="s").dt.strftime("%Y-%m-%d")
    return days.value_counts().sort_index().to_dict()


def loaded_per_day(stack: Stack, first: str, last: str) -> dict[str, tuple[int, int]]:
    """(rows, distinct ratings) of each day in [first, last] in the ``ratings`` table, in one query."""
    start, end = _epoch(first), _epoch(last) + 86_400
    rows = stack.sql(
        "SELECT to_char(to_timestamp(\"timestamp\") AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, count(*), "
        'count(DISTINCT ("userId", "movieId", "timestamp")) FROM ratings '
        f'WHERE "timestamp" >= {start} AND "timestamp" < {end} GROUP BY day',
        database=RESULTS_DB,
    )
    return {day: (int(n), int(distinct)) for day, n, distinct in rows}


def assert_exact(stack: Stack, dataset: Path, days: Iterable[str]) -> None:
    """Every rating of each day loaded exactly once, and ``movie_rankings`` equal to the ranking computed
    from the dataset file."""
    for day in days:
        n = ratings_in_window(dataset, day)
        assert ratings_loaded(stack, day) == (n, n), f"{day}: ratings table vs {n} in the dataset"
        got = rankings(stack, day)
        assert got.to_dict("records") == expected_ranking(dataset, day).to_dict("records"), day


def wait_task_state(stack: Stack, dag_id: str, task_id: str, where: str, state: str, timeout: float) -> float:
    """Poll (every 0.2 s) until a task instance of ``dag_id`` matching the SQL condition ``where`` (on
    ``task_instance``) is in ``state``; returns the seconds waited."""
    began = time.monotonic()
    query = (
        f"SELECT 1 FROM task_instance WHERE dag_id = '{dag_id}' AND task_id = '{task_id}' "
        f"AND state = '{state}' AND {where}"
    )
    while not stack.sql(query):
        assert time.monotonic() - began < timeout, f"{dag_id}.{task_id} never {state} ({where})"
        time.sleep(0.2)
    return time.monotonic() - began


def wait_run_done(stack: Stack, dag_id: str, run_id: str, timeout: float) -> str:
    """The final state of a DAG run; tolerates the metadata database being away for a while."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            rows = stack.sql(f"SELECT state FROM dag_run WHERE dag_id = '{dag_id}' AND run_id = '{run_id}'")
        except RuntimeError:  # the database is still coming back
            rows = []
        if rows and rows[0][0] in ("success", "failed"):
            return rows[0][0]
        assert time.monotonic() < deadline, f"{dag_id} {run_id} not done after {timeout:.0f} s"
        time.sleep(3)


def run_id_of(stack: Stack, dag_id: str, day: str) -> str:
    rows = stack.sql(f"SELECT run_id FROM dag_run WHERE dag_id = '{dag_id}' AND {_run_day(stack)} = '{day}'")
    assert rows, f"no {dag_id} run for {day}"
    return rows[0][0]


def tries(stack: Stack, dag_id: str, run_id: str) -> list[str]:
    """``task state try_number [hostname]`` of every task instance of a run, in start order."""
    rows = stack.sql(
        "SELECT task_id, state, try_number, hostname FROM task_instance "
        f"WHERE dag_id = '{dag_id}' AND run_id = '{run_id}' ORDER BY start_date"
    )
    return [" ".join(r) for r in rows]
