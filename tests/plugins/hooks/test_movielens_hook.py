"""MovielensHook against the real API (no mocks): paging, dtypes, movies, settings, test_connection."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pendulum
import pytest

from airflow_movielens.exceptions import (
    MovielensArgumentError,
    MovielensAuthError,
    MovielensError,
    MovielensRequestError,
)
from airflow_movielens.hooks import MOVIE_DTYPES, RATING_DTYPES, MovielensHook
from tests.support.fault_proxy import FaultProxy

DAY, NEXT_DAY = "2019-01-03", "2019-01-04"
WINDOW = ("2019-01-01", "2019-01-15")
EMPTY = ("2019-02-01", "2019-02-02")


def test_discoverable_attributes():
    assert MovielensHook.conn_name_attr == "movielens_conn_id"
    assert MovielensHook.default_conn_name == "movielens"
    assert MovielensHook.conn_type == "movielens"
    assert MovielensHook.hook_name == "MovieLens Rating API"


def test_init_touches_neither_connection_nor_network():
    hook = MovielensHook("no_such_connection", timeout=1, batch_size=5)
    assert hook.movielens_conn_id == "no_such_connection"
    assert "transport" not in vars(hook)
    assert "connection" not in vars(hook)


@pytest.mark.parametrize(
    ("batch_size", "interval"),
    [(1, (DAY, NEXT_DAY)), (7, (DAY, NEXT_DAY)), (100, WINDOW), (10_000, WINDOW)],
)
def test_get_ratings_equals_source_for_every_batch_size(
    movielens_api, expected_ratings, batch_size, interval
):
    with MovielensHook() as hook:
        ratings = hook.get_ratings(*interval, batch_size=batch_size)
    expected = expected_ratings(*interval)
    assert len(expected) > 0
    pd.testing.assert_frame_equal(ratings, expected)
    assert ratings.dtypes.astype(str).to_dict() == RATING_DTYPES


def test_iter_ratings_accepts_dates_datetimes_and_pendulum(movielens_api, expected_ratings):
    expected = expected_ratings(DAY, NEXT_DAY).to_dict("records")
    with MovielensHook() as hook:
        for start, end in [
            (dt.date(2019, 1, 3), dt.date(2019, 1, 4)),
            (dt.datetime(2019, 1, 3, tzinfo=dt.UTC), dt.datetime(2019, 1, 4, tzinfo=dt.UTC)),
            (pendulum.datetime(2019, 1, 3, tz="UTC"), pendulum.datetime(2019, 1, 4, tz="UTC")),
            (pendulum.datetime(2019, 1, 3, 9, tz="Asia/Seoul"), pendulum.date(2019, 1, 4)),
        ]:
            assert list(hook.iter_ratings(start, end, batch_size=1000)) == expected


def test_unbounded_interval_returns_everything(movielens_api, source_ratings):
    with MovielensHook() as hook:
        ratings = hook.get_ratings()
        assert hook.count_ratings() == len(source_ratings) == len(ratings)
    pd.testing.assert_frame_equal(ratings, source_ratings)


def test_empty_interval(movielens_api):
    with MovielensHook() as hook:
        ratings = hook.get_ratings(*EMPTY)
        assert hook.count_ratings(*EMPTY) == 0
        assert hook.has_ratings(*EMPTY) is False
        assert hook.has_ratings(DAY, NEXT_DAY) is True
    assert ratings.empty
    assert ratings.dtypes.astype(str).to_dict() == RATING_DTYPES


def test_count_ratings(movielens_api, expected_ratings):
    with MovielensHook() as hook:
        assert hook.count_ratings(*WINDOW) == len(expected_ratings(*WINDOW))
        assert hook.count_ratings(DAY, NEXT_DAY) == len(expected_ratings(DAY, NEXT_DAY))


def test_one_session_and_one_connection_for_all_pages(movielens_api, fault_proxy: FaultProxy):
    with MovielensHook("movielens_proxy") as hook:
        session = hook.get_conn()
        ratings = hook.get_ratings(DAY, NEXT_DAY, batch_size=500)
        assert hook.get_conn() is session
    pages = fault_proxy.requests_to("/ratings")
    assert len(pages) == -(-len(ratings) // 500) >= 5
    assert len({seen.client for seen in pages}) == 1, "pages must reuse one keep-alive connection"


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2019-1-3", None, "start_date must be a date in YYYY-MM-DD form"),
        ("2019-02-30", None, "start_date is not a valid calendar date"),
        (None, "tomorrow", "end_date must be a date in YYYY-MM-DD form"),
        ("2019-01-04", "2019-01-03", "end_date 2019-01-03 is before start_date 2019-01-04"),
        (dt.datetime(2019, 1, 3, 6, tzinfo=dt.UTC), None, "must be midnight UTC"),
    ],
)
def test_bad_dates_fail_before_any_request(start, end, message):
    hook = MovielensHook("no_such_connection")
    with pytest.raises(MovielensArgumentError, match=message):
        hook.iter_ratings(start, end)


@pytest.mark.parametrize("batch_size", [0, -1, True, 2.5, "10"])
def test_bad_batch_size_fails_before_any_request(batch_size):
    message = f"batch_size must be a positive integer, got {batch_size!r}"
    with pytest.raises(MovielensArgumentError) as caught:
        MovielensHook("no_such_connection").iter_ratings(batch_size=batch_size)
    assert str(caught.value) == message


def test_server_side_rejection_is_a_request_error(movielens_api):
    with MovielensHook() as hook, pytest.raises(MovielensRequestError, match="limit") as caught:
        list(hook.iter_ratings(DAY, NEXT_DAY, batch_size=10_001))
    assert caught.value.status_code == 400
    assert "/ratings?" in caught.value.url


def test_get_movies_equals_movies_csv(movielens_api):
    expected = pd.read_csv(movielens_api.movies_csv, dtype={"movieId": "int64"})
    with MovielensHook() as hook:
        movies = hook.get_movies(batch_size=400)
        some = hook.get_movies([3, 1, 2, 3, 999_999], batch_size=2)
    assert movies.dtypes.astype(str).to_dict() == MOVIE_DTYPES
    pd.testing.assert_frame_equal(
        movies.sort_values("movieId", ignore_index=True),
        expected.sort_values("movieId", ignore_index=True),
    )
    wanted = expected[expected["movieId"].isin([1, 2, 3, 999_999])].sort_values("movieId", ignore_index=True)
    assert len(wanted) >= 1
    pd.testing.assert_frame_equal(some.sort_values("movieId", ignore_index=True), wanted)


def test_iter_movies_chunks_many_ids(movielens_api):
    ids = list(range(1, 451))
    with MovielensHook() as hook:
        hook.movie_ids_per_request = 200
        found = {movie["movieId"] for movie in hook.iter_movies(ids)}
    assert found == set(ids) & set(pd.read_csv(movielens_api.movies_csv)["movieId"])


def test_test_connection(movielens_api, add_connection):
    ok, message = MovielensHook().test_connection()
    assert ok, message
    assert movielens_api.base_url in message

    add_connection("movielens_badpw", **{**movielens_api.connection(), "password": "wrong"})
    ok, message = MovielensHook("movielens_badpw").test_connection()
    assert not ok
    assert "authentication failed for connection 'movielens_badpw'" in message


def test_wrong_password_raises_auth_error(movielens_api, add_connection):
    add_connection("movielens_badpw", **{**movielens_api.connection(), "password": "wrong"})
    with MovielensHook("movielens_badpw") as hook, pytest.raises(MovielensAuthError) as caught:
        hook.count_ratings()
    assert caught.value.status_code == 401
    assert caught.value.url.startswith(movielens_api.base_url + "/ratings")


# -- settings: caller arguments win over connection extras, which win over defaults ----------------------


def test_settings_precedence(add_connection):
    add_connection(
        "ml_extras",
        conn_type="movielens",
        host="api.example",
        extra={"timeout": 30, "connect_timeout": 3, "max_retries": 7, "backoff": 0.5, "batch_size": 50},
    )
    from_extras = MovielensHook("ml_extras").settings
    assert from_extras.timeout == (3.0, 30.0)
    assert (from_extras.max_retries, from_extras.backoff, from_extras.batch_size) == (7, 0.5, 50)
    assert from_extras.base_url == "http://api.example:5000"

    caller = MovielensHook("ml_extras", timeout=(1, 2), max_retries=0, backoff=0, batch_size=9).settings
    assert caller.timeout == (1.0, 2.0)
    assert (caller.max_retries, caller.backoff, caller.batch_size) == (0, 0.0, 9)

    add_connection("ml_bare", conn_type="movielens", host="api.example")
    bare = MovielensHook("ml_bare").settings
    assert bare.timeout == (MovielensHook.default_connect_timeout, MovielensHook.default_timeout)
    assert bare.batch_size == MovielensHook.default_batch_size


@pytest.mark.parametrize(
    ("conn", "base_url"),
    [
        ({"host": "movielens-api"}, "http://movielens-api:5000"),
        ({"host": "movielens-api", "port": 8080, "schema": "https"}, "https://movielens-api:8080"),
        ({"host": "https://api.example/"}, "https://api.example:5000"),
        ({"host": "http://api.example:81", "port": 99}, "http://api.example:81"),
    ],
)
def test_base_url(add_connection, conn, base_url):
    add_connection("ml_url", conn_type="movielens", **conn)
    assert MovielensHook("ml_url").base_url == base_url


def test_ui_prefixed_extras_are_read(add_connection):
    add_connection(
        "ml_ui", conn_type="movielens", host="h", extra={"extra__movielens__batch_size": "25", "timeout": ""}
    )
    settings = MovielensHook("ml_ui").settings
    assert settings.batch_size == 25
    assert settings.timeout[1] == MovielensHook.default_timeout


@pytest.mark.parametrize(
    ("extra", "message"),
    [({"batch_size": "many"}, "must be an integer"), ({"timeout": "soon"}, "must be a number")],
)
def test_bad_extras_are_reported(add_connection, extra, message):
    add_connection("ml_bad", conn_type="movielens", host="h", extra=extra)
    with pytest.raises(MovielensError, match=message):
        MovielensHook("ml_bad").get_conn()


def test_missing_host_is_reported(add_connection):
    add_connection("ml_nohost", conn_type="movielens")
    with pytest.raises(MovielensError, match="has no host"):
        MovielensHook("ml_nohost").get_conn()
