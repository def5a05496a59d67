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
MOVIES_COLUMNS = ["movieId", "title", "genres"]
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


def _ratings(sep: str, header: bool, fields: list[int] | None = None):
    """A chunked ratings reader (pandas' C parser); ``fields``: where the four columns are, if not 0..3."""
    options: dict[str, Any] = {"usecols": RATINGS_COLUMNS}
    if not header:
        options = {"header": None, "names": RATINGS_COLUMNS, "usecols": fields}

    def read(raw: IO[bytes], chunk_rows: int) -> Iterator[pd.DataFrame]:
        try:
            yield from pd.read_csv(
                raw, sep=sep, dtype=RATINGS_DTYPES, chunksize=chunk_rows, engine="c", **options
            )
        except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise FormatError(str(exc)) from exc

    return read


def _lines(raw: IO[bytes], encodings: tuple[str, ...]) -> Iterator[tuple[int, str]]:
    """The non-blank lines of a text file in the first of encodings that decodes it, numbered from 1."""
    data = raw.read()
    for encoding in encodings:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return ((n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip())
    raise FormatError(f"not text in {' or '.join(encodings)}")


def _genres(text: str) -> list[str]:
    return [] if text in ("", NO_GENRES) else text.split("|")


def _movies_csv(raw: IO[bytes]) -> Iterator[Movie]:
    reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
    header = next(reader, None)
    if header is None or [h.strip() for h in header[:3]] != MOVIES_COLUMNS:
        raise FormatError(f"header is {header}, expected movieId,title,genres")
    for line_no, rec in enumerate(reader, start=2):
        if not rec:
            continue
        try:
            yield int(rec[0]), rec[1], _genres(rec[2])
        except (ValueError, IndexError) as exc:
            raise FormatError(f"line {line_no} is malformed: {rec!r}") from exc


def _movies_dat(raw: IO[bytes]) -> Iterator[Movie]:
    for line_no, line in _lines(raw, ("utf-8", "latin-1")):
        parts = line.split("::")
        try:
            movie_id, title, genres = int(parts[0]), parts[1], parts[2]
        except (ValueError, IndexError) as exc:
            raise FormatError(f"line {line_no} is not MovieID::Title::Genres: {line!r}") from exc
        yield movie_id, title, _genres(genres)


def _movies_100k(raw: IO[bytes]) -> Iterator[Movie]:
    for line_no, line in _lines(raw, ("latin-1",)):
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


LAYOUTS = (
    Layout("csv", "ml-20m, ml-25m, ml-32m, ml-latest, ml-latest-small", "ratings.csv", "movies.csv",
           _ratings(",", header=True), _movies_csv),
    # "::"-separated, split at every ":": an empty field between every two values.
    Layout("dat", "ml-1m, ml-10m", "ratings.dat", "movies.dat",
           _ratings(":", header=False, fields=[0, 2, 4, 6]), _movies_dat),
    Layout("100k", "ml-100k", "u.data", "u.item", _ratings("\t", header=False), _movies_100k),
)  # fmt: skip
EXPECTED = "; or ".join(f"{layout.ratings} and {layout.movies} ({layout.releases})" for layout in LAYOUTS)
