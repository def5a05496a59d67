"""``python -m bench``: the API on the full 25M twin, via gunicorn on loopback, vs the textbook design.

Reports p50/p95 per case over >= 200 requests, paging throughput (ratings/s), cold start, RSS per worker,
and the same queries against ``bench.baseline`` (pandas boolean mask per request) with speed-up ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from bench.server import API_DIR, Query, gunicorn, memory, request
from movielens_api import cache
from movielens_api.dataset import source_for
from movielens_api.dataset.convert import ensure_cache


def page_through(port: int, start: str, end: str, limit: int) -> tuple[int, float, int]:
    """Page a whole date range; return (ratings, seconds, requests)."""
    t, offset, n, total, reqs = time.perf_counter(), 0, 0, None, 0
    while total is None or offset < total:
        query = {"start_date": start, "end_date": end, "offset": offset, "limit": limit}
        status, body = request(port, "/ratings", query)
        if status != 200:
            raise RuntimeError(f"/ratings {query} -> {status}")
        page = json.loads(body)
        total = page["total"]
        n += len(page["result"])
        offset += limit
        reqs += 1
    return n, time.perf_counter() - t, reqs


def summary(ms: list[float]) -> dict[str, float]:
    q = statistics.quantiles(ms, n=100)
    return {"n": len(ms), "p50": statistics.median(ms), "p95": q[94]}


def make_cases(ts: np.ndarray, n: int, rng: random.Random) -> dict[str, list[Query]]:
    """The benchmark's query sets, drawn from the data's actual range."""
    first = date.fromtimestamp(int(ts[0]))
    days = (date.fromtimestamp(int(ts[-1])) - first).days

    def day(i: int) -> str:
        return (first + timedelta(days=i)).isoformat()

    def count(a: str, b: str) -> int:
        lo, hi = (np.searchsorted(ts, int(np.datetime64(x, "s").astype(np.int64))) for x in (a, b))
        return int(hi - lo)

    one_day, any_range, month = [], [], []
    for _ in range(n):
        d = rng.randrange(days)
        one_day.append({"start_date": day(d), "end_date": day(d + 1), "limit": 100})
        a = rng.randrange(days)
        b = rng.randrange(a + 1, days + 2)
        total = count(day(a), day(b))
        any_range.append(
            {"start_date": day(a), "end_date": day(b), "offset": rng.randrange(max(total, 1)), "limit": 100}
        )
        m = rng.randrange(days - 31)
        month.append({"start_date": day(m), "end_date": day(m + 31), "limit": 10_000})
    return {
        "page 100, one day, offset 0": one_day,
        "page 100, no dates, offset 20,000,000": [{"offset": 20_000_000 + i, "limit": 100} for i in range(n)],
        "page 100, random range, random offset": any_range,
        "page 10,000, one month, offset 0": month,
    }


def run_cases(ports: dict[str, int], cases: dict[str, list[Query]], warmup: int = 5) -> dict[str, dict]:
    """Latency per case and server; servers alternate query by query so they share the machine's load."""
    out: dict[str, dict] = {name: {} for name in ports}
    for case, queries in cases.items():
        latencies: dict[str, list[float]] = {name: [] for name in ports}
        for i, q in enumerate(queries[:warmup] + queries):
            for name, port in ports.items():
                t = time.perf_counter()
                status, _ = request(port, "/ratings", q)
                if status != 200:
                    raise RuntimeError(f"{name}: /ratings {q} -> {status}")
                if i >= warmup:
                    latencies[name].append((time.perf_counter() - t) * 1000)
        line = f"    {case:40s}"
        for name in ports:
            out[name][case] = summary(latencies[name])
            line += f" | {name} p50 {out[name][case]['p50']:8.2f} ms p95 {out[name][case]['p95']:8.2f} ms"
        print(line, flush=True)
    return out


def run_paging(
    ports: dict[str, int], days: list[tuple[str, str]], months: list[tuple[str, str]]
) -> dict[str, dict]:
    """Ratings/s of a client paging whole days (limit 1,000) and whole months (limit 10,000)."""
    out: dict[str, dict] = {name: {} for name in ports}
    for case, ranges, limit in (
        (f"page {len(days)} full days, limit 1,000", days, 1_000),
        (f"page {len(months)} full months, limit 10,000", months, 10_000),
    ):
        totals = {name: [0, 0.0, 0] for name in ports}
        for a, b in ranges:
            for name, port in ports.items():
                n, secs, reqs = page_through(port, a, b, limit)
                totals[name] = [totals[name][0] + n, totals[name][1] + secs, totals[name][2] + reqs]
        line = f"    {case:40s}"
        for name, (n, secs, reqs) in totals.items():
            out[name][case] = {"ratings": n, "seconds": secs, "requests": reqs, "ratings_per_s": n / secs}
            line += f" | {name} {n:,} ratings, {reqs} requests, {n / secs:,.0f} ratings/s"
        print(line, flush=True)
    return out


def same_answers(ports: dict[str, int], queries: list[Query]) -> int:
    """Check that every server returns the same pages; returns the number of queries compared."""
    for q in queries:
        bodies = [json.loads(request(port, "/ratings", q)[1]) for port in ports.values()]
        if any(b != bodies[0] for b in bodies[1:]):
            raise RuntimeError(f"servers disagree on {q}")
    return len(queries)


def _timed_step(label: str, fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    secs = time.perf_counter() - t
    print(f"{label}: {secs:.1f} s", flush=True)
    return secs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument(
        "--data", default=os.environ.get("MOVIELENS_DATA"), help="MovieLens folder (default: the twin)"
    )
    p.add_argument("--requests", type=int, default=200, help="requests per latency case (>= 200)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument(
        "--reconvert", action="store_true", help="rebuild the serving cache to time the conversion"
    )
    p.add_argument("--no-baseline", action="store_true")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, default=API_DIR / ".data" / "bench-results.json")
    args = p.parse_args(argv)
    results: dict[str, Any] = {}
    root = cache.default_cache_root()

    holder: dict[str, object] = {}
    results["synth_or_resolve_s"] = _timed_step(
        "dataset (synthesized if missing)", lambda: holder.update(source=source_for(args.data, root))
    )
    source = holder["source"]
    if args.reconvert or cache.find_valid(source, root) is None:  # type: ignore[arg-type]
        results["conversion_s"] = _timed_step(
            "conversion CSV -> serving cache",
            lambda: ensure_cache(source, root, force=True),  # type: ignore[arg-type]
        )
    data = cache.find_valid(source, root)  # type: ignore[arg-type]
    assert data is not None
    print(f"dataset {data.name}: {data.rows:,} ratings, cache {data.cache_dir}")
    ts = np.asarray(data.timestamp)
    rng = random.Random(args.seed)
    cases = make_cases(ts, max(args.requests, 200), rng)
    last = date.fromtimestamp(int(ts[-1]))
    days = [
        ((last - timedelta(days=i)).isoformat(), (last - timedelta(days=i - 1)).isoformat())
        for i in range(30, 10, -1)
    ]
    month_starts = [date(last.year - 1, m, 1) for m in (3, 6, 9)]
    months = [(m.isoformat(), (m + timedelta(days=32)).replace(day=1).isoformat()) for m in month_starts]

    env = {"MOVIELENS_DATA": str(source.path), "MOVIELENS_CACHE_DIR": str(root)}  # type: ignore[attr-defined]
    with ExitStack() as stack:
        port, cold, master = stack.enter_context(gunicorn("movielens_api:create_app()", env, args.workers))
        print(
            f"\nAPI: gunicorn, {args.workers} workers, loopback;"
            f" cold start (cache built) to /health 200: {cold:.2f} s"
        )
        results["api_cold_start_s"] = cold
        ports = {"api": port}
        # The targets (p50 <= 2 ms for a page of 100, <= 25 ms for 10,000) are read off this pass, with the
        # machine to the API alone; the interleaved pass below shares it with the baseline for the ratios.
        print(f"\nLatency over {len(next(iter(cases.values())))} requests per case (API alone):")
        results["latency_api_alone"] = run_cases(ports, cases)
        if not args.no_baseline:
            print("starting the textbook baseline (pandas DataFrame, boolean mask per request, 1 worker) ...")
            bport, bcold, bmaster = stack.enter_context(gunicorn("bench.baseline:create_app()", env, 1))
            print(f"baseline start (CSV into pandas): {bcold:.1f} s")
            results["baseline_start_s"] = bcold
            ports["baseline"] = bport
            n = same_answers(ports, [q for qs in cases.values() for q in qs[:5]])
            print(f"both servers return identical pages on {n} sample queries")
        print(f"\nLatency over {len(next(iter(cases.values())))} requests per case (servers interleaved):")
        results["latency"] = run_cases(ports, cases)
        print("\nPaging throughput:")
        results["paging"] = run_paging(ports, days, months)
        results["api_memory_mb"] = memory(master)
        print("\nMemory:")
        for w in results["api_memory_mb"]:
            print(
                f"    api worker {w['pid']}: RSS {w['rss']} MB"
                f" (anon {w['anon']}, file-backed shared {w['file']}),"
                f" PSS {w['pss']} MB"
            )
        if not args.no_baseline:
            results["baseline_memory_mb"] = memory(bmaster)
            print(f"    baseline worker: RSS {results['baseline_memory_mb'][0]['rss']} MB")
    if not args.no_baseline:
        lat, pag = results["latency"], results["paging"]
        print("\nSpeed-up (baseline / API):")
        for case in cases:
            b, o = lat["baseline"][case], lat["api"][case]
            print(f"    {case:40s} p50 x{b['p50'] / o['p50']:8.1f}   p95 x{b['p95'] / o['p95']:8.1f}")
        for case in pag["api"]:
            ratio = pag["api"][case]["ratings_per_s"] / pag["baseline"][case]["ratings_per_s"]
            print(f"    {case:40s} ratings/s x{ratio:8.1f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"\nresults written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
