"""Fetch throughput of MovielensHook against a live API (not a test; run by hand).

    .venv/bin/python -m tests.plugins.bench_throughput                      # the test dataset
    .venv/bin/python -m tests.plugins.bench_throughput --rows 2000000 \\
        --start-date 2019-01-01 --end-date 2019-07-01 --day 2019-03-01 --range 2019-03-01:2019-04-01

Synthesizes the dataset into .local/bench-<rows> (kept for reuse), starts the API on a free port and reports
ratings/s for get_ratings() over one day and over a longer range, per page size.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from tests.support.live_api import REPO_ROOT, TEST_DATASET, run_api, synthesize

# Airflow reads its home at import: keep it inside the repo, never ~/airflow.
os.environ.setdefault("AIRFLOW_HOME", str(REPO_ROOT / ".local" / "airflow-bench"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=TEST_DATASET["rows"])
    parser.add_argument("--users", type=int, default=None)
    parser.add_argument("--movies", type=int, default=None)
    parser.add_argument("--start-date", default=TEST_DATASET["start_date"])
    parser.add_argument("--end-date", default=TEST_DATASET["end_date"])
    parser.add_argument("--day", default="2019-01-03")
    parser.add_argument("--range", default="2019-01-01:2019-01-15")
    parser.add_argument("--batch-sizes", default="1000,10000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    options = {"rows": args.rows, "start_date": args.start_date, "end_date": args.end_date}
    if args.users:
        options["users"] = args.users
    if args.movies:
        options["movies"] = args.movies
    data_dir = REPO_ROOT / ".local" / f"bench-{args.rows}-{args.start_date}-{args.end_date}"
    started = time.perf_counter()
    synthesize(Path(data_dir), **options)
    print(f"dataset ready in {time.perf_counter() - started:.1f} s: {data_dir}")

    from airflow_movielens.hooks import MovielensHook

    day_end = _next_day(args.day)
    intervals = {f"day {args.day}": (args.day, day_end), f"range {args.range}": tuple(args.range.split(":"))}
    with run_api(data_dir) as api:
        os.environ["AIRFLOW_CONN_MOVIELENS"] = api.connection_json()
        for label, (start, end) in intervals.items():
            for batch_size in map(int, args.batch_sizes.split(",")):
                best = None
                for _ in range(args.repeat):
                    with MovielensHook(batch_size=batch_size) as hook:
                        t0 = time.perf_counter()
                        frame = hook.get_ratings(start, end)
                        elapsed = time.perf_counter() - t0
                    best = elapsed if best is None else min(best, elapsed)
                result = {
                    "interval": label,
                    "batch_size": batch_size,
                    "ratings": len(frame),
                    "seconds": round(best, 3),
                    "ratings_per_s": round(len(frame) / best),
                }
                print(json.dumps(result))


def _next_day(day: str) -> str:
    import datetime as dt

    return (dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat()


if __name__ == "__main__":
    main()
