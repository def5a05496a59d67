"""The ``ratings`` table of a SQL database: replace one interval's ratings in one transaction.

The one loader the DAG tasks and :class:`~airflow_movielens.transfers.MovielensRatingsToSqlOperator` share.
It works on any common-sql ``DbApiHook`` (``BaseHook.get_connection(conn_id).get_hook()``) and is tested on
SQLite and PostgreSQL:

1. create the table (``userId``, ``movieId``, ``rating``, ``timestamp`` in epoch seconds) and its index on
   ``timestamp`` if needed;
2. stream the records page by page into a session-local staging table (PostgreSQL: ``COPY``, through
   psycopg2's ``copy_expert``; other databases: ``executemany``), so memory stays bounded by one page;
3. check that every staged rating lies in ``[start, end)`` and let the caller check the count;
4. in ONE transaction: delete the interval's rows from the table and insert the staged ones.

A rerun of an interval therefore never duplicates rows, a failure anywhere leaves the old rows, readers
never see a half-replaced interval, and the write lock is held only for step 4, not while the API is paged.
On PostgreSQL concurrent loads are serialised by a table lock that still lets readers in.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_movielens.dates import DateLike, to_api_date, validate_interval

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

__all__ = ["RATING_COLUMNS", "RATINGS_TABLE", "epoch_seconds", "qualified_name", "replace_interval"]

log = logging.getLogger(__name__)

RATINGS_TABLE = "ratings"
#: Columns of the table, in the API's field names (quoted in SQL, so PostgreSQL keeps their case).
RATING_COLUMNS: tuple[str, ...] = ("userId", "movieId", "rating", "timestamp")
_COLUMN_TYPES = ("BIGINT NOT NULL", "BIGINT NOT NULL", "DOUBLE PRECISION NOT NULL", "BIGINT NOT NULL")
_STAGING = "movielens_ratings_staging"
#: Key of the PostgreSQL advisory lock that serialises concurrent ``CREATE TABLE IF NOT EXISTS``.
_DDL_LOCK_KEY = 7_404_518_273


def epoch_seconds(day: DateLike, name: str = "date") -> int:
    """Midnight UTC of ``day`` (``YYYY-MM-DD``, date or midnight datetime) in epoch seconds."""
    text = to_api_date(day, name)
    if text is None:
        raise ValueError(f"{name} is required, got {day!r}")
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp())


def _is_postgres(hook: DbApiHook) -> bool:
    return getattr(hook, "conn_type", None) == "postgres"


def qualified_name(hook: DbApiHook, table: str = RATINGS_TABLE, schema: str | None = None) -> str:
    """``"schema"."table"`` on databases with schemas, ``"table"`` on SQLite (which has none)."""
    if schema and getattr(hook, "conn_type", None) != "sqlite":
        return f'"{schema}"."{table}"'
    return f'"{table}"'


def _columns_ddl() -> str:
    return ", ".join(f'"{name}" {kind}' for name, kind in zip(RATING_COLUMNS, _COLUMN_TYPES, strict=True))


_COLUMN_LIST = ", ".join(f'"{name}"' for name in RATING_COLUMNS)


def _ensure_table(conn: Any, hook: DbApiHook, table: str, schema: str | None) -> str:
    name = qualified_name(hook, table, schema)
    cur = conn.cursor()
    if _is_postgres(hook):  # two first loads at once would both try to create the table's row type
        cur.execute(f"SELECT pg_advisory_xact_lock({_DDL_LOCK_KEY})")
        if schema:
            cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    cur.execute(f"CREATE TABLE IF NOT EXISTS {name} ({_columns_ddl()})")
    cur.execute(f'CREATE INDEX IF NOT EXISTS "{table}_timestamp_idx" ON {name} ("timestamp")')
    conn.commit()
    return name


def _pages(records: Iterable[Mapping[str, Any]], page_size: int) -> Iterator[list[tuple]]:
    """Rows as tuples in :data:`RATING_COLUMNS` order, ``page_size`` at a time."""
    rows = ((row["userId"], row["movieId"], row["rating"], row["timestamp"]) for row in records)
    while page := list(itertools.islice(rows, page_size)):
        yield page


def _copy_page(cur: Any, table: str, page: Sequence[tuple]) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(page)
    buffer.seek(0)
    cur.copy_expert(f"COPY {table} ({_COLUMN_LIST}) FROM STDIN WITH (FORMAT csv)", buffer)


def _insert_page(cur: Any, table: str, page: Sequence[tuple], placeholder: str) -> None:
    marks = ", ".join([placeholder] * len(RATING_COLUMNS))
    cur.executemany(f"INSERT INTO {table} ({_COLUMN_LIST}) VALUES ({marks})", page)


def _stage(cur: Any, records: Iterable[Mapping[str, Any]], page_size: int, copy: bool, mark: str) -> int:
    """Create the session's staging table and stream ``records`` into it; return how many."""
    cur.execute(f"CREATE TEMP TABLE {_STAGING} ({_columns_ddl()})")
    count = 0
    for page in _pages(records, page_size):
        if copy and hasattr(cur, "copy_expert"):
            _copy_page(cur, _STAGING, page)
        else:
            _insert_page(cur, _STAGING, page, mark)
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


def _swap(cur: Any, target: str, start_ts: int, end_ts: int, placeholder: str) -> int:
    """Delete the interval's rows of ``target``, then insert the staged ones (caller commits)."""
    cur.execute(
        f'DELETE FROM {target} WHERE "timestamp" >= {placeholder} AND "timestamp" < {placeholder}',
        (start_ts, end_ts),
    )
    deleted = cur.rowcount
    _insert_staged(cur, target)
    return deleted


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
    :return: ``{"table", "start_date", "end_date", "count", "deleted"}`` (small, for XCom).
    :raises ValueError: a bad interval, or a record outside it.
    """
    start, end = validate_interval(start_date, end_date)
    if start is None or end is None:
        raise ValueError(f"replace_interval needs both bounds, got [{start_date!r}, {end_date!r})")
    if page_size < 1:
        raise ValueError(f"page_size must be >= 1, got {page_size}")
    start_ts, end_ts = epoch_seconds(start, "start_date"), epoch_seconds(end, "end_date")
    postgres = _is_postgres(hook)
    placeholder = hook.placeholder
    started = time.monotonic()
    conn = hook.get_conn()
    try:
        target = _ensure_table(conn, hook, table, schema)
        cur = conn.cursor()
        count = _stage(cur, records, page_size, postgres, placeholder)
        _check_bounds(cur, start_ts, end_ts, placeholder, f"[{start}, {end})", count)
        if before_commit is not None:
            before_commit(count)
        if postgres:
            cur.execute(f"LOCK TABLE {target} IN SHARE ROW EXCLUSIVE MODE")
        deleted = _swap(cur, target, start_ts, end_ts, placeholder)
        cur.execute(f"DROP TABLE {_STAGING}")
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
