"""The deferrable sensor under a real ``airflow triggerer`` and a real scheduler (not ``dag.test()``).

One DAG run, three deferrable sensors, each deferring after its first synchronous check:

- ``appears``: the data is hidden by a fault proxy, then an outage (503s), then the data appears: the trigger
  fires and the scheduler resumes the task to success. Deferral-to-completion is measured and printed.
- ``times_out``: an open window (after the data) never fills: the trigger times out at the sensor's
  ``timeout`` and the task fails without retries.
- ``rejected``: the credentials are refused while deferred: the trigger fails at once, and the task fails
  without using its retries.
"""

from __future__ import annotations

import datetime as dt
import json
import textwrap
import time

import pytest

from tests.support.airflow_stack import airflow_major, airflow_stack
from tests.support.fault_proxy import FaultProxy

pytestmark = pytest.mark.slow

DAG_ID = "movielens_deferrable"
STACK = f"Airflow {airflow_major()}"
POKE_INTERVAL = 1
TIMEOUT = 20
HOLD_POLLS = 4  # trigger polls that find nothing before the data appears
#: Arrival stamps of two polls are taken by the proxy, after the trigger's sleep of poke_interval began:
#: only the clock's resolution can make a gap look shorter.
CLOCK_SLACK = 0.05

DAG_FILE = textwrap.dedent(
    f"""
    import pendulum
    from airflow import DAG
    from airflow_movielens.sensors import MovielensRatingsSensor

    with DAG("{DAG_ID}", schedule=None, start_date=pendulum.datetime(2019, 1, 1, tz="UTC"), catchup=False):
        for task_id, conn_id, start, end, timeout, retries in [
            ("appears", "ml_appears", "2019-01-03", "2019-01-04", 300, 0),
            ("times_out", "movielens", "2019-02-01", "2019-02-02", {TIMEOUT}, 2),
            ("rejected", "ml_rejected", "2019-01-03", "2019-01-04", 300, 2),
        ]:
            MovielensRatingsSensor(
                task_id=task_id,
                conn_id=conn_id,
                interval_start=start,
                interval_end=end,
                deferrable=True,
                poke_interval={POKE_INTERVAL},
                timeout=timeout,
                retries=retries,
            )
    """
)


def gaps(polls: list) -> list[float]:
    """Seconds between consecutive polls (at least one gap: two polls)."""
    assert len(polls) >= 2, f"{len(polls)} polls: too few to see the interval"
    return [later.at - earlier.at for earlier, later in zip(polls, polls[1:], strict=False)]


def task_states(stack, run_id: str) -> dict[str, tuple]:
    rows = stack.query(
        "SELECT task_id, state, try_number, start_date, end_date FROM task_instance WHERE run_id = ?", run_id
    )
    return {task_id: (state, tries, start, end) for task_id, state, tries, start, end in rows}


def test_deferrable_sensor_under_a_real_triggerer(movielens_api, tmp_path):
    with (
        FaultProxy(movielens_api.base_url) as appears,
        FaultProxy(movielens_api.base_url) as rejected,
    ):
        for proxy in (appears, rejected):  # no data yet, and every window looks open
            proxy.always("/ratings", "empty")
            proxy.always("/health", "no_newest")
        conns = {
            "AIRFLOW_CONN_MOVIELENS": movielens_api.connection_json(max_retries=0),
            "AIRFLOW_CONN_ML_APPEARS": json.dumps(
                {**movielens_api.connection(max_retries=0), "port": appears.port}
            ),
            "AIRFLOW_CONN_ML_REJECTED": json.dumps(
                {**movielens_api.connection(max_retries=0), "port": rejected.port}
            ),
        }
        dags = tmp_path / "dags"
        dags.mkdir()
        (dags / "movielens_deferrable.py").write_text(DAG_FILE)
        with airflow_stack(tmp_path / "home", dags, conns) as stack:
            stack.wait_for(
                "the DAG parsed",
                lambda: stack.query("SELECT 1 FROM serialized_dag WHERE dag_id = ?", DAG_ID),
                180,
            )
            stack.cli("dags", "trigger", DAG_ID, "--run-id", "deferral")

            def deferred() -> dict[str, float]:
                states = task_states(stack, "deferral")
                return {task: time.time() for task, row in states.items() if row[0] == "deferred"}

            seen_deferred: dict[str, float] = {}

            def all_deferred() -> bool:
                for task, at in deferred().items():
                    seen_deferred.setdefault(task, at)
                return {"appears", "rejected"} <= set(seen_deferred)

            stack.wait_for("appears and rejected deferred", all_deferred, 240)
            triggers = stack.query("SELECT classpath FROM trigger")
            assert ("airflow_movielens.triggers.MovielensRatingsTrigger",) in triggers

            # The triggerer picks the trigger up (its first poll), then, with nothing there yet, keeps
            # polling: wait for HOLD_POLLS more polls (however long a loaded machine takes), then check that
            # no two came closer than poke_interval. Only the gaps are asserted: load can stretch a gap,
            # never shorten it, so the bound holds however busy the machine is.
            def polls() -> int:
                return len(appears.requests_to("/ratings"))

            at_deferral = polls()
            stack.wait_for(
                f"{HOLD_POLLS} trigger polls",
                lambda: polls() >= at_deferral + HOLD_POLLS,
                60 + 30 * HOLD_POLLS,
            )
            held_gaps = gaps(appears.requests_to("/ratings")[at_deferral:])
            assert min(held_gaps) >= POKE_INTERVAL - CLOCK_SLACK, f"poke_interval honoured: {held_gaps}"
            assert task_states(stack, "deferral")["appears"][0] == "deferred"
            rejected.always("/ratings", "401")
            appears.inject("/ratings", "503", "503")  # an outage while deferred...
            appears.always("/ratings", None)  # ...then the data is there
            appears.always("/health", None)
            flipped = time.time()

            done = {"success", "failed", "skipped"}

            def finished(task: str) -> bool:
                return task_states(stack, "deferral").get(task, ("",))[0] in done

            stack.wait_for("'appears' finished", lambda: finished("appears"), 120, interval=0.1)
            appears_done = time.time()
            for task in ("rejected", "times_out"):
                stack.wait_for(f"{task!r} finished", lambda task=task: finished(task), TIMEOUT + 180)
            states = task_states(stack, "deferral")

    assert states["appears"][0] == "success", stack.logs()
    assert states["times_out"][0] == "failed"
    assert states["rejected"][0] == "failed"
    # fail-fast errors and the sensor's timeout never use the task's retries
    assert states["rejected"][1] == states["times_out"][1] == 1
    started, ended = (dt.datetime.fromisoformat(value) for value in states["times_out"][2:])
    # at the sensor's timeout, not before; how much later depends on the machine's load (bounded by the wait)
    assert (ended - started).total_seconds() >= TIMEOUT
    assert len(appears.requests_to("/ratings")) >= 4  # the synchronous check, two 503s, the poll with data
    # Until the credentials are refused: the sensor's synchronous check, then the trigger's polls, never
    # closer than poke_interval. After: the one poll that meets the 401 (two if a poll was in flight at the
    # switch), and the trigger fails.
    rejected_polls = rejected.requests_to("/ratings")
    held = [seen for seen in rejected_polls if seen.at <= flipped]
    rejected_gaps = gaps(rejected_polls[1:])
    assert min(rejected_gaps) >= POKE_INTERVAL - CLOCK_SLACK, f"poke_interval honoured: {rejected_gaps}"
    assert len(rejected_polls) - len(held) <= 2, "the trigger failed at the first 401"
    print(
        f"\nreal triggerer ({STACK}): 'appears' deferred for {flipped - seen_deferred['appears']:.1f} s "
        f"(its polls {min(held_gaps):.2f}-{max(held_gaps):.2f} s apart); "
        f"data appeared -> task success in {appears_done - flipped:.1f} s "
        f"(deferral to completion {appears_done - seen_deferred['appears']:.1f} s, "
        f"poke_interval {POKE_INTERVAL} s)"
    )
