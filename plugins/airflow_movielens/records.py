"""The API's records: typed DataFrames of its pages, and the atomic, deterministic files they are written to.

The one place the provider, the DAGs and the ``tools/`` scripts write their outputs (no Airflow import until
an error is raised): under a temporary name in the target folder, fsynced, then renamed over the target, so
readers never see half a file, and the same records always give the same bytes (a rerun changes nothing).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import operator
import os
import secrets
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from airflow_movielens.dates import argument_error, response_error

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
        raise response_error(f"an item of {url}'s result has no {err.args[0]!r} field", url) from None
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
        raise argument_error(f"movie ids must be integers, got {value!r}") from None


#: ``.json`` (one list of objects), ``.jsonl`` (one object per line), ``.csv`` and ``.parquet``.
SUPPORTED_FORMATS = (".json", ".jsonl", ".csv", ".parquet")

Records = pd.DataFrame | Iterable[Mapping[str, Any]]


def record_format(path: str | os.PathLike[str]) -> str:
    """The format of ``path`` by its extension, one of :data:`SUPPORTED_FORMATS` (else an argument error)."""
    suffix = Path(path).suffix.lower()
    if suffix not in SUPPORTED_FORMATS:
        raise argument_error(
            f"cannot tell the output format of {os.fspath(path)!r}: "
            f"use one of the extensions {', '.join(SUPPORTED_FORMATS)}"
        )
    return suffix


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb", **open_kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path``; on success fsync it and rename it over ``path``.

    Parent folders are created. On error the temporary file is removed and ``path`` is left untouched.

    :param path: a local path, or a ``pathlib``-like object storage path (a ``protocol`` other than
        ``file``, e.g. Airflow's ``ObjectStoragePath`` on ``s3://``): a temporary object, then renamed.
    :param open_kwargs: passed to :func:`open` (e.g. ``encoding``, ``newline``).
    """
    if not any(flag in mode for flag in "wx") or "+" in mode:
        raise argument_error(f"atomic_open needs a plain write mode, got {mode!r}")
    if getattr(path, "protocol", "") not in ("", "file", "local"):
        with _atomic_object(path, mode.replace("x", "w"), open_kwargs) as handle:
            yield handle
        return
    target = Path(getattr(path, "path", None) or path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
    # Created like open() creates a file (0666 less the umask); O_EXCL: never someone else's file.
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        with open(tmp, mode.replace("x", "w"), **open_kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if target.exists():  # a replaced file keeps its mode
            os.chmod(tmp, target.stat().st_mode & 0o7777)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


@contextlib.contextmanager
def _atomic_object(target: Any, mode: str, open_kwargs: dict[str, Any]) -> Iterator[IO[Any]]:
    """:func:`atomic_open` on object storage: a temporary object, renamed over the target once written."""
    tmp = target.parent / f".{target.name}.{secrets.token_hex(8)}.tmp"
    try:
        with tmp.open(mode, **open_kwargs) as handle:
            yield handle
        tmp.rename(target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_records(path: str | os.PathLike[str], records: Records) -> int:
    """Write ``records`` (a DataFrame or an iterable of mappings) to ``path`` atomically; return how many.

    The format follows the extension (:func:`record_format`). Missing values (``None``/``NaN``) become JSON
    ``null``, empty CSV fields or parquet nulls. Column order is the DataFrame's, or the first record's keys
    followed by keys first seen later.
    """
    fmt = record_format(path)
    if isinstance(records, pd.DataFrame):
        frame = records
    else:  # pandas orders the columns as the keys are first seen (the first record's, then later ones)
        frame = pd.DataFrame.from_records([dict(row) for row in records])
    if fmt == ".parquet":
        with atomic_open(path) as handle:
            frame.to_parquet(handle, index=False)  # pyarrow, snappy
    elif fmt == ".csv":
        with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
            frame.to_csv(handle, index=False, lineterminator="\n")
    else:
        rows = [_dumps(row) for row in _json_rows(frame)]
        with atomic_open(path, "w", encoding="utf-8", newline="\n") as handle:
            if fmt == ".json":  # one JSON list, like the seed
                handle.write(f"[{', '.join(rows)}]\n")
            else:
                handle.writelines(f"{row}\n" for row in rows)
    return len(frame)


def read_records(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a file written by :func:`atomic_write_records` back into a DataFrame (format by extension)."""
    fmt = record_format(path)
    if fmt == ".parquet":
        return pd.read_parquet(path)
    if fmt == ".csv":
        return pd.read_csv(path)
    with open(path, encoding="utf-8") as handle:
        rows = json.load(handle) if fmt == ".json" else [json.loads(line) for line in handle if line.strip()]
    return pd.DataFrame.from_records(rows)


def _json_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    frame = frame.set_axis([str(col) for col in frame.columns], axis="columns")
    if len(frame) and frame.isna().to_numpy().any():
        frame = frame.astype(object).where(frame.notna(), None)
    return frame.to_dict("records")  # pandas boxes numpy scalars to Python ones here


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date)):  # pandas Timestamp included
        return value.isoformat()
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    return str(value)


_dumps = functools.partial(json.dumps, ensure_ascii=False, allow_nan=False, default=_json_default)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
