"""The API's records as typed DataFrames: column dtypes, a fast page-by-page builder, movie fields."""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from airflow_movielens.exceptions import MovielensArgumentError, MovielensResponseError

__all__ = [
    "MOVIE_DTYPES",
    "RATING_COLUMNS",
    "RATING_DTYPES",
    "TEXT_DTYPE",
    "join_genres",
    "movie_id",
    "typed_frame",
]

#: Columns and dtypes of ``MovielensHook.get_ratings``.
RATING_DTYPES: dict[str, str] = {
    "userId": "int64",
    "movieId": "int64",
    "rating": "float64",
    "timestamp": "int64",
}
#: The rating columns, in the API's (and every output file's) order.
RATING_COLUMNS: tuple[str, ...] = tuple(RATING_DTYPES)
#: The text dtype of the installed pandas: ``object`` before pandas 3, ``str`` from pandas 3 on.
TEXT_DTYPE: str = str(pd.Series([], dtype=str).dtype)
#: Columns and dtypes of ``get_movies`` (``genres`` is ``|``-joined, as in movies.csv).
MOVIE_DTYPES: dict[str, str] = {"movieId": "int64", "title": TEXT_DTYPE, "genres": TEXT_DTYPE}


def typed_frame(
    pages: Iterable[list[Mapping[str, Any]]], dtypes: Mapping[str, str], url: str
) -> pd.DataFrame:
    """Build a typed DataFrame column by column, page by page (much faster than from a list of dicts)."""
    columns: dict[str, list[Any]] = {name: [] for name in dtypes}
    try:
        for page in pages:
            for name, values in columns.items():
                values.extend([item[name] for item in page])
    except KeyError as err:
        raise MovielensResponseError(
            f"an item of {url}'s result has no {err.args[0]!r} field", url=url
        ) from None
    return pd.DataFrame({name: _column(values, dtypes[name]) for name, values in columns.items()})


def _column(values: list[Any], dtype: str) -> Any:
    if dtype == TEXT_DTYPE:
        return pd.Series(np.array(values, dtype=object), dtype=dtype)
    return np.array(values, dtype=dtype)


def join_genres(genres: Any) -> str:
    """``|``-joined genres, as in movies.csv (the API sends a list)."""
    if isinstance(genres, str):
        return genres
    if not genres:
        return "(no genres listed)"
    return "|".join(genres)


def movie_id(value: Any) -> int:
    """A movie id as an ``int``; digits in a string are accepted, anything else is a bad argument."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    try:
        return operator.index(value)  # int and numpy integers; not bool-like floats or "1.5"
    except TypeError:
        raise MovielensArgumentError(f"movie ids must be integers, got {value!r}") from None
