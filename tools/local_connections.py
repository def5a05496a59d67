"""Print `export AIRFLOW_CONN_...=...` lines for local runs, derived from airflow_settings.yaml.

airflow_settings.yaml describes the connections for `astro dev start`, where the API is the Compose service
`movielens-api` and results go to Astro's PostgreSQL. Locally (make demo / make up) the same connections
point at the API on 127.0.0.1 and at a SQLite results file; login, password, schema and extras stay as the
file says.
Usage: eval "$(python tools/local_connections.py --api-port 5000 --results-db /abs/results.db)"
       python tools/local_connections.py ... --save   (make up: into the metadata database of $AIRFLOW_HOME,
       migrated first, through `airflow connections import --overwrite`, so that the UI lists them; the
       file's pools too, through `airflow pools set`, as `astro dev start` creates them)
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


def local_pools(settings: Path = SETTINGS) -> list[dict]:
    """The file's pools as ``{"name", "slots", "description"}``."""
    pools = yaml.safe_load(settings.read_text())["airflow"].get("pools") or []
    return [
        {"name": p["pool_name"], "slots": int(p["pool_slot"]), "description": p.get("pool_description") or ""}
        for p in pools
    ]


def save(conns: dict[str, dict], pools: list[dict] | None = None) -> None:
    """Migrate the metadata database of ``$AIRFLOW_HOME`` and import ``conns`` into it, replacing connections
    of the same ids, then create or resize ``pools``, with the Airflow CLI of this interpreter's
    environment."""
    airflow = Path(sys.executable).with_name("airflow")
    home = Path(os.environ["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    subprocess.run([airflow, "db", "migrate"], check=True, stdout=subprocess.DEVNULL)
    with tempfile.NamedTemporaryFile("w", suffix=".json", dir=home, encoding="utf-8") as file:
        json.dump(conns, file)
        file.flush()
        subprocess.run([airflow, "connections", "import", "--overwrite", file.name], check=True)
    for pool in pools or []:
        command = [airflow, "pools", "set", pool["name"], str(pool["slots"]), pool["description"]]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api-port", type=int, default=5000)
    parser.add_argument("--results-db", type=Path, required=True)
    parser.add_argument(
        "--save", action="store_true", help="store them and the pools in the metadata DB, print nothing"
    )
    args = parser.parse_args(argv)
    args.results_db.parent.mkdir(parents=True, exist_ok=True)
    conns = local_connections(args.api_port, args.results_db)
    if args.save:
        save(conns, local_pools())
        return 0
    for conn_id, conn in conns.items():
        print(f"export AIRFLOW_CONN_{conn_id.upper()}={shlex.quote(json.dumps(conn))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
