"""The ``ratings`` table of a SQL database: replace one interval's ratings in one transaction.

The one loader the DAG tasks and :class:`~airflow_movielens.transfers.MovielensRatingsToSqlOperator` share.
It works on any common-sql ``DbApiHook`` (``BaseHook.get_connection(conn_id).get_hook()``) and is tested on
SQLite and PostgreSQL:

1. create the table (``userId``, ``movieId``, ``rating``, ``timestamp`` in epoch seconds) and its indexes
   if needed: on ``timestamp`` (the windows) and on ``(userId, movieId)`` (a user's ratings: the per-user
   read path of the results);
2. stream the records page by page into a session-local staging table (PostgreSQL: ``COPY``, through
   psycopg2's ``copy_expert``; other databases: ``executemany``), so memory stays bounded by one page;
3. check that every staged rating lies in ``[start, end)`` and let the caller check the count;
4. in ONE transaction: delete the interval's rows from the table, insert the staged ones, and mark each day
   of the interval as loaded in the table ``loaded_days`` (one row per UTC day, ``day_start`` in epoch
   seconds), so that a reader can tell a day without ratings from a day not loaded yet: a window's ranking
   is computed only when all of its days are marked.

Intervals longer than :data:`DIRECT_LOAD_DAYS` (a history load) skip the staging copy: inside ONE transaction
the interval's rows are deleted, the pages streamed straight into the table (each page checked against the
interval first), the count checked, the ``(userId, movieId)`` index created if missing, the days marked,
then committed. A first history load thereby builds that index once, after its rows: kept up to date row by
row, with the ratings arriving in time order, it made a 25M-rating load into PostgreSQL three times slower.

A rerun of an interval therefore never duplicates rows, a failure anywhere leaves the old rows, readers
never see a half-replaced interval, and the write lock is held only for step 4, not while the API is paged.
On PostgreSQL concurrent loads are serialised by a table lock that still lets readers in.
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from airflow_movielens.dates import DAY_SECONDS, DateLike, as_midnight, validate_interval
from airflow_movielens.exceptions import MovielensArgumentError
from airflow_movielens.records import RATING_COLUMNS

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

__all__ = [
    "DDL_LOCK_KEY",
    "LOADED_DAYS_TABLE",
    "MAX_IDENTIFIER_LENGTH",
    "RATING_COLUMNS",
    "RATINGS_TABLE",
    "check_names",
    "qualified_name",
    "quoted_name",
    "replace_interval",
    "sql_identifier",
]

log = logging.getLogger(__name__)

RATINGS_TABLE = "ratings"
#: One row per loaded UTC day: ``day_start`` (epoch seconds of its midnight), ``loaded_at``.
LOADED_DAYS_TABLE = "loaded_days"
#: Intervals longer than this many days (history loads) are written straight into the table inside the
#: transaction, not through the staging table: no second copy of millions of rows, at the price of holding
#: the table's write lock (readers still get in) while the API is paged.
DIRECT_LOAD_DAYS = 31
# Columns of the table: RATING_COLUMNS, the API's field names (quoted in SQL, so PostgreSQL keeps their case).
_COLUMN_TYPES = ("BIGINT NOT NULL", "BIGINT NOT NULL", "DOUBLE PRECISION NOT NULL", "BIGINT NOT NULL")
_STAGING = "movielens_ratings_staging"
#: Key of the PostgreSQL advisory lock that serialises concurrent ``CREATE TABLE IF NOT EXISTS`` of this
#: table and of every other table created in the same database (the pipeline's result tables take it too).
DDL_LOCK_KEY = 7_404_518_273
#: PostgreSQL's ``NAMEDATALEN - 1``: the longest identifier, in bytes.
MAX_IDENTIFIER_LENGTH = 63
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


def sql_identifier(value: object, name: str) -> str:
    """``value`` if it is a plain SQL identifier, else :class:`MovielensArgumentError` naming ``name``.

    Names that come from arguments (a templated ``table`` or ``schema``, a setting) are interpolated in SQL
    inside double quotes: a name holding a quote, a semicolon or whitespace could leave them and run as SQL.
    The rule is PostgreSQL's for an unquoted identifier (without its folding to lower case: names stay quoted,
    so their case is kept), at most :data:`MAX_IDENTIFIER_LENGTH` bytes; every name that passes is also a
    valid SQLite name.
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
    """``"schema"."table"``, or ``"table"`` without a schema: the one way a checked name reaches SQL.

    :raises MovielensArgumentError: ``table`` or ``schema`` is not a plain SQL identifier.
    """
    sql_identifier(table, "table")
    return f'"{sql_identifier(schema, "schema")}"."{table}"' if schema else f'"{table}"'


def _is_postgres(hook: DbApiHook) -> bool:
    return getattr(hook, "conn_type", None) == "postgres"


def qualified_name(hook: DbApiHook, table: str = RATINGS_TABLE, schema: str | None = None) -> str:
    """:func:`quoted_name` on databases with schemas; SQLite has none, so there ``schema`` is left out."""
    return quoted_name(table, None if getattr(hook, "conn_type", None) == "sqlite" else schema)


def check_names(table: str, schema: str | None, days_table: str | None = None) -> None:
    """Refuse any name that is not a plain SQL identifier (:func:`sql_identifier`) before SQL is sent."""
    sql_identifier(table, "table")
    if schema:
        sql_identifier(schema, "schema")
    if days_table:
        sql_identifier(days_table, "days_table")


def _columns_ddl() -> str:
    return ", ".join(f'"{name}" {kind}' for name, kind in zip(RATING_COLUMNS, _COLUMN_TYPES, strict=True))


_COLUMN_LIST = ", ".join(f'"{name}"' for name in RATING_COLUMNS)


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
    cur.execute(f"CREATE TABLE IF NOT EXISTS {name} ({_columns_ddl()})")
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


def _mark_days(cur: Any, days: str, start_ts: int, end_ts: int, placeholder: str) -> None:
    """Mark every day of ``[start_ts, end_ts)`` as loaded (now), in the caller's transaction."""
    cur.execute(
        f'DELETE FROM {days} WHERE "day_start" >= {placeholder} AND "day_start" < {placeholder}',
        (start_ts, end_ts),
    )
    day_starts = [(day,) for day in range(start_ts, end_ts, DAY_SECONDS)]
    cur.executemany(f'INSERT INTO {days} ("day_start") VALUES ({placeholder})', day_starts)


def _pages(records: Iterable[Mapping[str, Any]], page_size: int) -> Iterator[list[tuple]]:
    """Rows as tuples in :data:`RATING_COLUMNS` order, ``page_size`` at a time."""
    rows = ((row["userId"], row["movieId"], row["rating"], row["timestamp"]) for row in records)
    while page := list(itertools.islice(rows, page_size)):
        yield page


def _copy_page(cur: Any, table: str, page: Sequence[tuple]) -> None:
    """One page as one ``COPY ... FROM STDIN``: psycopg2's ``copy_expert`` or psycopg 3's ``copy``."""
    sql = f"COPY {table} ({_COLUMN_LIST}) FROM STDIN WITH (FORMAT csv)"
    buffer = io.StringIO()
    csv.writer(buffer).writerows(page)  # COPY's CSV format takes its \r\n line ends
    if hasattr(cur, "copy_expert"):
        buffer.seek(0)
        cur.copy_expert(sql, buffer)
    else:
        with cur.copy(sql) as copy:
            copy.write(buffer.getvalue())


def _insert_page(cur: Any, table: str, page: Sequence[tuple], placeholder: str) -> None:
    marks = ", ".join([placeholder] * len(RATING_COLUMNS))
    cur.executemany(f"INSERT INTO {table} ({_COLUMN_LIST}) VALUES ({marks})", page)


def _prefetched(pages: Iterator[list[tuple]]) -> Iterator[list[tuple]]:
    """``pages``, each next one read in a background thread while the consumer writes the current one.

    The API is paged while the previous page is written (both wait on sockets, which frees the GIL); at
    most two pages are held. A reader error is raised in the consumer; if the consumer stops early, the page
    being read is awaited and no further one is read.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="movielens-prefetch") as reader:
        ahead = reader.submit(next, pages, None)
        while (page := ahead.result()) is not None:
            ahead = reader.submit(next, pages, None)
            yield page


def _write(
    cur: Any,
    table: str,
    records: Iterable[Mapping[str, Any]],
    page_size: int,
    copy: bool,
    mark: str,
    bounds: tuple[int, int, str] | None = None,
) -> int:
    """Stream ``records`` into ``table``; return how many. With ``bounds`` (start, end, interval text) each
    page is checked first (the direct path, which has no staging table to check afterwards)."""
    count = 0
    for page in _prefetched(_pages(records, page_size)):
        if bounds is not None:
            start_ts, end_ts, interval = bounds
            stray = sum(not start_ts <= row[3] < end_ts for row in page)
            if stray:
                raise ValueError(f"{stray} ratings of a page lie outside {interval}: nothing was replaced")
        if copy:
            _copy_page(cur, table, page)
        else:
            _insert_page(cur, table, page, mark)
        count += len(page)
    return count


def _check_bounds(cur: Any, start_ts: int, end_ts: int, mark: str, interval: str, count: int) -> None:
    cur.execute(
        f'SELECT COUNT(*) FROM {_STAGING} WHERE "timestamp" < {mark} OR "timestamp" >= {mark}',
        (start_ts, end_ts),
    )
    (stray,) = cur.fetchone()
    if stray:
        raise ValueError(f"{stray} of {count} ratings lie outside {interval}: nothing was replaced")


def _delete(cur: Any, target: str, start_ts: int, end_ts: int, placeholder: str) -> int:
    """Delete the interval's rows of ``target`` (caller commits); return how many."""
    cur.execute(
        f'DELETE FROM {target} WHERE "timestamp" >= {placeholder} AND "timestamp" < {placeholder}',
        (start_ts, end_ts),
    )
    return cur.rowcount


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
    """Replace the ratings of ``[start_date, end_date)`` in ``table`` by ``records``, atomically.

    :param hook: a common-sql ``DbApiHook`` of the target database.
    :param start_date: first day of the interval (inclusive, UTC).
    :param end_date: day after the last (exclusive).
    :param records: mappings with ``userId``, ``movieId``, ``rating`` and ``timestamp`` (epoch seconds),
        consumed lazily, ``page_size`` at a time.
    :param table: table name, created with its ``timestamp`` index if missing.
    :param schema: schema of the table on databases that have schemas (SQLite ignores it).
    :param page_size: rows per ``COPY``/``executemany`` batch.
    :param before_commit: called with the number of staged ratings before anything is replaced; raising
        there (e.g. the count does not match the API's total) leaves the table untouched.
    :param days_table: table in which the interval's days are marked as loaded, in the same transaction
        (created if missing; ``None`` marks nothing).
    :return: ``{"table", "start_date", "end_date", "count", "deleted"}`` (small, for XCom).
    :raises MovielensArgumentError: a bad interval, page size, or table, schema or days_table name (checked
        before any SQL).
    :raises ValueError: a record outside the interval.
    """
    check_names(table, schema, days_table)
    start, end = validate_interval(start_date, end_date)
    if start is None or end is None:
        raise MovielensArgumentError(
            f"replace_interval needs both bounds, got [{start_date!r}, {end_date!r})"
        )
    if page_size < 1:
        raise MovielensArgumentError(f"page_size must be >= 1, got {page_size!r}")
    start_ts, end_ts = as_midnight(start), as_midnight(end)  # both valid dates by now
    postgres = _is_postgres(hook)
    placeholder = hook.placeholder
    started = time.monotonic()
    conn = hook.get_conn()
    try:
        direct = end_ts - start_ts > DIRECT_LOAD_DAYS * DAY_SECONDS
        target, days = _ensure_table(conn, hook, table, schema, days_table, user_index=not direct)
        cur = conn.cursor()
        interval = f"[{start}, {end})"
        if direct:
            if postgres:
                cur.execute(f"LOCK TABLE {target} IN SHARE ROW EXCLUSIVE MODE")
            deleted = _delete(cur, target, start_ts, end_ts, placeholder)
            count = _write(
                cur, target, records, page_size, postgres, placeholder, (start_ts, end_ts, interval)
            )
            if before_commit is not None:
                before_commit(count)
            _user_index(cur, table, target)  # a first history load builds it once, after its rows
        else:
            cur.execute(f"CREATE TEMP TABLE {_STAGING} ({_columns_ddl()})")
            count = _write(cur, _STAGING, records, page_size, postgres, placeholder)
            _check_bounds(cur, start_ts, end_ts, placeholder, interval, count)
            if before_commit is not None:
                before_commit(count)
            if postgres:
                cur.execute(f"LOCK TABLE {target} IN SHARE ROW EXCLUSIVE MODE")
            deleted = _delete(cur, target, start_ts, end_ts, placeholder)
            _insert_staged(cur, target)
            cur.execute(f"DROP TABLE {_STAGING}")
        if days is not None:
            _mark_days(cur, days, start_ts, end_ts, placeholder)
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
