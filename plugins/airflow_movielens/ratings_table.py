"""The ``ratings`` table of a SQL database: replace one interval's ratings in one transaction.

The one loader of the DAG tasks and :class:`~airflow_movielens.transfers.MovielensRatingsToSqlOperator`, on
any common-sql ``DbApiHook`` (tested on SQLite and PostgreSQL). The records are streamed page by page (memory
stays bounded by one page) into a session-local staging table (on PostgreSQL one binary ``COPY`` a page,
``executemany`` elsewhere), every value type-checked, then checked against the interval and the caller's
count; then ONE transaction deletes the interval's rows, inserts the staged ones and marks each day in
``loaded_days``, so a reader tells a day without ratings from a day not loaded yet. A rerun never duplicates
rows, a failure leaves the old rows, and the write lock (PostgreSQL: one that still lets readers in) is held
only for that last step, not while the API is paged.

History loads (longer than :data:`DIRECT_LOAD_DAYS`) write straight into the table, and create the
``(userId, movieId)`` index only after their rows: kept up to date row by row, it made a 25M-rating load into
PostgreSQL three times slower.
"""

from __future__ import annotations

import io
import itertools
import logging
import numbers
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from airflow_movielens.dates import DAY_SECONDS, DateLike, as_midnight, validate_interval
from airflow_movielens.exceptions import MovielensArgumentError
from airflow_movielens.records import RATING_COLUMNS, RATING_DTYPES

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

log = logging.getLogger(__name__)

RATINGS_TABLE = "ratings"
#: One row per loaded UTC day: ``day_start`` (epoch seconds of its midnight), ``loaded_at``.
LOADED_DAYS_TABLE = "loaded_days"
#: Longer intervals skip the staging table: no second copy of millions of rows, at the price of holding the
#: table's write lock (readers still get in) while the API is paged.
DIRECT_LOAD_DAYS = 31
#: Per dtype of RATING_DTYPES: its SQL type, the Python numbers it takes, its type in COPY's binary format.
_KINDS = {"int64": ("BIGINT", numbers.Integral, ">i8"), "float64": ("DOUBLE PRECISION", numbers.Real, ">f8")}
_TYPES = {name: _KINDS[dtype][1:] for name, dtype in RATING_DTYPES.items()}
# The API's field names, quoted in SQL so that PostgreSQL keeps their case.
_COLUMNS_DDL = ", ".join(f'"{name}" {_KINDS[dtype][0]} NOT NULL' for name, dtype in RATING_DTYPES.items())
_COLUMN_LIST = ", ".join(f'"{name}"' for name in RATING_COLUMNS)
_STAGING = "movielens_ratings_staging"
#: Key of the PostgreSQL advisory lock that serialises concurrent ``CREATE TABLE IF NOT EXISTS`` of this
#: table and of every other table created in the same database (the pipeline's result tables take it too).
DDL_LOCK_KEY = 7_404_518_273
#: PostgreSQL's ``NAMEDATALEN - 1``: the longest identifier, in bytes.
MAX_IDENTIFIER_LENGTH = 63
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


def sql_identifier(value: object, name: str) -> str:
    """``value`` if it is a plain SQL identifier, else :class:`MovielensArgumentError` naming ``name``.

    Names from arguments (a templated ``table`` or ``schema``) go into SQL in double quotes, which a quote, a
    semicolon or whitespace could leave. The rule is PostgreSQL's for unquoted identifiers, valid in SQLite.
    """
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
        raise MovielensArgumentError(
            f"{name} must be a SQL identifier (a letter or _, then letters, digits, _ or $), got {value!r}"
        )
    if len(value.encode("utf-8")) > MAX_IDENTIFIER_LENGTH:
        raise MovielensArgumentError(
            f"{name} must be at most {MAX_IDENTIFIER_LENGTH} bytes long, got {value!r} ({len(value)})"
        )
    return value


def quoted_name(table: str, schema: str | None = None) -> str:
    """``"schema"."table"``, or ``"table"`` without a schema: the one way a checked name reaches SQL."""
    sql_identifier(table, "table")
    return f'"{sql_identifier(schema, "schema")}"."{table}"' if schema else f'"{table}"'


def _is_postgres(hook: DbApiHook) -> bool:
    return getattr(hook, "conn_type", None) == "postgres"


def qualified_name(hook: DbApiHook, table: str = RATINGS_TABLE, schema: str | None = None) -> str:
    """:func:`quoted_name` on databases with schemas; SQLite has none, so there ``schema`` is left out."""
    return quoted_name(table, None if getattr(hook, "conn_type", None) == "sqlite" else schema)


def _user_index(cur: Any, table: str, name: str) -> None:
    cur.execute(f'CREATE INDEX IF NOT EXISTS "{table}_user_idx" ON {name} ("userId", "movieId")')


def _ensure_table(
    conn: Any, hook: DbApiHook, table: str, schema: str | None, days_table: str | None, user_index: bool
) -> tuple[str, str | None]:
    name = qualified_name(hook, table, schema)
    cur = conn.cursor()
    if _is_postgres(hook):  # two first loads at once would both try to create the table's row type
        cur.execute(f"SELECT pg_advisory_xact_lock({DDL_LOCK_KEY})")
        if schema:
            cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    cur.execute(f"CREATE TABLE IF NOT EXISTS {name} ({_COLUMNS_DDL})")
    cur.execute(f'CREATE INDEX IF NOT EXISTS "{table}_timestamp_idx" ON {name} ("timestamp")')
    if user_index:
        _user_index(cur, table, name)
    days = None
    if days_table:
        days = qualified_name(hook, days_table, schema)
        cur.execute(
            f'CREATE TABLE IF NOT EXISTS {days} ("day_start" BIGINT PRIMARY KEY, '
            '"loaded_at" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)'
        )
    conn.commit()
    return name, days


def _pages(records: Iterable[Mapping[str, Any]], page_size: int) -> Iterator[list[tuple]]:
    """Rows as tuples in :data:`RATING_COLUMNS` order, ``page_size`` at a time."""
    rows = ((row["userId"], row["movieId"], row["rating"], row["timestamp"]) for row in records)
    while page := list(itertools.islice(rows, page_size)):
        yield page


#: COPY's binary format: a header (signature, flags, no extension), rows, a trailer (field count -1). A row
#: is its field count, then each column behind its length.
_COPY_HEADER, _COPY_TRAILER = b"PGCOPY\n\xff\r\n\x00" + bytes(8), b"\xff\xff"
_COPY_ROW = np.dtype(
    [("fields", ">i2")]
    + [pair for name in RATING_COLUMNS for pair in ((f"{name}_len", ">i4"), (name, _TYPES[name][1]))]
)


def _columns(page: Sequence[tuple]) -> dict[str, np.ndarray]:
    """A page's columns as numpy arrays, each checked to hold numbers of its column's type.

    :raises ValueError: an id or a timestamp that is not an integer, or a rating that is not a number
        (``bool`` is neither), or a value beyond 64 bits.
    """
    columns = {}
    for name, values in zip(RATING_COLUMNS, zip(*page, strict=True), strict=True):
        kind, binary = _TYPES[name]
        wrong = {t for t in set(map(type, values)) if t is bool or not issubclass(t, kind)}
        if wrong:
            value = next(value for value in values if type(value) in wrong)
            what = "an integer" if kind is numbers.Integral else "a number"
            raise ValueError(f"{name} must be {what}, got {value!r}")
        try:
            columns[name] = np.asarray(values, dtype=binary[1:])
        except OverflowError:
            raise ValueError(f"a {name} of a page does not fit in 64 bits") from None
    return columns


def _copy_page(cur: Any, table: str, columns: Mapping[str, np.ndarray]) -> None:
    """One page as one binary ``COPY ... FROM STDIN`` (psycopg2's ``copy_expert`` or psycopg 3's ``copy``),
    laid out by numpy column by column: no text is formatted per value."""
    rows = np.empty(len(columns["userId"]), _COPY_ROW)
    rows["fields"] = len(RATING_COLUMNS)
    for name, column in columns.items():
        rows[f"{name}_len"] = 8
        rows[name] = column
    data = _COPY_HEADER + rows.tobytes() + _COPY_TRAILER
    sql = f"COPY {table} ({_COLUMN_LIST}) FROM STDIN WITH (FORMAT binary)"
    if hasattr(cur, "copy_expert"):
        cur.copy_expert(sql, io.BytesIO(data))
    else:
        with cur.copy(sql) as copy:
            copy.write(data)


def _prefetched(pages: Iterator[list[tuple]]) -> Iterator[list[tuple]]:
    """``pages``, the next one read (the API paged) in a background thread while the consumer writes the
    current one: both wait on sockets, which frees the GIL. At most two pages are held; a reader error is
    raised in the consumer; if it stops early, the page being read is awaited and no further one is read."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="movielens-prefetch") as reader:
        ahead = reader.submit(next, pages, None)
        while (page := ahead.result()) is not None:
            ahead = reader.submit(next, pages, None)
            yield page


@dataclass(frozen=True)
class _Load:
    """One interval's replacement on one cursor: its bounds in epoch seconds and the driver's SQL dialect."""

    cur: Any
    mark: str  # the driver's placeholder
    postgres: bool
    start_ts: int
    end_ts: int
    interval: str  # "[start, end)", for messages

    def delete(self, table: str, column: str = "timestamp") -> int:
        """Delete the rows whose ``column`` lies in the interval (the caller commits); return how many."""
        where = f'"{column}" >= {self.mark} AND "{column}" < {self.mark}'
        self.cur.execute(f"DELETE FROM {table} WHERE {where}", (self.start_ts, self.end_ts))
        return self.cur.rowcount

    def lock(self, table: str) -> None:
        if self.postgres:  # serialises concurrent loads; readers still get in
            self.cur.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")

    def write(self, table: str, records: Iterable[Mapping[str, Any]], page_size: int, check: bool) -> int:
        """Stream ``records`` into ``table``; return how many. With ``check`` each page is checked against the
        interval first (the direct path, which has no staging table to check afterwards)."""
        count = 0
        for page in _prefetched(_pages(records, page_size)):
            columns = _columns(page)
            timestamps = columns["timestamp"]
            stray = check and np.count_nonzero((timestamps < self.start_ts) | (timestamps >= self.end_ts))
            if stray:
                raise ValueError(
                    f"{stray} ratings of a page lie outside {self.interval}: nothing was replaced"
                )
            if self.postgres:
                _copy_page(self.cur, table, columns)
            else:
                marks = ", ".join([self.mark] * len(RATING_COLUMNS))
                rows = zip(*(column.tolist() for column in columns.values()), strict=True)
                self.cur.executemany(f"INSERT INTO {table} ({_COLUMN_LIST}) VALUES ({marks})", rows)
            count += len(page)
        return count

    def check_staged(self, count: int) -> None:
        where = f'"timestamp" < {self.mark} OR "timestamp" >= {self.mark}'
        self.cur.execute(f"SELECT COUNT(*) FROM {_STAGING} WHERE {where}", (self.start_ts, self.end_ts))
        (stray,) = self.cur.fetchone()
        if stray:
            raise ValueError(f"{stray} of {count} ratings lie outside {self.interval}: nothing was replaced")

    def mark_days(self, days: str) -> None:
        """Mark every day of the interval as loaded (now), in the caller's transaction."""
        self.delete(days, "day_start")
        day_starts = [(day,) for day in range(self.start_ts, self.end_ts, DAY_SECONDS)]
        self.cur.executemany(f'INSERT INTO {days} ("day_start") VALUES ({self.mark})', day_starts)


def _insert_staged(cur: Any, target: str) -> None:
    cur.execute(f"INSERT INTO {target} ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} FROM {_STAGING}")


def replace_interval(
    hook: DbApiHook,
    start_date: DateLike,
    end_date: DateLike,
    records: Iterable[Mapping[str, Any]],
    *,
    table: str = RATINGS_TABLE,
    schema: str | None = None,
    page_size: int = 10_000,
    before_commit: Callable[[int], None] | None = None,
    days_table: str | None = LOADED_DAYS_TABLE,
) -> dict[str, Any]:
    """Replace the ratings of ``[start_date, end_date)`` (UTC days) in ``table`` by ``records``, atomically.

    :param records: mappings with ``userId``, ``movieId``, ``rating`` and ``timestamp`` (epoch seconds),
        consumed lazily, ``page_size`` at a time (rows per ``COPY``/``executemany`` batch).
    :param schema: schema of the table on databases that have schemas (SQLite ignores it).
    :param before_commit: called with the number of staged ratings before anything is replaced; raising
        there (e.g. the count does not match the API's total) leaves the table untouched.
    :param days_table: where the interval's days are marked as loaded in the same transaction (or ``None``).
    :return: ``{"table", "start_date", "end_date", "count", "deleted"}`` (small, for XCom).
    :raises MovielensArgumentError: a bad interval, page size or name, before any SQL.
    :raises ValueError: a record outside the interval.
    """
    quoted_name(table, schema)  # every name checked before any SQL
    if days_table:
        sql_identifier(days_table, "days_table")
    start, end = validate_interval(start_date, end_date)
    if start is None or end is None:
        raise MovielensArgumentError(
            f"replace_interval needs both bounds, got [{start_date!r}, {end_date!r})"
        )
    if page_size < 1:
        raise MovielensArgumentError(f"page_size must be >= 1, got {page_size!r}")
    start_ts, end_ts = as_midnight(start), as_midnight(end)  # both valid dates by now
    started = time.monotonic()
    conn = hook.get_conn()
    try:
        direct = end_ts - start_ts > DIRECT_LOAD_DAYS * DAY_SECONDS
        target, days = _ensure_table(conn, hook, table, schema, days_table, user_index=not direct)
        load = _Load(
            conn.cursor(), hook.placeholder, _is_postgres(hook), start_ts, end_ts, f"[{start}, {end})"
        )
        if direct:
            load.lock(target)
            deleted = load.delete(target)
            count = load.write(target, records, page_size, check=True)
            if before_commit is not None:
                before_commit(count)
            _user_index(load.cur, table, target)  # a first history load builds it once, after its rows
        else:
            load.cur.execute(f"CREATE TEMP TABLE {_STAGING} ({_COLUMNS_DDL})")
            count = load.write(_STAGING, records, page_size, check=False)
            load.check_staged(count)
            if before_commit is not None:
                before_commit(count)
            load.lock(target)
            deleted = load.delete(target)
            _insert_staged(load.cur, target)
            load.cur.execute(f"DROP TABLE {_STAGING}")
        if days is not None:
            load.mark_days(days)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.close()
    elapsed = time.monotonic() - started
    log.info(
        "%s: [%s, %s) replaced: %d rows deleted, %d inserted in %.2f s (%.0f rows/s)",
        target, start, end, deleted, count, elapsed, count / elapsed if elapsed else 0.0,
    )  # fmt: skip
    name = target.replace('"', "")
    return {"table": name, "start_date": start, "end_date": end, "count": count, "deleted": deleted}
