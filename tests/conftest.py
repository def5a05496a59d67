"""Shared fixtures for the Airflow-side suites (DAGs, provider, ranking).

Airflow reads its configuration at import time, so the environment is fixed here, before any test module
imports airflow: a throwaway AIRFLOW_HOME inside the repo (never ~/airflow), SQLite metadata, the project's
dags/ and plugins/ folders, and the Astro SDK's deserialization allow-list.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
TEST_AIRFLOW_HOME = REPO_ROOT / ".local" / "airflow-test"

shutil.rmtree(TEST_AIRFLOW_HOME, ignore_errors=True)
TEST_AIRFLOW_HOME.mkdir(parents=True)
os.environ.update(
    {
        "AIRFLOW_HOME": str(TEST_AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES": "airflow.* astro.*",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{TEST_AIRFLOW_HOME / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(TEST_AIRFLOW_HOME / "logs"),
        "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "0",
    }
)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated, empty Airflow metadata database (created once per session)."""
    from airflow.utils import db

    db.initdb(load_connections=False)
    return TEST_AIRFLOW_HOME / "airflow.db"
