"""The serving cache: memory-mapped numpy columns sorted by (timestamp, userId, movieId).

Layout of a cache directory (format version in ``manifest.json``, written last):
``timestamp.npy userId.npy movieId.npy rating.npy`` (ratings), ``movie_ids.npy`` + ``movies.jsonl``
(movies sorted by id, one pre-serialised JSON object per line). A cache is served only if its manifest
has the current version, matches the source's fingerprint, and every file has its recorded size and CRC32.
Numpy and the standard library only: the project's tools (the Airflow venv, no orjson) import it too.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from movielens_api.dataset.source import Source

log = logging.getLogger(__name__)

FORMAT = "movielens-api-serving-cache"
VERSION = 1
MANIFEST = "manifest.json"
CACHE_NAME = ".movielens-api-cache"
RATING_COLUMNS = ("timestamp", "userId", "movieId", "rating")
MOVIE_IDS = "movie_ids.npy"
MOVIES_JSONL = "movies.jsonl"


class CacheInvalid(Exception):
    """The cache is missing, stale or corrupt; the message says why."""


def default_cache_root() -> Path:
    """Where the synthetic twin and fallback caches live: env MOVIELENS_CACHE_DIR or api/.data."""
    return Path(os.environ.get("MOVIELENS_CACHE_DIR") or Path(__file__).resolve().parents[1] / ".data")


def _writable(directory: Path) -> bool:
    nearest = next(p for p in (directory, *directory.parents) if p.exists())
    return os.access(nearest, os.W_OK | os.X_OK)


def candidate_dirs(source: Source, cache_root: Path) -> list[Path]:
    """Cache locations in order of preference: next to the source, then under cache_root."""
    path = source.path
    beside = path.parent / f".{path.name}{CACHE_NAME}" if source.is_zip else path / CACHE_NAME
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:16]
    return [beside, cache_root / "serving" / f"{source.name}-{digest}"]


def build_dir(source: Source, cache_root: Path) -> Path:
    """Where a new cache for source is written: beside it if writable, else under cache_root."""
    beside, fallback = candidate_dirs(source, cache_root)
    return beside if _writable(beside.parent) else fallback


@contextlib.contextmanager
def build_lock(target: Path) -> Iterator[None]:
    """Exclusive lock so that concurrent processes build one cache only once."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name.lstrip('.')}.lock", "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # released when the file is closed
        yield


def _crc32(path: Path) -> int:
    crc = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 24):
            crc = zlib.crc32(chunk, crc)
    return crc


def write_cache(
    target: Path,
    columns: dict[str, np.ndarray],
    movie_ids: np.ndarray,
    movies: list[bytes],
    meta: dict[str, Any],
) -> None:
    """Write a complete cache atomically: into a temporary sibling, then renamed over target."""
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in RATING_COLUMNS:
        np.save(tmp / f"{name}.npy", np.ascontiguousarray(columns[name]), allow_pickle=False)
    np.save(tmp / MOVIE_IDS, movie_ids, allow_pickle=False)
    (tmp / MOVIES_JSONL).write_bytes(b"\n".join(movies) + b"\n" if movies else b"")
    files = {f.name: {"bytes": f.stat().st_size, "crc32": _crc32(f)} for f in sorted(tmp.iterdir())}
    manifest = {"format": FORMAT, "version": VERSION, **meta, "files": files}
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    for f in tmp.iterdir():
        with f.open("rb") as fh:
            os.fsync(fh.fileno())
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


@dataclass(frozen=True)
class ServingData:
    """Memory-mapped ratings columns plus the movie table, ready to answer queries."""

    name: str
    timestamp: np.ndarray
    user: np.ndarray
    movie: np.ndarray
    rating: np.ndarray
    rating_scale: float  # multiply stored ratings by this to get stars
    movie_ids: np.ndarray
    movies: list[bytes]
    cache_dir: Path

    @property
    def rows(self) -> int:
        return len(self.timestamp)

    def health(self) -> dict[str, Any]:
        """Summary for /health."""
        first, last = (int(self.timestamp[0]), int(self.timestamp[-1])) if self.rows else (None, None)
        return {
            "status": "ok",
            "dataset": self.name,
            "rows": self.rows,
            "movies": len(self.movie_ids),
            "first_rating_date": _day(first),
            "last_rating_date": _day(last),
            # The newest rating (epoch seconds): a client's window [start, end) with end <= this is closed.
            "last_rating_timestamp": last,
        }


def _day(ts: int | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=UTC).date().isoformat()


def open_cache(target: Path, source: Source | None, verify_checksums: bool = True) -> ServingData:
    """Memory-map a cache that is complete, current and uncorrupted; raise CacheInvalid if it is not."""
    try:
        manifest = json.loads((target / MANIFEST).read_bytes())
    except FileNotFoundError as exc:
        raise CacheInvalid(f"no cache at {target}") from exc
    except (OSError, ValueError) as exc:  # ValueError: not JSON, or not UTF-8
        raise CacheInvalid(f"unreadable manifest in {target}: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CacheInvalid(f"{target} is not a serving cache")
    if manifest.get("version") != VERSION:
        raise CacheInvalid(f"{target} has cache version {manifest.get('version')}, need {VERSION}")
    if source is not None and manifest.get("source") != source.fingerprint():
        raise CacheInvalid(f"{target} is stale: the source changed")
    files = manifest.get("files")
    expected = {f"{c}.npy" for c in RATING_COLUMNS} | {MOVIE_IDS, MOVIES_JSONL}
    if not isinstance(files, dict) or set(files) != expected:
        raise CacheInvalid(f"{target} has an incomplete file list")
    for file, info in files.items():
        path = target / file
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise CacheInvalid(f"{path} is missing") from exc
        if size != info.get("bytes"):
            raise CacheInvalid(f"{path} has {size} bytes, expected {info.get('bytes')}")
        if verify_checksums and _crc32(path) != info.get("crc32"):
            raise CacheInvalid(f"{path} fails its CRC32 check")
    try:
        cols = [np.load(target / f"{c}.npy", mmap_mode="r", allow_pickle=False) for c in RATING_COLUMNS]
        movie_ids = np.load(target / MOVIE_IDS, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise CacheInvalid(f"{target}: {exc}") from exc
    n = manifest.get("rows")
    if any(a.ndim != 1 or len(a) != n for a in cols):
        raise CacheInvalid(f"{target}: column lengths differ from the manifest's {n} rows")
    movies = (target / MOVIES_JSONL).read_bytes().splitlines()
    if len(movies) != len(movie_ids) or movie_ids.ndim != 1:
        raise CacheInvalid(f"{target}: movie table is inconsistent")
    timestamp, user, movie, rating = (np.asarray(a) for a in cols)
    name, scale = str(manifest.get("dataset", target.name)), float(manifest.get("rating_scale", 1.0))
    return ServingData(name, timestamp, user, movie, rating, scale, movie_ids, movies, target)


def find_valid(
    source: Source, cache_root: Path, verify_checksums: bool = True, warn: Callable[[str], None] = log.warning
) -> ServingData | None:
    """The first valid cache for source among the candidate locations, or None (why not: to ``warn``)."""
    for target in candidate_dirs(source, cache_root):
        try:
            return open_cache(target, source, verify_checksums)
        except CacheInvalid as exc:
            if target.exists():
                warn(f"not serving cache: {exc}")
    return None
