"""Every DAG file imports without errors. Run by `astro dev parse` and by the parse step of `astro deploy`
(`pytest .astro/test_dag_integrity_default.py` inside the project image); committed so that a fresh clone
parses instead of skipping the check.

It does what the Astro CLI's generated file does (Astro CLI 1.45, `pkg/airflowrt/include/airflow2/
dagintegritytestdefault.py`): migrate the image's metadata database, make connection, variable and environment
lookups at parse time return placeholders instead of failing, parse the DAG folder once and fail each file
with an import error unless it is listed in .astro/dag_integrity_exceptions.txt. The project's stricter
checks are in tests/dags/.
"""

from __future__ import annotations

import inspect
import logging
import os
from pathlib import Path

import pytest
from airflow.hooks.base import BaseHook
from airflow.models import Connection, DagBag, Variable
from airflow.utils.db import initdb

EXCEPTIONS_FILE = Path(__file__).with_name("dag_integrity_exceptions.txt")
_UNSET = object()
_real_getenv = os.getenv


def _placeholder_connection(conn_id: str, *args: object, **kwargs: object) -> Connection:
    return Connection(conn_id)


def _placeholder_variable(key: str, default_var: object = _UNSET, deserialize_json: bool = False) -> object:
    if default_var is not _UNSET:
        return default_var
    return {} if deserialize_json else f"MOCKED_{key.upper()}_VALUE"


def _getenv_with_placeholder(key: str, default: str | None = None) -> str | None:
    value = _real_getenv(key)
    if value:
        return value
    if default is not None or key in {"JENKINS_HOME", "PYTEST_THEME"}:
        return default
    return f"MOCKED_{key.upper()}_VALUE"


def _exceptions() -> set[str]:
    if not EXCEPTIONS_FILE.exists():
        return set()
    lines = (line.strip() for line in EXCEPTIONS_FILE.read_text().splitlines())
    return {line for line in lines if line and not line.startswith("#")}


def _without_examples() -> dict[str, bool]:
    """``include_examples=False`` where DagBag takes it (Airflow 2.10); the DagBag of Airflow 3.3 has no such
    argument and reads only the folder it is given (the examples are a DAG bundle of their own there)."""
    return {"include_examples": False} if "include_examples" in inspect.signature(DagBag).parameters else {}


def _import_results() -> dict[str, str | None]:
    """Each DAG file (relative to AIRFLOW_HOME) and its import error, or None."""
    initdb()
    BaseHook.get_connection = _placeholder_connection
    Variable.get = _placeholder_variable
    os.getenv = _getenv_with_placeholder
    logger = logging.getLogger("airflow")
    disabled, logger.disabled = logger.disabled, True
    try:
        dagbag = DagBag(**_without_examples())
    finally:
        logger.disabled = disabled
    home = os.environ.get("AIRFLOW_HOME", os.getcwd())
    results: dict[str, str | None] = {
        os.path.relpath(dag.fileloc, home): None for dag in dagbag.dags.values()
    }
    for path, error in dagbag.import_errors.items():
        results[os.path.relpath(path, home)] = error.strip()
    return results


RESULTS = _import_results()


@pytest.mark.parametrize("rel_path", sorted(RESULTS))
def test_file_imports(rel_path: str) -> None:
    error = RESULTS[rel_path]
    if error is not None and rel_path not in _exceptions():
        pytest.fail(f"{rel_path} failed to import:\n{error}")
