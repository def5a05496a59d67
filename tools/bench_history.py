"""Benchmark of the history load (05_history's task) against a running API: wall time, rows/s, peak RSS.

    tools/bench_history.py --api http://127.0.0.1:5077 --target postgres --pg-db movielens_bench
    tools/bench_history.py --api http://127.0.0.1:5077 --target sqlite --sqlite /tmp/history.db

Runs the transfer operator's ``execute`` as the DAG task does, after a baseline in the same process: paging
the same range through the hook without writing anything. Prints both, their ratio and the peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", required=True, help="base URL of the Movie Rating API")
    parser.add_argument("--target", choices=["postgres", "sqlite"], required=True)
    parser.add_argument("--pg-db", default="movielens_bench", help="database on 127.0.0.1:5432 (trust auth)")
    parser.add_argument("--sqlite", default="/tmp/movielens_history.db")
    parser.add_argument("--start", default="1995-01-01")
    parser.add_argument("--end", default="2020-01-01")
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args(argv)

    api = urlsplit(args.api)
    os.environ["AIRFLOW_CONN_MOVIELENS"] = f"movielens://airflow:airflow@{api.hostname}:{api.port}/http"
    if args.target == "postgres":
        results = f"postgres://postgres@127.0.0.1:5432/{args.pg_db}"
    else:
        results = json.dumps({"conn_type": "sqlite", "host": str(Path(args.sqlite).resolve())})
    os.environ["AIRFLOW_CONN_MOVIELENS_RESULTS"] = results

    from airflow_movielens.hooks import MovielensHook
    from airflow_movielens.transfers import MovielensRatingsToSqlOperator

    if not args.no_baseline:
        started = time.perf_counter()
        with MovielensHook(batch_size=args.batch_size) as hook:
            paged = sum(1 for _ in hook.iter_ratings(args.start, args.end))
        baseline = time.perf_counter() - started
        print(
            f"baseline: paged {paged:,} ratings in {baseline:.1f} s ({paged / baseline:,.0f}/s)", flush=True
        )
    operator = MovielensRatingsToSqlOperator(
        task_id="load_history",
        sql_conn_id="movielens_results",
        interval_start=args.start,
        interval_end=args.end,
        schema="public",
        batch_size=args.batch_size,
    )
    started = time.perf_counter()
    result = operator.execute({})
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"history load into {args.target}: {result['count']:,} ratings in {elapsed:.1f} s "
        f"({result['count'] / elapsed:,.0f}/s), peak RSS {peak_mb:,.0f} MB"
        + ("" if args.no_baseline else f", {elapsed / baseline:.2f}x the paging baseline")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
