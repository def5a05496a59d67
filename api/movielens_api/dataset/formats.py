"""The MovieLens release formats: which files a release keeps its ratings and movies in, and how to read them.

* ``csv`` -- ml-20m, ml-25m, ml-32m, ml-latest, ml-latest-small: ``ratings.csv`` with the header
  ``userId,movieId,rating,timestamp``; ``movies.csv`` (``movieId,title,genres``; genres ``|``-separated),
  UTF-8.
* ``dat`` -- ml-1m, ml-10m: ``ratings.dat`` lines ``UserID::MovieID::Rating::Timestamp``; ``movies.dat`` lines
  ``MovieID::Title::Genres`` (ml-1m's in Latin-1).
* ``100k`` -- ml-100k: ``u.data``, tab-separated ``user item rating timestamp``; ``u.item``, ``|``-separated,
  Latin-1: id, title, release date, video release date, IMDb URL and 19 genre flags.

Every reader yields the same thing: ratings as DataFrame chunks of :data:`RATINGS_COLUMNS`, movies as
``(movieId, title, [genre, ...])``. Only numpy, pandas and the standard library: the API and the project's
tools (``make evaluate``) read releases through this one module.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import pandas as pd

RATINGS_COLUMNS = ["userId", "movieId", "rating", "timestamp"]
RATINGS_DTYPES = {"userId": np.int64, "movieId": np.int64, "rating": np.float64, "timestamp": np.int64}
NO_GENRES = "(no genres listed)"
#: ml-100k's genre flags, in u.item's order (its u.genre); "unknown" means no genre.
GENRES_100K = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip

Movie = tuple[int, str, list[str]]


class FormatError(ValueError):
    """A file that is not in the format of its release."""


class _DoubleColon(io.RawIOBase):
    """``a::b::c`` lines as ``a,b,c`` (ratings.dat holds integers and a rating only), streamed."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while True:
            chunk = self.raw.read(max(len(b) - 1, 1))
            data, self.pending = self.pending + chunk, b""
            if chunk and data.endswith(b":") and not data.endswith(b"::"):
                data, self.pending = data[:-1], b":"  # a separator split across two reads
            if data or not chunk:
                break
        data = data.replace(b"::", b",")
        b[: len(data)] = data
        return len(data)


def _ratings(sep: str, header: bool, wrap: Callable[[IO[bytes]], IO[bytes]] | None = None):
    def read(raw: IO[bytes], chunk_rows: int) -> Iterator[pd.DataFrame]:
        stream = io.BufferedReader(wrap(raw), buffer_size=1 << 22) if wrap else raw
        options: dict[str, Any] = (
            {"usecols": RATINGS_COLUMNS} if header else {"header": None, "names": RATINGS_COLUMNS}
        )
        try:
            yield from pd.read_csv(
                stream, sep=sep, dtype=RATINGS_DTYPES, chunksize=chunk_rows, engine="c", **options
            )
        except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise FormatError(str(exc)) from exc

    return read


def _text(raw: IO[bytes], encodings: tuple[str, ...]) -> str:
    data = raw.read()
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise FormatError(f"not text in {' or '.join(encodings)}")


def _genres(text: str) -> list[str]:
    return [] if text in ("", NO_GENRES) else text.split("|")


def _movies_csv(raw: IO[bytes]) -> Iterator[Movie]:
    reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
    header = next(reader, None)
    if header is None or [h.strip() for h in header[:3]] != ["movieId", "title", "genres"]:
        raise FormatError(f"header is {header}, expected movieId,title,genres")
    for line_no, rec in enumerate(reader, start=2):
        if not rec:
            continue
        try:
            yield int(rec[0]), rec[1], _genres(rec[2])
        except (ValueError, IndexError) as exc:
            raise FormatError(f"line {line_no} is malformed: {rec!r}") from exc


def _movies_dat(raw: IO[bytes]) -> Iterator[Movie]:
    for line_no, line in enumerate(_text(raw, ("utf-8", "latin-1")).splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("::")
        try:
            movie_id, title, genres = int(parts[0]), parts[1], parts[2]
        except (ValueError, IndexError) as exc:
            raise FormatError(f"line {line_no} is not MovieID::Title::Genres: {line!r}") from exc
        yield movie_id, title, _genres(genres)


def _movies_100k(raw: IO[bytes]) -> Iterator[Movie]:
    for line_no, line in enumerate(_text(raw, ("latin-1",)).splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("|")
        flags = parts[5:]
        if len(flags) != len(GENRES_100K) or any(flag not in ("0", "1") for flag in flags):
            raise FormatError(f"line {line_no} does not end in {len(GENRES_100K)} genre flags: {line!r}")
        try:
            movie_id = int(parts[0])
        except ValueError as exc:
            raise FormatError(f"line {line_no} has no movie id: {line!r}") from exc
        genres = [
            name for name, flag in zip(GENRES_100K, flags, strict=True) if flag == "1" and name != "unknown"
        ]
        yield movie_id, parts[1], genres


@dataclass(frozen=True)
class Layout:
    """Where a release keeps its ratings and movies, and their readers."""

    name: str
    releases: str
    ratings: str
    movies: str
    read_ratings: Callable[[IO[bytes], int], Iterator[pd.DataFrame]]
    read_movies: Callable[[IO[bytes]], Iterator[Movie]]

    def describe(self) -> str:
        return f"{self.ratings} and {self.movies} ({self.releases})"


LAYOUTS = (
    Layout("csv", "ml-20m, ml-25m, ml-32m, ml-latest, ml-latest-small", "ratings.csv", "movies.csv",
           _ratings(",", header=True), _movies_csv),
    Layout("dat", "ml-1m, ml-10m", "ratings.dat", "movies.dat",
           _ratings(",", header=False, wrap=_DoubleColon), _movies_dat),
    Layout("100k", "ml-100k", "u.data", "u.item", _ratings("\t", header=False), _movies_100k),
)  # fmt: skip
EXPECTED = "; or ".join(layout.describe() for layout in LAYOUTS)
