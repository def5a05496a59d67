"""Fast unit tests of the hook's movie lookups and its connection test (requests-mock serves the API)."""

from __future__ import annotations

import pytest

from airflow_movielens.exceptions import MovielensResponseError
from airflow_movielens.hooks import MOVIE_DTYPES, MovielensHook

BASE = "http://api.test:5000"
MOVIES = [{"movieId": i, "title": f"Movie {i} (2019)", "genres": ["Drama", "Comedy"]} for i in range(1, 6)]


@pytest.fixture
def hook(add_connection, waits) -> MovielensHook:
    add_connection("ml_unit", conn_type="movielens", host="api.test", extra={"backoff": 0, "max_retries": 1})
    return MovielensHook("ml_unit")


def serve_movies(requests_mock):
    def page(request, context):
        limit, offset = int(request.qs["limit"][0]), int(request.qs.get("offset", ["0"])[0])
        wanted = request.qs.get("movieid")
        movies = [m for m in MOVIES if not wanted or str(m["movieId"]) in wanted[0].split(",")]
        return {
            "result": movies[offset : offset + limit],
            "limit": limit,
            "offset": offset,
            "total": len(movies),
        }

    return requests_mock.get(f"{BASE}/movies", json=page)


def test_movie_batches_follow_batch_size(requests_mock, hook):
    serve_movies(requests_mock)
    frame = hook.get_movies(batch_size=2)
    assert frame["movieId"].tolist() == [1, 2, 3, 4, 5]
    assert frame["genres"].tolist() == ["Drama|Comedy"] * 5
    assert frame.dtypes.astype(str).to_dict() == MOVIE_DTYPES
    assert [r.qs["limit"] for r in requests_mock.request_history] == [["2"]] * 3


def test_movie_ids_are_looked_up_once_in_chunks_and_batches(requests_mock, hook):
    serve_movies(requests_mock)
    hook.movie_ids_per_request = 2
    frame = hook.get_movies([5, 1, 3, 1, 2], batch_size=1)
    assert sorted(frame["movieId"].tolist()) == [1, 2, 3, 5]
    asked = [(r.qs["movieid"][0], r.qs["limit"][0]) for r in requests_mock.request_history]
    assert asked == [("1,2", "1"), ("1,2", "1"), ("3,5", "1"), ("3,5", "1")]


def test_a_movie_without_a_field_names_the_movies_url(requests_mock, hook):
    requests_mock.get(f"{BASE}/movies", json={"result": [{"movieId": 1, "genres": []}], "total": 1})
    with pytest.raises(MovielensResponseError, match="has no 'title' field") as caught:
        hook.get_movies()
    assert caught.value.url == f"{BASE}/movies"
    assert f"{BASE}/movies's result" in str(caught.value)


@pytest.mark.parametrize(
    ("body", "count"), [({"result": [], "total": 42}, "42"), ({"result": []}, "unknown")]
)
def test_connection_test_reports_the_total(requests_mock, hook, body, count):
    requests_mock.get(f"{BASE}/", text="Hello from the Movie Rating API!")
    ratings = requests_mock.get(f"{BASE}/ratings", json=body)
    assert hook.test_connection() == (True, f"Connected to {BASE}: {count} ratings available")
    assert ratings.call_count == 1
    assert ratings.last_request.qs == {"limit": ["1"]}


@pytest.mark.parametrize("failing", ["/", "/ratings"])
def test_connection_test_makes_one_attempt_per_request(requests_mock, hook, failing, waits):
    """The Test button answers at once: no retries, although the connection allows one."""
    root = requests_mock.get(f"{BASE}/", status_code=503 if failing == "/" else 200, text="")
    ratings = requests_mock.get(f"{BASE}/ratings", status_code=503, json={})
    ok, message = hook.test_connection()
    assert not ok
    assert "503" in message
    assert (root.call_count, ratings.call_count) == ((1, 0) if failing == "/" else (1, 1))
    assert waits == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"result": [], "total": 2}, True),  # a server that pages past the first item still counts
        ({"result": [{"userId": 1}]}, True),  # no total: the item is enough
        ({"result": [], "total": 0}, False),
        ({"result": []}, False),
    ],
)
def test_has_ratings_reads_the_item_or_the_total(requests_mock, hook, body, expected):
    requests_mock.get(f"{BASE}/ratings", json=body)
    assert hook.has_ratings("2019-01-01", "2019-01-02") is expected


@pytest.mark.parametrize(("value", "expected"), [(1_547_510_400, 1_547_510_400), (None, None)])
def test_newest_rating_timestamp_is_an_integer_or_none(requests_mock, hook, value, expected):
    requests_mock.get(f"{BASE}/health", json={"status": "ok", "last_rating_timestamp": value})
    assert hook.newest_rating_timestamp() == expected


@pytest.mark.parametrize("value", ["soon", True, 1.5])
def test_a_newest_rating_timestamp_that_is_not_an_integer_is_a_response_error(requests_mock, hook, value):
    requests_mock.get(f"{BASE}/health", json={"status": "ok", "last_rating_timestamp": value})
    with pytest.raises(MovielensResponseError) as caught:
        hook.newest_rating_timestamp()
    assert str(caught.value) == f"{BASE}/health answered a 'last_rating_timestamp' of {value!r}"
    assert caught.value.url == f"{BASE}/health"


def test_a_window_with_ratings_does_not_ask_for_the_newest_rating(requests_mock, hook):
    requests_mock.get(f"{BASE}/ratings", json={"result": [{"userId": 1}], "total": 1})
    health = requests_mock.get(f"{BASE}/health", json={"last_rating_timestamp": 0})
    assert hook.window_state("2019-01-01", "2019-01-02") == ("ready", None)
    assert health.call_count == 0


def test_close_ends_the_session_and_the_next_request_opens_a_new_one(requests_mock, hook):
    MovielensHook("never_used").close()  # nothing opened yet: nothing to close, no error
    first = hook.transport
    hook.close()
    assert hook.transport is not first


def test_paging_gets_the_hooks_progress_interval_and_logger(monkeypatch, requests_mock, hook):
    """What the interval does is paging's (tests/plugins/test_paging.py); the hook must hand its own on."""
    from airflow_movielens import hooks

    handed = {}

    def recording_pages(get_page, url, params, batch_size, **kwargs):
        handed.update(kwargs, url=url, batch_size=batch_size)
        return iter([])

    monkeypatch.setattr(hooks, "pages", recording_pages)
    hook.progress_interval = 2.5
    assert list(hook.iter_ratings("2019-01-01", "2019-01-02", batch_size=7)) == []
    assert handed == {"log": hook.log, "progress_interval": 2.5, "url": f"{BASE}/ratings", "batch_size": 7}


def test_a_page_without_a_result_list_names_the_url(requests_mock, hook):
    requests_mock.get(f"{BASE}/ratings", json={"total": 3})
    with pytest.raises(MovielensResponseError) as caught:
        hook.get_ratings("2019-01-01", "2019-01-02")
    assert str(caught.value) == f"{BASE}/ratings answered without a 'result' list"
    assert caught.value.url == f"{BASE}/ratings"
