"""The Astro project's own files: the DAG parse check that `astro dev parse` and `astro deploy` run must be in
git (a missing file makes the CLI skip the check and report success), and must pass on the project's DAGs and
fail on a broken one, run as the CLI runs it (`pytest .astro/test_dag_integrity_default.py`), on both image
lines: `make test-airflow3` runs this module too."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.environment import REPO_ROOT, require

PARSE_TEST = ".astro/test_dag_integrity_default.py"


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True)


def test_parse_test_is_tracked_and_not_ignored() -> None:
    has_git = shutil.which("git") is not None and _git("rev-parse", "--git-dir").returncode == 0
    require(has_git, "not a git checkout")
    assert _git("ls-files", "--error-unmatch", PARSE_TEST).returncode == 0, f"{PARSE_TEST} is not in git"
    assert _git("check-ignore", "--no-index", "-q", PARSE_TEST).returncode == 1, f"{PARSE_TEST} is ignored"


def _parse(tmp_path: Path, dags_folder: Path) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES": "airflow.* astro.*",
    }
    return subprocess.run(
        [sys.executable, "-m", "pytest", PARSE_TEST, "-q", "-p", "no:cacheprovider"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_parse_test_passes_on_the_project_dags(tmp_path: Path) -> None:
    done = _parse(tmp_path, REPO_ROOT / "dags")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    dag_files = [p for p in (REPO_ROOT / "dags").glob("*.py") if not p.name.startswith("_")]
    assert f"{len(dag_files)} passed" in done.stdout


@pytest.mark.slow
def test_parse_test_fails_on_a_broken_dag(tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "broken.py").write_text("from airflow import DAG\nimport no_such_module_for_the_parse_test\n")
    done = _parse(tmp_path, dags)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    assert "no_such_module_for_the_parse_test" in done.stdout
