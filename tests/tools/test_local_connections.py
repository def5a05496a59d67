"""The local connections of `make demo` / `make up` (tools/local_connections.py), derived from
airflow_settings.yaml, and stored where `make up`'s UI lists them: real Airflow CLI, fresh metadata DB."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.environment import REPO_ROOT, require
from tools.local_connections import SETTINGS, local_connections

SCRIPT = REPO_ROOT / "tools" / "local_connections.py"


@pytest.fixture(autouse=True)
def settings_file() -> None:
    """airflow_settings.yaml is local-only: the image leaves it out (.dockerignore), as Astro does."""
    require(SETTINGS.is_file(), "airflow_settings.yaml (local-only, left out of the image)")


def test_local_hosts_replace_the_compose_ones_and_the_rest_stays(tmp_path) -> None:
    api = yaml.safe_load(SETTINGS.read_text())["airflow"]["connections"][0]
    conns = local_connections(5123, tmp_path / "sub" / ".." / "results.db")
    assert conns["movielens"] == {
        "conn_type": "movielens",
        "host": "127.0.0.1",
        "port": 5123,
        "schema": "http",
        "login": api["conn_login"],
        "password": api["conn_password"],
        "extra": api["conn_extra"],
    }
    # the Astro SDK opens a SQLite connection's host as the database file: absolute and normalised
    assert conns["movielens_results"] == {"conn_type": "sqlite", "host": str(tmp_path / "results.db")}


def test_saved_connections_are_the_only_ones_and_a_second_save_replaces_them(tmp_path) -> None:
    """What `make up` does before `airflow standalone`: on a fresh AIRFLOW_HOME, with the Makefile's setting
    against Airflow's example connections, the UI's connection list holds the project's two and nothing else;
    a later `make up` on another port updates them in place; the API's pool exists."""
    home = tmp_path / "airflow"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__LOAD_DEFAULT_CONNECTIONS": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path / "no-dags"),
    }
    airflow = Path(sys.executable).with_name("airflow")
    db = tmp_path / "results.db"
    for port in (5000, 5001):
        args = [sys.executable, str(SCRIPT), "--api-port", str(port), "--results-db", str(db), "--save"]
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        assert done.stdout.count("Imported connection") == 2, done.stdout

    def listed(kind: str) -> list[dict]:
        cmd = [airflow, kind, "list", "--output", "json"]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=True)
        return json.loads(done.stdout)

    conns = {c["conn_id"]: c for c in listed("connections")}
    assert sorted(conns) == ["movielens", "movielens_results"]
    assert conns["movielens"]["conn_type"] == "movielens"
    assert (conns["movielens"]["host"], int(conns["movielens"]["port"])) == ("127.0.0.1", 5001)
    assert conns["movielens_results"]["host"] == str(db)
    # the pool of airflow_settings.yaml, as `astro dev start` creates it (beside Airflow's default_pool)
    by_name = {pool["pool"]: int(pool["slots"]) for pool in listed("pools")}
    assert by_name["movielens_api"] == 4
