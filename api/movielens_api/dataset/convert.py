"""Convert a MovieLens folder or zip into the serving cache (one-time, logs rows/s)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import orjson

from movielens_api import cache
from movielens_api.dataset.formats import RATINGS_COLUMNS, FormatError
from movielens_api.dataset.source import Source, SourceError

log = logging.getLogger(__name__)

INT32_MAX = 2**31 - 1


def read_ratings(source: Source, chunk_rows: int = 2_000_000) -> dict[str, np.ndarray]:
    """Parse the source's ratings (any release format) into numpy columns, logging progress."""
    member = source.layout.ratings
    total_bytes = max(source.size("ratings"), 1)
    parts: dict[str, list[np.ndarray]] = {c: [] for c in RATINGS_COLUMNS}
    t0 = time.perf_counter()
    rows = 0
    with source.open("ratings") as raw:
        try:
            for frame in source.layout.read_ratings(raw, chunk_rows):
                for c in RATINGS_COLUMNS:
                    parts[c].append(frame[c].to_numpy())
                rows += len(frame)
                done, rate = 100.0 * raw.tell() / total_bytes, rows / max(time.perf_counter() - t0, 1e-9)
                log.info("%s: %s rows (%.0f%%), %s rows/s", member, f"{rows:,}", done, f"{rate:,.0f}")
        except FormatError as exc:
            raise SourceError(f"{member} is not in MovieLens format: {exc}") from exc
    return {c: np.concatenate(p) if p else np.empty(0, np.int64) for c, p in parts.items()}


def to_serving_columns(cols: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], float]:
    """Validate, narrow dtypes and sort by (timestamp, userId, movieId)."""
    user, movie, rating, ts = (cols[c] for c in RATINGS_COLUMNS)
    for name, arr in (("userId", user), ("movieId", movie)):
        if len(arr) and (arr.min() < 0 or arr.max() > INT32_MAX):
            raise SourceError(f"ratings: {name} out of range")
    if len(rating) and not np.isfinite(rating).all():
        raise SourceError("ratings: non-numeric rating")
    doubled = rating * 2
    if len(rating) == 0 or (
        np.array_equal(doubled, np.round(doubled)) and doubled.min() >= 0 and doubled.max() <= 255
    ):
        stored_rating, scale = doubled.astype(np.uint8), 0.5
    else:
        stored_rating, scale = rating.astype(np.float64), 1.0
    ts_dtype = np.uint32 if len(ts) == 0 or (ts.min() >= 0 and ts.max() <= 2**32 - 1) else np.int64
    order = np.lexsort((movie, user, ts))
    narrowed = (ts.astype(ts_dtype), user.astype(np.int32), movie.astype(np.int32), stored_rating)
    return {name: column[order] for name, column in zip(cache.RATING_COLUMNS, narrowed, strict=True)}, scale


def read_movies(source: Source) -> tuple[np.ndarray, list[bytes]]:
    """Parse the source's movies (any release format) into sorted ids and one JSON object per movie."""
    member = source.layout.movies
    with source.open("movies") as raw:
        try:
            rows = [
                (movie_id, orjson.dumps({"movieId": movie_id, "title": title, "genres": genres}))
                for movie_id, title, genres in source.layout.read_movies(raw)
            ]
        except FormatError as exc:
            raise SourceError(f"{member}: {exc}") from exc
    rows.sort(key=lambda r: r[0])
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    if len(ids) and (np.any(np.diff(ids) == 0) or ids.min() < 0 or ids.max() > INT32_MAX):
        raise SourceError(f"{member} has duplicate or out-of-range movieIds")
    return ids.astype(np.int32), [r[1] for r in rows]


def convert(source: Source, target: Path) -> Path:
    """Build the serving cache for source at target (atomic; caller holds the build lock)."""
    t0 = time.perf_counter()
    fingerprint = source.fingerprint()
    raw = read_ratings(source)
    t_parse = time.perf_counter() - t0
    columns, scale = to_serving_columns(raw)
    del raw
    movie_ids, movies = read_movies(source)
    rows = len(columns["timestamp"])
    meta = {"dataset": source.name, "source": fingerprint, "rows": rows, "rating_scale": scale}
    cache.write_cache(target, columns, movie_ids, movies, meta)
    elapsed = time.perf_counter() - t0
    log.info(
        "converted %s: %s ratings, %s movies in %.1fs (parse %.1fs, %s rows/s overall) -> %s",
        source.path,
        f"{rows:,}",
        f"{len(movie_ids):,}",
        elapsed,
        t_parse,
        f"{rows / max(elapsed, 1e-9):,.0f}",
        target,
    )
    return target


def ensure_cache(source: Source, cache_root: Path, force: bool = False) -> Path:
    """Return a valid cache directory for source, building it (once, under a lock) if needed."""
    if not force and (found := cache.find_valid(source, cache_root)) is not None:
        return found.cache_dir
    target = cache.build_dir(source, cache_root)
    with cache.build_lock(target):
        if not force and (found := cache.find_valid(source, cache_root)) is not None:
            return found.cache_dir
        return convert(source, target)
