"""Configuration shared by the six DAGs and their tasks (no Airflow import).

Every setting is read from the environment *when called*, so workers and tests see the current value, not
the one from import time. The environment variables:

``MOVIELENS_DATA_DIR``
    Where the ranking CSVs (end-of-run artifacts; nothing passes between tasks through it) go: a local path
    (default ``include/data``, ignored by git) or an object-storage URL (``s3://bucket/movielens``,
    ``file:///data``) opened through Airflow's ``ObjectStoragePath``.
``MOVIELENS_DATA_CONN_ID``
    Airflow connection of that object storage (e.g. an ``aws`` one for ``s3://``); optional.
``MOVIELENS_START_DATE`` / ``MOVIELENS_END_DATE``
    The daily DAGs' catch-up window, inclusive logical dates (default 2019-01-01 .. 2019-01-10).
``MOVIELENS_MAX_ACTIVE_RUNS``
    Concurrent runs of each daily DAG (default 2).
``MOVIELENS_SENSOR_POKE_INTERVAL`` / ``MOVIELENS_SENSOR_TIMEOUT``
    04_sensor's poke interval and timeout in seconds (default 300 / 3600).
``MOVIELENS_SENSOR_DEFERRABLE``
    Whether 04_sensor waits in the triggerer instead of rescheduling (default false).
``MOVIELENS_TASK_RETRIES`` / ``MOVIELENS_TASK_RETRY_DELAY``
    Retries of every task and the first retry's delay in seconds, doubling up to 10x (default 2 / 60; the
    test suite sets 0, so that a failing task fails its run at once).
``MOVIELENS_RESULTS_SCHEMA``
    Schema of the result tables and ``ratings`` (default ``public``; SQLite has none).
``MOVIELENS_TASK_TIMEOUT``
    ``execution_timeout`` in seconds of every task whose work does not grow with its interval (default 1800;
    the widest window is always 365 days), and of one poke of the sensor in reschedule mode. Measured on the
    full 25M twin: a daily run's ranking half 16 s, one backtest cutoff 22 s (docs/benchmarks.md).
``MOVIELENS_LOAD_TIMEOUT_PER_DAY``
    Seconds a task that pages the API's ratings may add per day it pages (default 1, 30 times the slowest
    measured rate), on top of ``MOVIELENS_TASK_TIMEOUT``.
``MOVIELENS_API_POOL`` / ``MOVIELENS_API_POOL_SLOTS``
    The Airflow pool of every task that pages the API (default ``movielens_api``) and its size (default 4),
    which airflow_settings.yaml, docker-compose.yml's ``airflow-init`` and ``make up`` create.
``MOVIELENS_ALERT_CONN_ID``
    HTTP connection that a failed task's JSON record is POSTed to (unset: only the log line;
    :mod:`include.movielens.alerts`).
``MOVIELENS_TOP_N``
    How many movies each ranking stores, the daily DAGs' ``top_n`` default (default 300: deep enough that
    at least 99 % of users keep 10 movies they have not rated, docs/benchmarks.md).
``MOVIELENS_HISTORY_START``
    First day of the users' history (default 1995-01-09, MovieLens's first rating). The per-user read path
    (:mod:`include.movielens.reader`) answers only when ``ratings`` holds every day from it to the day
    before the list, so that "rated before" means every rating, as in the backtest.
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
