"""One daily DAG's ``dag.test()`` of one day into a given results database, in a process of its own.

How a test compares the two paths on the same data: it runs this module with the *other* environment's
interpreter (``.venv`` for the Astro SDK on Airflow 2, ``.venv-af3`` for Airflow 3), with its own throwaway
Airflow home, the caller's ``AIRFLOW_CONN_MOVIELENS`` (the same live API) and the results connection as JSON::

    python -m tests.support.publish_day --dag 02_hook --day 2019-01-03 --results '{"conn_type": ...}' \\
        --home /tmp/x --data-dir /tmp/x/data

It prints one JSON line: the Airflow version, the path (``astro-sdk`` or ``taskflow``), the run's state, its
task states and its ``dag.test()`` seconds; exit status 0 only when the run succeeded.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path


def _text(state: object) -> str:
    """A state enum's value (``success``), whatever its ``str()`` gives on this Airflow."""
    return str(getattr(state, "value", state))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dag", required=True)
    parser.add_argument("--day", required=True, type=dt.date.fromisoformat)
    parser.add_argument("--results", required=True, help="the results connection as JSON")
    parser.add_argument("--home", required=True, type=Path, help="a fresh Airflow home")
    parser.add_argument("--data-dir", required=True, type=Path)
    args = parser.parse_args(argv)
    if "AIRFLOW_CONN_MOVIELENS" not in os.environ:
        parser.error("AIRFLOW_CONN_MOVIELENS (the Movie Rating API) is not set")

    from tests.environment import airflow_environment

    args.home.mkdir(parents=True, exist_ok=True)
    os.environ.update(airflow_environment(args.home))  # before Airflow is imported: it reads them once
    os.environ["MOVIELENS_DATA_DIR"] = str(args.data_dir)
    json.loads(args.results)  # a connection as JSON, or fail here
    os.environ["AIRFLOW_CONN_MOVIELENS_RESULTS"] = args.results

    from include.movielens.compat import ASTRO_SDK
    from tests.support.compat import AIRFLOW_VERSION, init_metadata_db
    from tests.support.dag_runs import parse_dags, run, states

    init_metadata_db()
    started = time.perf_counter()
    dag_run = run(parse_dags()[args.dag], args.day)
    seconds = time.perf_counter() - started
    outcome = {
        "airflow": AIRFLOW_VERSION,
        "path": "astro-sdk" if ASTRO_SDK else "taskflow",
        "state": _text(dag_run.state),
        "tasks": {task: _text(state) for task, state in states(dag_run).items()},
        "seconds": round(seconds, 1),
    }
    print(json.dumps(outcome))
    return 0 if outcome["state"] == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
