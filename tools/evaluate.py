"""Backtest the popular lists on a MovieLens data set: which (method, window) best predicts the next ratings.

``make evaluate`` runs it with the Makefile's variables. Prints the table (best nDCG@K first), writes the CSV
(:data:`~include.movielens.backtest.EVAL_COLUMNS`, one row per cutoff, method and window) and, next to it, a
PNG chart of nDCG@K by method and window.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from airflow_movielens.records import atomic_open
from include.movielens import settings
from include.movielens.backtest import (
    DEFAULT_CUTOFFS,
    DEFAULT_HORIZON_DAYS,
    DEFAULT_K,
    DEFAULT_SEED,
    RANDOM,
    RatingLog,
    default_cutoffs,
    evaluate,
    summarize,
    unseen_at_depth,
)
from include.movielens.choice import DEFAULT
from include.movielens.popularity import METHODS
from include.movielens.windows import WINDOWS, window_label

ROOT = settings.PROJECT_ROOT
DEFAULT_OUT = settings.DEFAULT_DATA_DIR / "ranking_evaluation.csv"
# The API's dataset package is the one MovieLens reader and twin maker (every release format, folders and
# zips); its modules used here need only numpy and pandas, so they import from this environment too.
sys.path.append(str(ROOT / "api"))
from movielens_api.cache import default_cache_root  # noqa: E402
from movielens_api.dataset import TWIN_NAME, resolve, source_for  # noqa: E402
from movielens_api.dataset.formats import FormatError  # noqa: E402

RATINGS_DTYPES = {"userId": "int32", "movieId": "int32", "rating": "float64", "timestamp": "int64"}


def twin_folder() -> Path:
    """The synthetic ml-25m twin under the API's cache root, made once exactly as ``make demo`` makes it."""
    folder = default_cache_root() / TWIN_NAME
    if not (folder / "ratings.csv").is_file():
        print(f"Making the synthetic ml-25m twin in {folder} (one-time) ...", flush=True)
    return source_for(None, folder.parent).path


def read_ratings(data: Path) -> pd.DataFrame:
    """All ratings of a MovieLens release (any format, folder or zip) as the API reads them: columns userId,
    movieId, rating, timestamp. Raises ValueError naming what is wrong."""
    source = resolve(data)
    with source.open("ratings") as fh:
        try:
            chunks = [chunk.astype(RATINGS_DTYPES) for chunk in source.layout.read_ratings(fh, 2_000_000)]
        except FormatError as exc:
            raise ValueError(f"{data}: {source.layout.ratings} is not in MovieLens format: {exc}") from exc
    return pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame(columns=list(RATINGS_DTYPES))


def subplots(figsize: tuple[float, float]):
    """A matplotlib figure and its axes, outside pyplot (no GUI backend, nothing to close); imported late,
    since the Astro image may lack matplotlib."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots()


def save_figure(fig, path: Path) -> Path:
    """Write ``fig`` to ``path`` as a PNG, atomically."""
    fig.tight_layout()
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, dpi=100, format="png")
    return path


def save_chart(results: pd.DataFrame, path: Path, title: str) -> Path:
    """Grouped bars of nDCG@K per window, one colour per method (mean over cutoffs, whiskers min..max)."""
    k = int(results["k"].iloc[0])
    stats = results.groupby(["method", "window"])["ndcg"].agg(["mean", "min", "max"])
    windows = [w for w in WINDOWS if w in set(results["window"])]
    methods = [m for m in METHODS if m in set(results["method"])]
    fig, ax = subplots((10, 5.2))
    bar = 0.8 / max(len(methods), 1)
    for i, method in enumerate(methods):
        rows = stats.reindex([(method, w) for w in windows])
        x = np.arange(len(windows)) + (i - (len(methods) - 1) / 2) * bar
        errors = [rows["mean"] - rows["min"], rows["max"] - rows["mean"]]
        bars = ax.bar(x, rows["mean"], bar * 0.95, yerr=errors, capsize=3, label=method)
        ax.bar_label(
            bars, labels=[f"{v:.3g}" if v >= 1e-3 else "<0.001" for v in rows["mean"]], padding=2, fontsize=8
        )
    if RANDOM in set(results["method"]):
        baseline = float(results.loc[results["method"] == RANDOM, "ndcg"].mean())
        ax.axhline(baseline, color="grey", linestyle="--", linewidth=1, label=f"random ({baseline:.4f})")
    ax.set_xticks(np.arange(len(windows)), windows)
    ax.set_xlabel("window: ratings of the last N days before the cutoff (all = every earlier rating)")
    ax.set_ylabel(f"nDCG@{k} (mean over cutoffs; whiskers: min..max)")
    ax.set_ylim(0, max(float(results["ndcg"].max()) * 1.18, 1e-3))
    ax.set_title(title, fontsize=11, pad=24)
    # Outside the axes, in one row above them: inside, it would cover the tallest bars' value labels.
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(methods) + 1, fontsize=9, frameon=False)
    return save_figure(fig, path)


def format_summary(summary: pd.DataFrame, k: int) -> str:
    """:func:`summarize`'s table as printed: numbered, HR@K, nDCG@K and coverage to four places."""
    shown = summary.rename(columns={"hr": f"HR@{k}", "ndcg": f"nDCG@{k}"})
    shown.insert(0, "#", range(1, len(shown) + 1))
    four_places = dict.fromkeys([f"HR@{k}", f"nDCG@{k}", "coverage"], "{:.4f}".format)
    return shown.to_string(index=False, formatters=four_places)


def _cutoffs(text: str) -> list[str]:
    days = [part.strip() for part in text.split(",") if part.strip()]
    for day in days:
        try:
            dt.date.fromisoformat(day)
        except ValueError:
            raise argparse.ArgumentTypeError(f"cutoff {day!r} is not a YYYY-MM-DD date") from None
    if not days:
        raise argparse.ArgumentTypeError(f"no cutoff in {text!r}")
    return days


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _depths(text: str) -> tuple[int, ...]:
    return tuple(_positive(part) for part in text.split(",") if part.strip())


def depth_table(log: RatingLog, cutoffs: list, depths: tuple[int, ...], k: int, horizon: int) -> pd.DataFrame:
    """:func:`unseen_at_depth` of the default served list at every cutoff, one row per (cutoff, depth)."""
    window = window_label(DEFAULT.window_days)
    return pd.concat(
        [
            unseen_at_depth(
                log, cutoff, depths, method=DEFAULT.method, window=window, horizon_days=horizon, k=k
            ).assign(cutoff=str(cutoff))
            for cutoff in cutoffs
        ],
        ignore_index=True,
    )


def pool_depths(table: pd.DataFrame) -> pd.DataFrame:
    """Per depth: the lowest ``users_share`` and ``evaluated_share`` over the cutoffs, and both pooled."""
    by_depth = table.groupby("depth")
    pooled = {}
    for who in ("users", "evaluated"):
        share = table[f"{who}_share"]
        pooled[f"{who}_lowest"] = by_depth[f"{who}_share"].min()
        pooled[f"{who}_pooled"] = (table[who] * share).groupby(table["depth"]).sum() / by_depth[who].sum()
    return pd.DataFrame(pooled)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, help="MovieLens folder or zip (default: the synthetic ml-25m twin)")
    p.add_argument(
        "--cutoffs",
        type=_cutoffs,
        help=f"comma-separated UTC days (default: last {DEFAULT_CUTOFFS} month starts)",
    )
    p.add_argument(
        "--horizon", type=_positive, default=DEFAULT_HORIZON_DAYS, help="test days after each cutoff"
    )
    p.add_argument("--k", type=_positive, default=DEFAULT_K, help="list length K")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="CSV to write (the chart goes beside it)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the random baseline")
    p.add_argument(
        "--depths",
        type=_depths,
        default=(),
        help="also print, per stored depth (e.g. 100,200), the share of users left with K unseen movies",
    )
    args = p.parse_args(argv)
    try:
        data = args.data.expanduser().resolve() if args.data else twin_folder()
        started = time.perf_counter()
        log = RatingLog.from_frame(read_ratings(data))
        loaded = time.perf_counter() - started
        cutoffs = args.cutoffs or default_cutoffs(log, DEFAULT_CUTOFFS, args.horizon)
        print(
            f"{data}: {len(log.timestamp):,} ratings, {log.day(0)} .. {log.day(-1)}, loaded in {loaded:.1f}s"
        )
        started = time.perf_counter()
        results = evaluate(log, cutoffs, horizon_days=args.horizon, k=args.k, seed=args.seed)
        elapsed = time.perf_counter() - started
    except (ValueError, OSError) as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        return 1
    days = sorted(set(results["cutoff"]))
    span = f"{len(days)} cutoffs ({days[0]} .. {days[-1]})"
    print(f"\nBacktest of {span}, horizon {args.horizon} days, K = {args.k}: {elapsed:.1f}s\n")
    summary = summarize(results)
    print(format_summary(summary, args.k))
    out = args.out.expanduser().resolve()
    with atomic_open(out, "w", encoding="utf-8", newline="") as handle:
        results.to_csv(handle, index=False, float_format="%.6f")
    title = f"{data.name}: nDCG@{args.k} by method and window, {len(days)} cutoffs {days[0]} .. {days[-1]}, "
    try:
        chart = save_chart(results, out.with_suffix(".png"), title + f"horizon {args.horizon} days")
    except ImportError:  # the Astro Runtime image need not have matplotlib; .venv has it
        chart = "not drawn (matplotlib is not installed)"
    best = summary.iloc[0]
    print(
        f"\nBest: {best['method']} over {best['window']} (nDCG@{args.k} {best['ndcg']:.4f}, HR@{args.k} "
        f"{best['hr']:.4f})\nCSV: {out}\nChart: {chart}"
    )
    if args.depths:
        started = time.perf_counter()
        table = depth_table(log, days, args.depths, args.k, args.horizon)
        print(
            f"\nUsers left with K = {args.k} unseen movies in the first d of the default served list, per "
            f"cutoff ({time.perf_counter() - started:.1f}s); all: users with a rating before the cutoff, "
            "evaluated: the backtest's users"
        )
        print(table.to_string(index=False, float_format="{:.4%}".format))
        print("\nPer depth, over the cutoffs: the lowest share, and all cutoffs' users pooled")
        print(pool_depths(table).to_string(float_format="{:.4%}".format))
    return 0


if __name__ == "__main__":
    sys.exit(main())
