"""``python -m bench.soak``: N clients for T seconds of random day pages against the API under gunicorn on the
full 25M twin (or ``--data``), on loopback. Prints requests/s, p50/p99, errors, and each worker's RSS at the
start and the end; exits 1 on any error or when a worker's RSS grew by 10 % or more. Bounded in requests and
time, it stops by itself. Not part of ``make test``: ``make soak``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import numpy as np

from bench.server import gunicorn, memory, request
from movielens_api import cache
from movielens_api.dataset import source_for
from movielens_api.dataset.convert import ensure_cache

#: Ratings per page (what the DAGs' hook asks for).
PAGE = 5_000
#: A worker whose RSS grows by this much over the soak fails it.
MAX_GROWTH = 0.10


def day_pages(ts: np.ndarray) -> list[tuple[str, str, int]]:
    """``(start_date, end_date, ratings)`` of every day of the data that holds ratings."""
    first = date.fromtimestamp(int(ts[0]))
    n_days = (date.fromtimestamp(int(ts[-1])) - first).days + 1
    days = [first + timedelta(days=i) for i in range(n_days + 1)]
    bounds = np.searchsorted(ts, [int(np.datetime64(d.isoformat(), "s").astype(np.int64)) for d in days])
    return [
        (days[i].isoformat(), days[i + 1].isoformat(), int(bounds[i + 1] - bounds[i]))
        for i in range(n_days)
        if bounds[i + 1] > bounds[i]
    ]


def query_of(start: str, end: str, offset: int) -> dict[str, str | int]:
    return {"start_date": start, "end_date": end, "limit": PAGE, "offset": offset}


def client(port: int, pages: list, seed: int, deadline: float, max_requests: int, out: dict) -> None:
    """Random pages of random days until the deadline (or ``max_requests``): latencies, errors to ``out``."""
    rng = random.Random(seed)
    for _ in range(max_requests):
        if time.monotonic() >= deadline:
            return
        start, end, n = rng.choice(pages)
        query = query_of(start, end, rng.randrange(0, n, PAGE))
        began = time.perf_counter()
        try:
            status, body = request(port, "/ratings", query)
            ok = status == 200 and len(json.loads(body)["result"]) == min(PAGE, n - query["offset"])
        except (OSError, ValueError, KeyError) as err:
            status, ok = repr(err), False
        out["ms"].append((time.perf_counter() - began) * 1000)
        if not ok:
            out["errors"].append(f"{query}: {status}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    p.add_argument("--data", default=None, help="MovieLens folder or zip (default: the synthetic 25M twin)")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--seconds", type=float, default=300)
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers (the API's default)")
    p.add_argument("--max-requests", type=int, default=1_000_000, help="per client, a bound on the loop")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)

    root = cache.default_cache_root()
    source = source_for(args.data, root)
    ensure_cache(source, root)
    data = cache.find_valid(source, root)
    pages = day_pages(np.asarray(data.timestamp))
    print(
        f"dataset {data.name}: {data.rows:,} ratings over {len(pages):,} days with ratings; pages of {PAGE:,}"
    )
    env = {"MOVIELENS_DATA": str(source.path), "MOVIELENS_CACHE_DIR": str(root)}
    with gunicorn("movielens_api:create_app()", env, args.workers) as (port, cold, master):
        # Warm-up: every page of the data once, so that the workers have touched all of the memory-mapped
        # dataset (file-backed pages, shared) before RSS is read; growth after that is the workers' own.
        every_page = [(start, end, offset) for start, end, n in pages for offset in range(0, n, PAGE)]
        with ThreadPoolExecutor(args.clients) as pool:
            warm = list(pool.map(lambda page: request(port, "/ratings", query_of(*page))[0], every_page))
        if set(warm) != {200}:
            raise RuntimeError(f"warm-up: statuses {sorted(set(warm))}")
        before = memory(master)
        print(
            f"gunicorn: {args.workers} workers, /health after {cold:.2f} s; warm-up {len(every_page):,} pages"
        )
        results = [{"ms": [], "errors": []} for _ in range(args.clients)]
        deadline = time.monotonic() + args.seconds
        threads = [
            threading.Thread(
                target=client, args=(port, pages, args.seed + i, deadline, args.max_requests, out)
            )
            for i, out in enumerate(results, start=1)
        ]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began
        after = {w["pid"]: w for w in memory(master)}
    ms = sorted(m for r in results for m in r["ms"])
    errors = [e for r in results for e in r["errors"]]
    p99 = statistics.quantiles(ms, n=100)[98] if len(ms) > 1 else float("nan")
    rate = len(ms) / elapsed
    print(f"{args.clients} clients x {elapsed:.0f} s: {len(ms):,} requests, {rate:.1f} requests/s")
    p50 = statistics.median(ms)
    print(f"latency p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {ms[-1]:.1f} ms; errors {len(errors)}")
    growth = {}
    for w in before:
        end = after.get(w["pid"])
        if end is None:
            print(f"  worker {w['pid']}: gone (restarted during the soak)")
            continue
        growth[w["pid"]] = (end["rss"] - w["rss"]) / w["rss"]
        print(
            f"  worker {w['pid']}: RSS {w['rss']} -> {end['rss']} MB ({growth[w['pid']]:+.1%}); private"
            f" (anon) {w['anon']} -> {end['anon']} MB, shared dataset mapping {w['file']} -> {end['file']} MB"
        )
    for error in errors[:10]:
        print(f"  error: {error}")
    bad = errors or len(growth) != len(before) or any(g >= MAX_GROWTH for g in growth.values())
    print("soak:", "FAILED" if bad else f"passed (0 errors, RSS growth under {MAX_GROWTH:.0%})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
