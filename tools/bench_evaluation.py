"""Benchmark of one cutoff of 06_evaluation on PostgreSQL: wall time and peak RSS of what the DAG task runs.

    tools/bench_evaluation.py --load                # once (about a minute): the full twin into the database
    tools/bench_evaluation.py --cutoff 2019-10-01   # measure (--read-only: read_rating_log alone)
    tools/bench_evaluation.py --drop                # drop the database again

``make bench-evaluation`` runs the second (``BENCH_LOAD=1``: the first two) on ``--url`` or
``$MOVIELENS_BENCH_POSTGRES_URL`` (default ``movielens_bench_eval`` on 127.0.0.1:5432, user postgres).

The measured part, ``run_evaluation`` exactly as the task ``evaluate_rankings`` calls it (after deleting the
cutoff's rows in ``ranking_evaluation``), runs in a child process so that its peak RSS is its own; it prints
its seconds, peak RSS and stored rows (``--out``: as CSV too, to compare two code versions) between two load
averages: the figures mean little on a busy machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

URL_SETTING = "MOVIELENS_BENCH_POSTGRES_URL"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/movielens_bench_eval"
CONN_ID = "movielens_results"


def _database(url: str) -> str:
    """The database of a ``postgresql://user[:password]@host:port/database`` URL (Airflow reads the URL as
    the connection, ``postgresql`` as ``postgres``)."""
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql"} or not parts.path.strip("/") or not parts.username:
        raise SystemExit(f"--url must be postgresql://user@host:port/database, got {url!r}")
    return parts.path.strip("/")


def _admin(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    """Run ``sql`` on the server's ``postgres`` database, outside a transaction; its rows, if any."""
    import psycopg2

    admin = psycopg2.connect(urlsplit(url)._replace(scheme="postgresql", path="/postgres").geturl())
    admin.autocommit = True
    with contextlib.closing(admin), admin.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall() if cur.description else []


def _load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def load(url: str, start: str, end: str) -> None:
    """Create the database if needed and ``ratings`` through the project's loader (``start`` .. ``end`` marked
    loaded), then copy the twin's ratings into it in timestamp order, as the daily and history loads do."""
    from airflow_movielens.ratings_table import replace_interval
    from include.movielens.database import ResultsDb
    from tools.evaluate import twin_folder

    csv_path = twin_folder() / "ratings.csv"
    if not _admin(url, "SELECT 1 FROM pg_database WHERE datname = %s", (_database(url),)):
        _admin(url, f'CREATE DATABASE "{_database(url)}"')
    started = time.perf_counter()
    db = ResultsDb.connect(CONN_ID)
    replace_interval(db.hook, start, end, [], schema=db.schema)
    target = db.quoted(db.ratings.name)
    with contextlib.closing(db.hook.get_conn()) as pg, pg, pg.cursor() as cur, csv_path.open("rb") as fh:
        cur.execute(f"CREATE TEMP TABLE twin (LIKE {target})")
        cur.copy_expert("COPY twin FROM STDIN WITH (FORMAT csv, HEADER)", fh)
        cur.execute(f'INSERT INTO {target} SELECT * FROM twin ORDER BY "timestamp"')
        cur.execute(f"ANALYZE {target}")
        cur.execute(f"SELECT count(*) FROM {target}")
        (rows,) = cur.fetchone()
    print(f"loaded {rows:,} ratings from {csv_path} in {time.perf_counter() - started:.1f} s", flush=True)


def child(args: argparse.Namespace) -> int:
    """The measured part (in its own process): the task's call, then its figures and stored rows."""
    from include.movielens.evaluation import read_evaluation, read_rating_log, run_evaluation

    started = time.perf_counter()
    if args.read_only:
        summary = {"rows": len(read_rating_log(CONN_ID).timestamp)}
    else:
        summary = run_evaluation(requested=[args.cutoff], horizon_days=args.horizon, k=args.k)
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"measured: {elapsed:.1f} s, peak RSS {peak:,.0f} MiB; {json.dumps(summary)}", flush=True)
    if not args.read_only:
        rows = read_evaluation(CONN_ID)
        rows = rows[rows["cutoff"].astype(str) == args.cutoff].sort_values(["method", "window"])
        print(rows.to_string(index=False), flush=True)
        if args.out:
            rows.to_csv(args.out, index=False, float_format="%.17g")
    return 0


def measure(args: argparse.Namespace) -> int:
    """Run :func:`child` in a child process and report the machine's load around it."""
    import sqlalchemy as sa

    from airflow_movielens.dates import as_date
    from include.movielens.database import ResultsDb

    db = ResultsDb.connect(CONN_ID)  # in $MOVIELENS_RESULTS_SCHEMA, as the task reads it
    table = db.evaluation
    with db.engine.begin() as conn:
        rows = conn.execute(sa.select(sa.func.count()).select_from(db.ratings)).scalar()
        if db.has(conn, table):
            mine = (table.c.cutoff == as_date(args.cutoff)) & (table.c.horizon_days == args.horizon)
            conn.execute(table.delete().where(mine & (table.c.k == args.k)))
    what = "read_rating_log" if args.read_only else "run_evaluation (read + evaluate + store)"
    print(
        f"{what}: cutoff {args.cutoff}, horizon {args.horizon}, K {args.k}, {rows:,} ratings in {db.schema}; "
        f"load average before {_load_average()}",
        flush=True,
    )
    status = subprocess.run([sys.executable, __file__, "--child", *sys.argv[1:]], check=False).returncode
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"child peak RSS {peak:,.0f} MiB; load average after {_load_average()}")
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get(URL_SETTING) or DEFAULT_URL, help=f"${URL_SETTING}")
    parser.add_argument("--load", action="store_true", help="load the full twin first")
    parser.add_argument("--drop", action="store_true", help="drop the database (and measure nothing)")
    parser.add_argument("--start", default="1995-01-01", help="first day --load marks loaded")
    parser.add_argument("--end", default="2020-01-01", help="day after the last day --load marks loaded")
    parser.add_argument("--cutoff", default="2019-10-01")
    parser.add_argument("--horizon", type=int, default=30)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--read-only", action="store_true", help="measure read_rating_log alone")
    parser.add_argument("--out", help="CSV of the stored rows of the cutoff")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    database = _database(args.url)
    os.environ["AIRFLOW_CONN_MOVIELENS_RESULTS"] = args.url
    if args.child:
        return child(args)
    if args.drop:
        _admin(args.url, f'DROP DATABASE IF EXISTS "{database}"')
        print(f"dropped {database}")
        return 0
    if args.load:
        load(args.url, args.start, args.end)
    return measure(args)


if __name__ == "__main__":
    sys.exit(main())
