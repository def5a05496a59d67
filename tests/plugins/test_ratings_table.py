"""The shared loader (airflow_movielens.ratings_table) on a real SQLite file and a real PostgreSQL database.

Ratings come from the live API through the hook; the expected rows straight from the dataset's CSV.
"""

from __future__ import annotations

import functools
import itertools
import re
import threading
import time

import numpy as np
import pandas as pd
import pytest
from airflow.hooks.base import BaseHook

from airflow_movielens import ratings_table
from airflow_movielens.dates import as_midnight
from airflow_movielens.exceptions import MovielensArgumentError
from airflow_movielens.hooks import MovielensHook
from airflow_movielens.ratings_table import replace_interval
from tests.support.threads import run_at_once

DAY, NEXT_DAY, DAY_AFTER = "2019-01-05", "2019-01-06", "2019-01-07"
CONN_ID = "movielens_results"
LONG = ("2018-12-01", "2019-01-10")  # longer than DIRECT_LOAD_DAYS: written without the staging copy


def db_hook():
    return BaseHook.get_connection(CONN_ID).get_hook()


def api_ratings(start: str, end: str):
    with MovielensHook(batch_size=700) as hook:
        yield from hook.iter_ratings(start, end)


def load(start: str, end: str, records=None, **kwargs) -> dict:
    records = api_ratings(start, end) if records is None else records
    return replace_interval(db_hook(), start, end, records, schema="public", page_size=500, **kwargs)


def assert_rows(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert len(actual) == len(expected) > 0
    pd.testing.assert_frame_equal(
        actual.reset_index(drop=True), expected.reset_index(drop=True), check_dtype=False
    )


def test_loads_reruns_and_keeps_other_intervals(movielens_api, expected_ratings, results_db) -> None:
    first = load(DAY, NEXT_DAY)
    expected_day = expected_ratings(DAY, NEXT_DAY)
    assert first["count"] == len(expected_day)
    assert first["deleted"] == 0
    assert first["table"] == ("public.ratings" if results_db.kind == "postgres" else "ratings")
    assert_rows(results_db.ratings(), expected_day)

    second = load(NEXT_DAY, DAY_AFTER)  # the next window: both are there
    assert_rows(results_db.ratings(), expected_ratings(DAY, DAY_AFTER))

    again = load(DAY, NEXT_DAY)  # a rerun replaces, never duplicates
    assert again == {**first, "deleted": first["count"]}
    assert_rows(results_db.ratings(), expected_ratings(DAY, DAY_AFTER))
    assert second["count"] == len(expected_ratings(NEXT_DAY, DAY_AFTER))
    tables = ["loaded_days", "ratings"]
    assert results_db.tables() == (
        [f"public.{t}" for t in tables] if results_db.kind == "postgres" else tables
    )
    assert loaded_days(results_db) == [DAY, NEXT_DAY]


def loaded_days(results_db) -> list[str]:
    """The days marked loaded, as ``YYYY-MM-DD`` (plain SQL on the real database)."""
    if not any(name.endswith("loaded_days") for name in results_db.tables()):
        return []
    rows = results_db.query(f'SELECT "day_start" FROM {results_db.schema_prefix}loaded_days ORDER BY 1')
    return [pd.Timestamp(int(ts), unit="s").date().isoformat() for ts in rows["day_start"]]


def test_a_long_interval_marks_every_day_even_without_ratings(movielens_api, results_db) -> None:
    before = pd.Timestamp.now(tz="UTC").tz_localize(None).floor("s")
    load("2018-12-30", "2019-01-02")  # 2018-12-30 and -31 have no ratings, 2019-01-01 has
    assert loaded_days(results_db) == ["2018-12-30", "2018-12-31", "2019-01-01"]
    marked = results_db.query(f'SELECT "day_start", "loaded_at" FROM {results_db.schema_prefix}loaded_days')
    assert (pd.to_datetime(marked["loaded_at"]) >= before).all()  # CURRENT_TIMESTAMP: the load's UTC time
    load("2018-12-31", "2019-01-01", [])  # a rerun of a sub-interval keeps one row per day
    assert loaded_days(results_db) == ["2018-12-30", "2018-12-31", "2019-01-01"]


@pytest.mark.parametrize(
    "interval", [(DAY, NEXT_DAY), ("2018-12-01", "2019-01-10")], ids=["staged", "direct"]
)
def test_indexes_on_timestamp_and_user(movielens_api, results_db, interval) -> None:
    """Any first load makes both; a direct (history) load builds the user index after its rows."""
    load(*interval)
    if results_db.kind == "sqlite":
        indexes = results_db.query(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'ratings'"
        )
    else:
        indexes = results_db.query(
            "SELECT indexname AS name, indexdef AS sql FROM pg_indexes "
            "WHERE schemaname = 'public' AND tablename = 'ratings'"
        )
    sql = dict(zip(indexes["name"], indexes["sql"], strict=True))
    assert sorted(sql) == ["ratings_timestamp_idx", "ratings_user_idx"]
    assert '("timestamp")' in sql["ratings_timestamp_idx"]
    assert '("userId", "movieId")' in sql["ratings_user_idx"]


def failing_after(records, count: int):
    """The records, then a fault after ``count`` of them (as when the API dies mid-interval)."""
    yield from itertools.islice(records, count)
    raise ConnectionError("injected: the API went away mid-load")


@pytest.mark.parametrize("fault", ["mid_stream", "before_commit", "after_delete"])
def test_a_failure_mid_load_leaves_the_old_rows(movielens_api, expected_ratings, results_db, fault) -> None:
    load(DAY, NEXT_DAY)
    before = results_db.ratings()
    if fault == "mid_stream":
        with pytest.raises(ConnectionError, match="injected"):
            load(DAY, NEXT_DAY, failing_after(api_ratings(DAY, NEXT_DAY), 1_200))
    elif fault == "before_commit":

        def reject(count: int) -> None:
            raise RuntimeError(f"injected: {count} is not the API's total")

        with pytest.raises(RuntimeError, match="injected"):
            load(DAY, NEXT_DAY, before_commit=reject)
    else:  # the interval's rows are already deleted inside the transaction when the insert fails
        deleted_then_failed = []

        def insert_fails(cur, target):
            deleted_then_failed.append(target)
            raise RuntimeError("injected: insert failed after the delete")

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(ratings_table, "_insert_staged", insert_fails)
            with pytest.raises(RuntimeError, match="injected"):
                load(DAY, NEXT_DAY)
        assert deleted_then_failed
    pd.testing.assert_frame_equal(results_db.ratings(), before)
    assert_rows(before, expected_ratings(DAY, NEXT_DAY))
    assert loaded_days(results_db) == [DAY]  # marked by the first load only, in its own transaction
    assert load(DAY, NEXT_DAY)["deleted"] == len(before)  # and the next attempt still works


def test_a_failed_first_load_marks_no_day(movielens_api, results_db) -> None:
    with pytest.raises(ConnectionError, match="injected"):
        load(DAY, NEXT_DAY, failing_after(api_ratings(DAY, NEXT_DAY), 1_200))
    assert loaded_days(results_db) == []


def test_rejects_records_outside_the_interval(movielens_api, results_db) -> None:
    load(DAY, NEXT_DAY)
    before = results_db.ratings()
    stray = {"userId": 1, "movieId": 1, "rating": 4.0, "timestamp": as_midnight(NEXT_DAY)}
    early = {**stray, "timestamp": as_midnight(DAY) - 1}
    with pytest.raises(ValueError, match=r"2 of \d+ ratings lie outside \[2019-01-05, 2019-01-06\)"):
        load(DAY, NEXT_DAY, itertools.chain(api_ratings(DAY, NEXT_DAY), [stray, early]))
    pd.testing.assert_frame_equal(results_db.ratings(), before)


@pytest.mark.parametrize("interval", [(DAY, NEXT_DAY), LONG], ids=["staged", "direct"])
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("userId", 1.5, "userId must be an integer, got 1.5"),
        ("movieId", "7", "movieId must be an integer, got '7'"),
        ("timestamp", True, "timestamp must be an integer, got True"),
        ("rating", None, "rating must be a number, got None"),
        ("userId", 2**63, "a userId of a page does not fit in 64 bits"),
    ],
)
def test_a_value_of_the_wrong_type_stops_the_load_and_names_it(
    movielens_api, results_db, interval, field, value, message
) -> None:
    load(*interval)
    before = results_db.ratings()
    good = {"userId": 1, "movieId": 1, "rating": 4.0, "timestamp": as_midnight(interval[0])}
    with pytest.raises(ValueError, match=re.escape(message)):
        load(*interval, itertools.chain(api_ratings(*interval), [{**good, field: value}]))
    pd.testing.assert_frame_equal(results_db.ratings(), before)
    # numpy's integers are integers, and a whole-number rating is a number
    assert load(*interval, [{**good, "userId": np.int64(1), "rating": 4}])["count"] == 1


def test_empty_interval_clears_it(movielens_api, results_db) -> None:
    load(DAY, NEXT_DAY)
    result = load(DAY, NEXT_DAY, [])
    assert (result["count"], result["deleted"]) == (0, result["deleted"])
    assert results_db.ratings().empty


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (None, NEXT_DAY, "needs both bounds"),
        (DAY, None, "needs both bounds"),
        (NEXT_DAY, DAY, "before start_date"),
        ("2019-13-01", DAY, "not a valid calendar date"),
    ],
)
def test_bad_intervals_are_rejected_before_touching_the_database(results_db, start, end, message) -> None:
    with pytest.raises(ValueError, match=message):
        replace_interval(db_hook(), start, end, [])
    assert results_db.tables() == []


def test_a_long_interval_is_written_directly_and_still_atomic(
    movielens_api, expected_ratings, results_db
) -> None:
    assert ratings_table.DIRECT_LOAD_DAYS < 40
    first = load(*LONG)
    assert_rows(results_db.ratings(), expected_ratings(*LONG))
    assert load(*LONG) == {**first, "deleted": first["count"]}  # a rerun replaces, never duplicates
    before = results_db.ratings()
    with pytest.raises(ConnectionError, match="injected"):
        load(*LONG, failing_after(api_ratings(*LONG), 2_500))
    stray = {"userId": 1, "movieId": 1, "rating": 4.0, "timestamp": as_midnight(LONG[1])}
    with pytest.raises(ValueError, match=r"1 ratings of a page lie outside \[2018-12-01, 2019-01-10\)"):
        load(*LONG, itertools.chain(api_ratings(*LONG), [stray]))

    def reject(count: int) -> None:
        raise RuntimeError(f"injected: {count} is not the API's total")

    with pytest.raises(RuntimeError, match=f"injected: {first['count']} is not"):
        load(*LONG, before_commit=reject)
    pd.testing.assert_frame_equal(results_db.ratings(), before)
    assert len(loaded_days(results_db)) == 40
    # the direct path's page check: the start second is inside, the second before it is not
    at_start = {"userId": 2, "movieId": 1, "rating": 4.0, "timestamp": as_midnight(LONG[0])}
    with pytest.raises(ValueError, match=r"1 ratings of a page lie outside"):
        load(*LONG, [{**at_start, "timestamp": at_start["timestamp"] - 1}])
    assert load(*LONG, itertools.chain(api_ratings(*LONG), [at_start]))["count"] == first["count"] + 1


@pytest.mark.parametrize("interval", [(DAY, NEXT_DAY), LONG], ids=["staged", "direct"])
def test_postgres_pages_go_through_copy_and_sqlite_pages_through_inserts(
    movielens_api, expected_ratings, results_db, monkeypatch, interval
) -> None:
    """The fast path is taken where it exists: every page is one COPY on PostgreSQL (none on SQLite), on
    the staged path (short intervals) and the direct one (long intervals)."""
    hook = db_hook()
    copies: list[str] = []
    real_get_conn = hook.get_conn

    def recording_conn():
        conn = real_get_conn()
        if results_db.kind != "postgres":
            return conn
        if type(conn).__module__.startswith("psycopg2"):  # Airflow 2.10's PostgresHook
            import psycopg2.extensions

            class Recording(psycopg2.extensions.cursor):
                def copy_expert(self, sql, file, *args, **kwargs):
                    copies.append(sql)
                    return super().copy_expert(sql, file, *args, **kwargs)

        else:  # psycopg 3 (the postgres provider on Airflow 3)
            import psycopg

            class Recording(psycopg.Cursor):
                def copy(self, statement, *args, **kwargs):
                    copies.append(statement)
                    return super().copy(statement, *args, **kwargs)

        conn.cursor_factory = Recording
        return conn

    monkeypatch.setattr(hook, "get_conn", recording_conn)
    result = replace_interval(hook, *interval, api_ratings(*interval), schema="public", page_size=500)
    expected = expected_ratings(*interval)
    assert result["count"] == len(expected)
    assert len(copies) == (-(-len(expected) // 500) if results_db.kind == "postgres" else 0)
    assert_rows(results_db.ratings(), expected)


def test_prefetch_reads_the_next_page_while_the_consumer_holds_this_one() -> None:
    reading_second = threading.Event()

    def pages():
        yield [(1,)]
        reading_second.set()
        yield [(2,)]

    reader = ratings_table._prefetched(pages())
    assert next(reader) == [(1,)]
    assert reading_second.wait(timeout=10), "the second page was not read while the first was held"
    assert list(reader) == [[(2,)]]


def test_prefetch_of_no_pages_is_empty() -> None:
    assert list(ratings_table._prefetched(iter([]))) == []


def test_prefetch_loses_no_page_for_a_slow_consumer() -> None:
    got = []
    for page in ratings_table._prefetched(iter([[(i,)] for i in range(4)])):
        time.sleep(0.05)
        got.append(page)
    assert got == [[(0,)], [(1,)], [(2,)], [(3,)]]


def test_prefetch_raises_the_readers_error_in_the_consumer() -> None:
    def pages():
        yield [(1,)]
        raise ConnectionError("injected: the API went away")

    reader = ratings_table._prefetched(pages())
    assert next(reader) == [(1,)]
    with pytest.raises(ConnectionError, match="injected"):
        next(reader)


def test_prefetch_stops_reading_when_the_consumer_stops() -> None:
    pulled, readers = [], set()

    def pages():
        for i in range(100):
            pulled.append(i)
            readers.add(threading.current_thread())
            yield [(i,)]

    reader = ratings_table._prefetched(pages())
    assert next(reader) == [(0,)]
    reader.close()  # the consumer gives up after one page: the page being read is the last one read
    assert pulled == [0, 1]
    [thread] = readers  # one background reader, named for thread dumps, gone with the generator
    assert thread.name.startswith("movielens-prefetch_")
    assert not thread.is_alive()


@pytest.mark.parametrize("page_size", [0, -3])
def test_a_page_size_below_one_is_rejected(page_size) -> None:
    with pytest.raises(MovielensArgumentError, match=f"page_size must be >= 1, got {page_size}"):
        replace_interval(None, DAY, NEXT_DAY, [], page_size=page_size)


def test_bad_bounds_name_the_argument() -> None:
    with pytest.raises(MovielensArgumentError, match="start_date"):
        replace_interval(None, "yesterday", NEXT_DAY, [])
    with pytest.raises(MovielensArgumentError, match="end_date"):
        replace_interval(None, DAY, "tomorrow", [])


def test_a_page_size_of_one_is_valid(results_db) -> None:
    rows = [{"userId": u, "movieId": 1, "rating": 4.0, "timestamp": as_midnight(DAY) + u} for u in range(3)]
    assert replace_interval(db_hook(), DAY, NEXT_DAY, rows, schema="public", page_size=1)["count"] == 3
    assert results_db.ratings()["userId"].tolist() == [0, 1, 2]


def test_no_days_table_marks_nothing(results_db) -> None:
    rows = [{"userId": 1, "movieId": 1, "rating": 4.0, "timestamp": as_midnight(DAY)}]
    assert replace_interval(db_hook(), DAY, NEXT_DAY, rows, schema="public", days_table=None)["count"] == 1
    assert [name.split(".")[-1] for name in results_db.tables()] == ["ratings"]


@pytest.mark.parametrize(
    ("end", "message"),
    [
        ("2019-02-01", r"1 of 1 ratings lie outside \[2019-01-01, 2019-02-01\)"),  # 31 days: staged
        ("2019-02-02", r"1 ratings of a page lie outside \[2019-01-01, 2019-02-02\)"),  # 32 days: direct
    ],
)
def test_intervals_up_to_direct_load_days_are_staged_longer_ones_direct(results_db, end, message) -> None:
    assert ratings_table.DIRECT_LOAD_DAYS == 31
    stray = [{"userId": 1, "movieId": 1, "rating": 4.0, "timestamp": as_midnight(end)}]
    with pytest.raises(ValueError, match=message):
        replace_interval(db_hook(), "2019-01-01", end, stray, schema="public")


def test_a_db_api_hook_without_a_conn_type_gets_plain_inserts(postgres_server) -> None:
    """Any DB-API hook works: one that declares no ``conn_type`` gets inserts (no COPY), schema-qualified."""
    rows = [{"userId": u, "movieId": 1, "rating": 4.0, "timestamp": as_midnight(DAY) + u} for u in range(3)]
    with postgres_server.database() as name:

        class PlainHook:
            placeholder = "%s"

            def get_conn(self):
                return postgres_server.connect(name)

        assert replace_interval(PlainHook(), DAY, NEXT_DAY, rows, schema="public")["count"] == 3
        stored = postgres_server.query(name, 'SELECT COUNT(*), MIN("userId") FROM public.ratings')
        assert stored.values.tolist() == [[3, 0]]


def test_concurrent_first_loads_create_the_tables_once(postgres_server) -> None:
    """Without the advisory lock, concurrent ``CREATE TABLE IF NOT EXISTS`` fail with a duplicate key in
    PostgreSQL's type catalogue (several workers loading their first days at once)."""
    days = [f"2019-01-{day:02d}" for day in range(1, 10)]
    connected = threading.Barrier(len(days) - 1)
    with postgres_server.database() as name:

        class ConnectedTogether:
            """A PostgreSQL hook whose loads all get their connection before any of them goes on."""

            conn_type, placeholder = "postgres", "%s"

            def get_conn(self):
                conn = postgres_server.connect(name)
                connected.wait(timeout=30)
                return conn

        def first_load(start: str, end: str) -> None:
            rows = [{"userId": 1, "movieId": 1, "rating": 4.0, "timestamp": as_midnight(start)}]
            replace_interval(ConnectedTogether(), start, end, rows, schema="public")

        assert run_at_once([functools.partial(first_load, *pair) for pair in itertools.pairwise(days)]) == []
        count = postgres_server.query(name, 'SELECT COUNT(*) AS n FROM public."ratings"')["n"].iloc[0]
        assert count == len(days) - 1
