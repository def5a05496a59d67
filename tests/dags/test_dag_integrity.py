"""Every DAG file parses cleanly and follows the project's conventions.

The DagBag is parsed once per module (not per parametrized case), with the network and Airflow's metadata
database made unreachable: a DAG file that talks to either at import time fails here instead of slowing down
the scheduler's parse loop.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = sorted(p.name for p in DAGS_FOLDER.glob("*.py") if not p.name.startswith("_"))
EXPECTED_DAG_FILES = ["01_python.py", "02_hook.py", "03_operator.py", "04_sensor.py"]


class ParseTimeAccessError(RuntimeError):
    """Raised when a DAG file opens a socket or a metadata DB connection while being parsed."""


def _forbid(what: str):
    def _raise(*args: object, **kwargs: object) -> None:
        raise ParseTimeAccessError(f"{what} at DAG parse time")

    return _raise


@pytest.fixture(scope="module")
def dagbag() -> object:
    from sqlalchemy.engine import Engine

    from tests.support.compat import dag_bag

    with pytest.MonkeyPatch.context() as mp:
        # the conventions hold for the production settings, not for the test suite's (no task retries)
        mp.delenv("MOVIELENS_TASK_RETRIES", raising=False)
        mp.delenv("MOVIELENS_TASK_RETRY_DELAY", raising=False)
        mp.setattr(socket.socket, "connect", _forbid("network access"))
        mp.setattr(Engine, "connect", _forbid("metadata database access"))
        mp.setattr(Engine, "raw_connection", _forbid("metadata database access"))
        return dag_bag(str(DAGS_FOLDER))


def _dags_of(dagbag, filename: str) -> list:
    return [dag for dag in dagbag.dags.values() if Path(dag.fileloc).name == filename]


def test_expected_dag_files_exist() -> None:
    assert sorted(set(EXPECTED_DAG_FILES) - set(DAG_FILES)) == []


@pytest.mark.parametrize("filename", DAG_FILES)
def test_no_import_errors(dagbag, filename: str) -> None:
    errors = {Path(path).name: err for path, err in dagbag.import_errors.items()}
    assert filename not in errors, errors.get(filename)


@pytest.mark.parametrize("filename", DAG_FILES)
def test_file_defines_a_dag(dagbag, filename: str) -> None:
    assert _dags_of(dagbag, filename), f"{filename} defines no DAG"


@pytest.mark.parametrize("filename", DAG_FILES)
def test_conventions(dagbag, filename: str) -> None:
    for dag in _dags_of(dagbag, filename):
        assert dag.tags, f"{dag.dag_id} has no tags"
        assert dag.doc_md, f"{dag.dag_id} has no doc_md"
        for task in dag.tasks:
            assert task.owner, f"{dag.dag_id}.{task.task_id} has no owner"
            assert task.owner != "airflow", f"{dag.dag_id}.{task.task_id} keeps the default owner"
            retries = task.retries or 0
            assert retries >= 2, f"{dag.dag_id}.{task.task_id} has retries={task.retries}"
            assert task.retry_delay.total_seconds() > 0, f"{dag.dag_id}.{task.task_id} has no retry delay"
