"""Print ``export AIRFLOW_CONN_...=...`` lines for local runs, derived from airflow_settings.yaml.

That file describes the connections of ``astro dev start`` (the API is the Compose service ``movielens-api``,
results go to Astro's PostgreSQL); ``make demo`` and ``make up`` point them at the API on 127.0.0.1 and at a
SQLite results file, with login, password, schema and extras as the file says::

    eval "$(python tools/local_connections.py --api-port 5000 --results-db /abs/results.db)"

``--save`` (``make up``) stores them instead in the metadata database of ``$AIRFLOW_HOME`` (migrated first),
where the UI lists them, and creates the file's pools, as ``astro dev start`` does.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

SETTINGS = Path(__file__).resolve().parents[1] / "airflow_settings.yaml"


def local_connections(api_port: int, results_db: Path, settings: Path = SETTINGS) -> dict[str, dict]:
    """Connection id -> Airflow JSON connection, with the local host/port/database swapped in."""
    conns = {c["conn_id"]: c for c in yaml.safe_load(settings.read_text())["airflow"]["connections"]}
    api = conns["movielens"]
    return {
        "movielens": {
            "conn_type": api["conn_type"],
            "host": "127.0.0.1",
            "port": api_port,
            "schema": api.get("conn_schema") or "http",
            "login": api.get("conn_login"),
            "password": api.get("conn_password"),
            "extra": api.get("conn_extra") or {},
        },
        # The Astro SDK opens a SQLite connection's `host` as the database file: it must be an absolute path.
        "movielens_results": {"conn_type": "sqlite", "host": str(results_db.resolve())},
    }


def save(conns: dict[str, dict], settings: Path = SETTINGS) -> None:
    """Migrate the metadata database of ``$AIRFLOW_HOME``, import ``conns`` into it (replacing connections of
    the same ids) and create or resize the pools of ``settings``, with this environment's Airflow CLI."""
    airflow = Path(sys.executable).with_name("airflow")
    home = Path(os.environ["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    subprocess.run([airflow, "db", "migrate"], check=True, stdout=subprocess.DEVNULL)
    with tempfile.NamedTemporaryFile("w", suffix=".json", dir=home, encoding="utf-8") as file:
        json.dump(conns, file)
        file.flush()
        subprocess.run([airflow, "connections", "import", "--overwrite", file.name], check=True)
    for pool in yaml.safe_load(settings.read_text())["airflow"].get("pools") or []:
        slots, description = str(pool["pool_slot"]), pool.get("pool_description") or ""
        command = [airflow, "pools", "set", pool["pool_name"], slots, description]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api-port", type=int, default=5000)
    parser.add_argument("--results-db", type=Path, required=True)
    parser.add_argument("--save", action="store_true", help="store them and the pools in the metadata DB")
    args = parser.parse_args(argv)
    args.results_db.parent.mkdir(parents=True, exist_ok=True)
    conns = local_connections(args.api_port, args.results_db)
    if args.save:
        save(conns)
        return 0
    for conn_id, conn in conns.items():
        print(f"export AIRFLOW_CONN_{conn_id.upper()}={shlex.quote(json.dumps(conn))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
