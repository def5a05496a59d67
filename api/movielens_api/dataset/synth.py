"""Synthetic twin of MovieLens 25M in MovieLens's own CSV format.

Shape follows ml-25m: Zipf-like movie popularity and user activity, every user with at least 20 ratings
(when rows allow), the real half-star histogram, no (user, movie) pair rated twice, sparse movie ids,
titles ``Name (Year)`` and ``|``-joined genres, and timestamps whose volume rises over the years.
"""

from __future__ import annotations

import csv
import logging
import os
import time
import zipfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np

from movielens_api.dataset.formats import MOVIES_COLUMNS, NO_GENRES, RATINGS_COLUMNS

log = logging.getLogger(__name__)


def _split(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# ml-25m's rating histogram, 0.5 .. 5.0 stars.
RATING_COUNTS = np.array(
    [393_068, 776_815, 399_490, 1_640_868, 1_262_797, 4_896_928, 3_177_318, 6_639_798, 2_200_539, 3_612_474],
    dtype=np.float64,
)
GENRES = _split(
    "Action Adventure Animation Children Comedy Crime Documentary Drama Fantasy Film-Noir Horror IMAX "
    "Musical Mystery Romance Sci-Fi Thriller War Western"
)
_WORDS = _split(
    "Love Night Dark Last City Man Woman Story Day Life Dead Time Girl Boy Secret House King Queen "
    "Blue Red Black White Summer Winter Road River Star Moon Sun Fire Ice Dream Heart Ghost Shadow "
    "War Game Big Little Lost Wild Silent Golden Broken Hidden Forgotten Return Rise Fall Journey "
    "Island Mountain Ocean Street Party Wedding Family Brothers Sisters Angel Devil Hunter Killer "
    "Detective Doctor Amélie Café Señor Über Noël"
)
_ARTICLES = ("The", "A", "Les", "La", "Das")


@dataclass(frozen=True)
class SynthSpec:
    """Parameters of a synthetic dataset (defaults = ml-25m's shape)."""

    rows: int = 25_000_095
    users: int = 162_541
    movies: int = 62_423
    start: date = date(1995, 1, 9)
    end: date = date(2019, 11, 22)  # exclusive: the last ml-25m rating is on 2019-11-21
    seed: int = 25

    def validate(self) -> None:
        """Raise ValueError if the dataset cannot exist."""
        if self.rows < 1 or self.users < 1 or self.movies < 1:
            raise ValueError("rows, users and movies must be >= 1")
        if self.rows > self.users * self.movies // 2:
            raise ValueError("rows must be at most users * movies / 2 (each user rates a movie once)")
        if self.end <= self.start:
            raise ValueError("end date must be after start date")
        if _epoch(self.start) < 0 or _epoch(self.end) > 2**32 - 1:
            raise ValueError("dates must lie between 1970-01-01 and 2106-02-07")


def _epoch(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def _zipf_weights(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Zipf-like weights for n items, in random item order."""
    w = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** exponent
    return rng.permutation(w / w.sum())


def user_counts(spec: SynthSpec, rng: np.random.Generator) -> np.ndarray:
    """Ratings per user: a floor of up to 20 each, the rest spread by Zipf-like activity, capped."""
    floor = min(20, spec.rows // spec.users)
    counts = np.full(spec.users, floor, dtype=np.int64)
    cap = max(floor, spec.movies // 2)
    extra = spec.rows - counts.sum()
    weights = _zipf_weights(spec.users, 0.75, rng)
    while extra > 0:
        counts += rng.multinomial(extra, weights)
        over = np.maximum(counts - cap, 0)
        counts -= over
        extra = int(over.sum())
        weights = np.where(counts < cap, weights, 0.0)
        weights /= weights.sum()
    return counts


def _contains(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    pos = np.minimum(np.searchsorted(sorted_keys, keys), max(len(sorted_keys) - 1, 0))
    return sorted_keys[pos] == keys if len(sorted_keys) else np.zeros(len(keys), bool)


def _make_pairs_unique(
    users: np.ndarray, movies: np.ndarray, cdf: np.ndarray, n_movies: int, rng: np.random.Generator
) -> None:
    """Redraw (in place) the movie of every repeated (user, movie) pair until all pairs are unique.

    One sort of all keys, then each round only re-checks the redrawn rows against the accepted keys;
    after a few popularity-weighted rounds the remaining (heavy-user) rows draw uniformly.
    """
    key = users.astype(np.int64) * n_movies + movies
    order = np.argsort(key)
    sorted_keys = key[order]
    repeat = np.concatenate([[False], sorted_keys[1:] == sorted_keys[:-1]])
    taken = sorted_keys[~repeat]
    pending = np.sort(order[repeat])
    added = np.empty(0, np.int64)
    del key, order, sorted_keys, repeat
    for attempt in range(1000):
        if not len(pending):
            return
        draws = rng.random(len(pending))
        new = np.searchsorted(cdf, draws) if attempt < 4 else (draws * n_movies).astype(np.int64)
        new_keys = users[pending].astype(np.int64) * n_movies + new
        ok = ~(_contains(taken, new_keys) | _contains(added, new_keys))
        first_of_key = np.zeros(len(new_keys), bool)
        first_of_key[np.unique(new_keys, return_index=True)[1]] = True  # no key twice within one round
        ok &= first_of_key
        movies[pending[ok]] = new[ok]
        added = np.sort(np.concatenate([added, new_keys[ok]]))
        pending = pending[~ok]
    raise RuntimeError("could not draw unique (user, movie) pairs")  # pragma: no cover


def ratings_arrays(spec: SynthSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Generate the ratings columns (unsorted by time): userId, movieId index, half-stars, timestamp."""
    spec.validate()
    rng = np.random.default_rng(spec.seed)
    counts = user_counts(spec, rng)
    users = np.repeat(np.arange(1, spec.users + 1, dtype=np.int32), counts)
    cdf = np.cumsum(_zipf_weights(spec.movies, 1.0, rng))  # movie popularity
    cdf[-1] = 1.0
    movies = np.searchsorted(cdf, rng.random(spec.rows)).astype(np.int32)
    _make_pairs_unique(users, movies, cdf, spec.movies, rng)
    half_stars = (rng.choice(10, size=spec.rows, p=RATING_COUNTS / RATING_COUNTS.sum()) + 1).astype(np.uint8)
    # Volume rising over the years: density growing linearly from 1 to 4 across the range.
    lo, hi = _epoch(spec.start), _epoch(spec.end)
    u = rng.random(spec.rows)
    frac = (np.sqrt(1.0 + 15.0 * u) - 1.0) / 3.0  # inverse CDF of density (1 + 3x) / 2.5 on [0, 1)
    ts = np.minimum(lo + (frac * (hi - lo)).astype(np.int64), hi - 1)
    return users, movies, half_stars, ts


def movie_table(spec: SynthSpec) -> tuple[np.ndarray, list[str], list[str]]:
    """Sparse sorted movie ids (like ml-25m's 1..209171) with titles and genres."""
    rng = np.random.default_rng(spec.seed + 1)
    id_space = max(spec.movies, int(spec.movies * 3.35))
    ids = np.sort(rng.choice(np.arange(1, id_space + 1), size=spec.movies, replace=False)).astype(np.int32)
    if spec.movies:
        ids[0] = 1
    years = np.clip(np.rint(2020 - rng.exponential(18.0, spec.movies)), 1902, 2019).astype(int)
    titles, genres = [], []
    words = np.array(_WORDS)
    n_words = rng.integers(1, 4, spec.movies)
    picks = rng.integers(0, len(words), (spec.movies, 3))
    article = rng.random(spec.movies)
    n_genres = rng.choice([0, 1, 2, 3, 4], size=spec.movies, p=[0.08, 0.35, 0.32, 0.17, 0.08])
    genre_picks = rng.random((spec.movies, len(GENRES))).argsort(axis=1)
    for i in range(spec.movies):
        name = " ".join(words[picks[i, : n_words[i]]])
        if article[i] < 0.1:  # MovieLens style: "Name, The (1999)" -> quoted in the CSV
            name = f"{name}, {_ARTICLES[i % len(_ARTICLES)]}"
        elif article[i] < 0.12:
            name = f'"{name}"'
        titles.append(f"{name} ({years[i]})")
        chosen = sorted(GENRES[g] for g in genre_picks[i, : n_genres[i]])
        genres.append("|".join(chosen) if chosen else NO_GENRES)
    return ids, titles, genres


_FIVE = 100_000
_FIVE_DIGITS = (np.arange(_FIVE)[:, None] // 10 ** np.arange(4, -1, -1) % 10 + 48).astype(np.uint8)
_STARS = np.array([list(f"{h / 2:.1f}".encode()) for h in range(11)], dtype=np.uint8)  # "0.0" .. "5.0"


def _digits(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ASCII digits of non-negative ints, right-aligned, plus the mask that drops the leading zeros (five
    digits per lookup in a table: one integer division per five digits)."""
    v = full = values.astype(np.int64)
    width = len(str(int(full.max())))
    groups = []
    for _ in range((width + 4) // 5):
        v, low = np.divmod(v, _FIVE)
        groups.append(_FIVE_DIGITS[low])
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return np.concatenate(groups[::-1], axis=1)[:, -width:], (full[:, None] >= powers) | (powers == 1)


def format_ratings(user: np.ndarray, movie: np.ndarray, half: np.ndarray, ts: np.ndarray) -> bytes:
    """CSV lines ``userId,movieId,rating,timestamp`` for the given rows, vectorised."""
    n = len(user)
    comma, newline = ((np.full((n, 1), ord(c), np.uint8), np.ones((n, 1), bool)) for c in ",\n")
    stars = (_STARS[half], np.ones((n, 3), bool))
    parts = [_digits(user), comma, _digits(movie), comma, stars, comma, _digits(ts), newline]
    chars, keep = (np.concatenate(columns, axis=1) for columns in zip(*parts, strict=True))
    return chars[keep].tobytes()


def synthesize(out: Path, spec: SynthSpec, chunk: int = 1_000_000) -> Path:
    """Write out/ratings.csv and out/movies.csv (sorted like ml-25m: by userId, then movieId)."""
    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    user, movie_index, half_stars, ts = ratings_arrays(spec)
    ids, titles, genres = movie_table(spec)
    order = np.argsort(user.astype(np.int64) << 32 | ids[movie_index].astype(np.int64))
    log.info("generated %d ratings in %.1fs", spec.rows, time.perf_counter() - t0)
    tmp = out / f".ratings.csv.{os.getpid()}.tmp"
    with tmp.open("wb") as fh:
        fh.write(",".join(RATINGS_COLUMNS).encode() + b"\n")
        for start in range(0, spec.rows, chunk):
            idx = order[start : start + chunk]
            fh.write(format_ratings(user[idx], ids[movie_index[idx]], half_stars[idx], ts[idx]))
    os.replace(tmp, out / "ratings.csv")
    tmp = out / f".movies.csv.{os.getpid()}.tmp"
    with tmp.open("w", encoding="utf-8", newline="") as fh:  # as MovieLens writes it: minimal quoting, LF
        rows = zip(ids.tolist(), titles, genres, strict=True)
        csv.writer(fh, lineterminator="\n").writerows([MOVIES_COLUMNS, *rows])
    os.replace(tmp, out / "movies.csv")
    log.info("wrote %s (%d ratings) in %.1fs", out, spec.rows, time.perf_counter() - t0)
    return out


def pack_zip(folder: Path) -> Path:
    """Pack folder's CSVs as GroupLens does: folder/<name>.zip with <name>/ratings.csv and movies.csv."""
    name = folder.resolve().name
    target = folder / f"{name}.zip"
    tmp = folder / f".{name}.zip.{os.getpid()}.tmp"
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for member in ("ratings.csv", "movies.csv"):
            zf.write(folder / member, f"{name}/{member}")
    os.replace(tmp, target)
    return target
