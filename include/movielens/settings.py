"""Configuration shared by the six DAGs and their tasks (no Airflow import).

Every setting is read from the environment *when called*, so workers and tests see the current value, not the
one from import time. The variables and their defaults (more: docs/pipeline.md, "Settings (environment)"):

- ``MOVIELENS_DATA_DIR``: ``include/data``, or an object-storage URL (``s3://...``) reached through the
  connection ``MOVIELENS_DATA_CONN_ID`` (none): where the ranking CSVs go;
- ``MOVIELENS_START_DATE`` / ``MOVIELENS_END_DATE``: 2019-01-01 / 2019-01-10, the daily DAGs' catch-up window;
- ``MOVIELENS_MAX_ACTIVE_RUNS``: 2 runs of each daily DAG at once;
- ``MOVIELENS_SENSOR_POKE_INTERVAL`` / ``MOVIELENS_SENSOR_TIMEOUT``: 300 / 3600 s;
- ``MOVIELENS_SENSOR_DEFERRABLE``: false (true: 04_sensor waits in the triggerer);
- ``MOVIELENS_TASK_RETRIES`` / ``MOVIELENS_TASK_RETRY_DELAY``: 2 / 60 s, doubling up to 10x (the tests: 0);
- ``MOVIELENS_RESULTS_SCHEMA``: ``public`` (SQLite has none);
- ``MOVIELENS_TASK_TIMEOUT``: 1800 s, for every task whose work does not grow with its interval and for one
  poke of the sensor in reschedule mode; ``MOVIELENS_LOAD_TIMEOUT_PER_DAY``: 1 s more per day paged;
- ``MOVIELENS_API_POOL`` / ``MOVIELENS_API_POOL_SLOTS``: ``movielens_api`` / 4, the pool of those tasks;
- ``MOVIELENS_ALERT_CONN_ID``: none; an HTTP connection that failed tasks are POSTed to;
- ``MOVIELENS_TOP_N``: 300 movies per ranking (the ``top_n`` param's default);
- ``MOVIELENS_HISTORY_START``: 1995-01-09, the first day of the users' history the per-user lists need.
"""

from __future__ import annotations

import datetime as dt
import os
from functools import partial
from pathlib import Path

from airflow_movielens.dates import DEFAULT_END_TEMPLATE, DEFAULT_START_TEMPLATE

MOVIELENS_CONN_ID = "movielens"
RESULTS_CONN_ID = "movielens_results"
RESULTS_TABLE = "movie_rankings"
RATINGS_TABLE = "ratings"

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = PROJECT_ROOT / "include" / "data"
DEFAULT_START_DATE = dt.date(2019, 1, 1)
DEFAULT_BATCH_SIZE = 5_000

OWNER = "movielens"
TAGS = ["movielens", "astro-sdk", "ranking"]
API_POOL = "movielens_api"
API_POOL_SLOTS = 4
#: The longest range of ratings any MovieLens release spans (1995-01-09 .. 2023-10-12, ml-32m), rounded up:
#: what a history load pages at most (05_history refuses a range past the API's newest rating).
MOVIELENS_SPAN_DAYS = 29 * 365
TOP_N = 300

# The run's interval [data_interval_start, data_interval_end) as handed to the API (YYYY-MM-DD), and its end
# in epoch seconds (the ``timestamp`` unit of ``ratings``).
WINDOW_START_TEMPLATE = DEFAULT_START_TEMPLATE
WINDOW_END_TEMPLATE = DEFAULT_END_TEMPLATE
WINDOW_END_TS_TEMPLATE = "{{ data_interval_end.int_timestamp }}"
# Artifacts are named by the window's first day: the ``ds`` of a scheduled run (whose logical date is the
# interval start), and still the right day for a manual run, whose logical date is the interval *end*.
DAG_ID_TEMPLATE = "{{ dag.dag_id }}"
RANKING_DAY_TEMPLATE = "{{ data_interval_start | ds }}"


def _env_str(name: str, default: str | None) -> str | None:
    return (os.environ.get(name) or "").strip() or default


def _env_date(name: str, default: dt.date) -> dt.date:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return dt.date.fromisoformat(raw.strip())
    except ValueError as err:
        raise ValueError(f"{name} must be a YYYY-MM-DD date, got {raw!r}") from err


def _env_int(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    value = int(raw)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def data_location() -> str:
    """``MOVIELENS_DATA_DIR`` as a URL without trailing slash: ``file:///abs/path`` for a local path."""
    raw = _env_str("MOVIELENS_DATA_DIR", str(DEFAULT_DATA_DIR))
    if "://" in raw:
        return raw.rstrip("/")
    return Path(raw).expanduser().resolve().as_uri()


def ranking_csv_key(dag_id: str, ds: str) -> str:
    """Where, under :func:`data_location`, a DAG keeps one window's ranking CSV."""
    return f"rankings/{dag_id}/{ds}.csv"


def schedule_window() -> tuple[dt.date, dt.date]:
    """First and last logical date of the catch-up window (both inclusive)."""
    start = _env_date("MOVIELENS_START_DATE", DEFAULT_START_DATE)
    end = _env_date("MOVIELENS_END_DATE", dt.date(2019, 1, 10))
    if end < start:
        raise ValueError(f"MOVIELENS_END_DATE {end} is before MOVIELENS_START_DATE {start}")
    return start, end


# The settings that are one variable each, read at every call: (variable, default[, minimum]).
data_conn_id = partial(_env_str, "MOVIELENS_DATA_CONN_ID", None)
results_schema = partial(_env_str, "MOVIELENS_RESULTS_SCHEMA", "public")
api_pool = partial(_env_str, "MOVIELENS_API_POOL", API_POOL)
api_pool_slots = partial(_env_int, "MOVIELENS_API_POOL_SLOTS", API_POOL_SLOTS)
alert_conn_id = partial(_env_str, "MOVIELENS_ALERT_CONN_ID", None)
max_active_runs = partial(_env_int, "MOVIELENS_MAX_ACTIVE_RUNS", 2)
task_retries = partial(_env_int, "MOVIELENS_TASK_RETRIES", 2, minimum=0)
sensor_poke_interval = partial(_env_int, "MOVIELENS_SENSOR_POKE_INTERVAL", 300)
sensor_timeout = partial(_env_int, "MOVIELENS_SENSOR_TIMEOUT", 3600)
top_n = partial(_env_int, "MOVIELENS_TOP_N", TOP_N)
history_start = partial(_env_date, "MOVIELENS_HISTORY_START", dt.date(1995, 1, 9))


def task_retry_delay() -> dt.timedelta:
    return dt.timedelta(seconds=_env_int("MOVIELENS_TASK_RETRY_DELAY", 60, minimum=0))


def sensor_deferrable() -> bool:
    raw = (os.environ.get("MOVIELENS_SENSOR_DEFERRABLE") or "false").strip().lower()
    if raw not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(f"MOVIELENS_SENSOR_DEFERRABLE must be true or false, got {raw!r}")
    return raw in ("true", "1", "yes")


def task_timeout() -> dt.timedelta:
    """The ``execution_timeout`` of a task whose work does not grow with its interval."""
    return dt.timedelta(seconds=_env_int("MOVIELENS_TASK_TIMEOUT", 1800))


def load_timeout(days: int) -> dt.timedelta:
    """The ``execution_timeout`` of a task that pages ``days`` days of ratings (paging scales with them)."""
    per_day = _env_int("MOVIELENS_LOAD_TIMEOUT_PER_DAY", 1, minimum=0)
    return task_timeout() + dt.timedelta(seconds=per_day * days)


def sensor_execution_timeout(deferrable: bool) -> dt.timedelta:
    """The sensor's ``execution_timeout``, which must never cut its own ``timeout`` short.

    In reschedule mode each poke is a try of its own, bounded like any fixed task. A deferred sensor's try
    spans the whole wait, and Airflow 2 ends the deferral at ``start + execution_timeout``: the bound then
    covers the sensor's timeout, its trigger's last poll and the fixed bound, so that the sensor's own
    timeout (``AirflowSensorTimeout``, no retries) is what fires.
    """
    if not deferrable:
        return task_timeout()
    return task_timeout() + dt.timedelta(seconds=sensor_timeout() + 2 * sensor_poke_interval())
