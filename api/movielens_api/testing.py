"""Helpers for testing the API and its clients, as :mod:`flask.testing` is for Flask apps.

The API's test suite (api/tests) imports them from here, never through its ``tests`` package: the Airflow
side has a package of that name too.
"""

from __future__ import annotations

import base64
from pathlib import Path

from flask import Flask

from movielens_api import create_app

#: The small dataset of the Airflow-side suites (tests/support/live_api.py): ``synth`` args after ``--out``.
SMALL_SYNTH_OPTIONS = [
    *("--rows", "60000", "--users", "2000", "--movies", "1500"),
    *("--start-date", "2019-01-01", "--end-date", "2019-01-15", "--seed", "7"),
]


def basic(user: str, password: str) -> dict[str, str]:
    """An Authorization header for HTTP basic auth."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def serving_app(data_dir: Path, cache_dir: Path) -> Flask:
    """A test app serving the MovieLens folder data_dir, its cache built synchronously into cache_dir."""
    dirs = {"MOVIELENS_DATA": str(data_dir), "MOVIELENS_CACHE_DIR": str(cache_dir)}
    return create_app({"TESTING": True, **dirs, "DATA_LOAD": "sync"})
