"""Fast unit tests of limit/offset paging through the hook (requests-mock serves a fake /ratings)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from airflow_movielens import transport as paging
from airflow_movielens.exceptions import MovielensDataChangedError, MovielensResponseError
from airflow_movielens.hooks import RATING_DTYPES, MovielensHook

BASE = "http://api.test:5000"


def rating(i: int) -> dict[str, float]:
    return {"userId": i, "movieId": 100 + i, "rating": 4.5, "timestamp": 1_546_300_800 + i}


@pytest.fixture
def hook(add_connection, waits) -> MovielensHook:
    add_connection("ml_unit", conn_type="movielens", host="api.test", extra={"backoff": 0, "max_retries": 1})
    return MovielensHook("ml_unit")


def serve(requests_mock, rows: int, *, total=lambda offset, rows: rows, short_at: int | None = None):
    """A fake /ratings of ``rows`` ratings; ``total`` may lie, ``short_at`` makes that offset's page empty."""

    def page(request, context):
        limit, offset = int(request.qs["limit"][0]), int(request.qs.get("offset", ["0"])[0])
        items = [] if offset == short_at else [rating(i) for i in range(offset, min(rows, offset + limit))]
        body = {"result": items, "limit": limit, "offset": offset}
        reported = total(offset, rows)
        if reported is not None:
            body["total"] = reported
        return body

    return requests_mock.get(f"{BASE}/ratings", json=page)


@pytest.mark.parametrize(("rows", "batch", "requests"), [(10, 5, 2), (11, 5, 3), (4, 5, 1), (1, 1, 1)])
def test_pages_stop_at_total_without_an_extra_request(requests_mock, hook, rows, batch, requests):
    serve(requests_mock, rows)
    frame = hook.get_ratings("2019-01-01", "2019-01-02", batch_size=batch)
    assert frame["userId"].tolist() == list(range(rows))
    assert frame.dtypes.astype(str).to_dict() == RATING_DTYPES
    assert requests_mock.call_count == requests
    offsets = [int(r.qs["offset"][0]) for r in requests_mock.request_history]
    assert offsets == list(range(0, rows, batch))
    assert requests_mock.request_history[0].qs["start_date"] == ["2019-01-01"]


def test_empty_result_is_one_request_and_a_typed_empty_frame(requests_mock, hook):
    serve(requests_mock, 0)
    frame = hook.get_ratings(batch_size=3)
    assert frame.empty
    assert frame.dtypes.astype(str).to_dict() == RATING_DTYPES
    assert requests_mock.call_count == 1


def test_without_total_paging_ends_on_the_first_empty_page(requests_mock, hook):
    serve(requests_mock, 6, total=lambda offset, rows: None)
    assert [r["userId"] for r in hook.iter_ratings(batch_size=3)] == list(range(6))
    assert requests_mock.call_count == 3


@pytest.mark.parametrize(
    ("served", "message"),
    [
        ({"total": lambda offset, rows: rows + (offset > 0)}, "total changed from 9 to 10 at offset 3"),
        ({"short_at": 6}, "empty page at offset 6 although total is 9"),
        ({"total": lambda offset, rows: 7}, "returned 9 items, more than its total of 7"),
    ],
    ids=["total-moves", "empty-page-before-total", "more-items-than-total"],
)
def test_a_result_set_that_changes_while_paging_is_a_data_change(requests_mock, hook, served, message):
    serve(requests_mock, 9, **served)
    with pytest.raises(MovielensDataChangedError, match=message) as caught:
        hook.get_ratings(batch_size=3)
    assert caught.value.url == f"{BASE}/ratings"


def test_a_page_without_result_list_is_a_response_error_with_url(requests_mock, hook):
    requests_mock.get(f"{BASE}/ratings", json={"total": 3})
    with pytest.raises(MovielensResponseError, match="without a 'result' list") as caught:
        hook.get_ratings()
    assert caught.value.url == f"{BASE}/ratings"


def test_an_item_without_a_field_is_a_response_error(requests_mock, hook):
    requests_mock.get(f"{BASE}/ratings", json={"result": [{"userId": 1}], "total": 1})
    with pytest.raises(MovielensResponseError, match="has no 'movieId' field") as caught:
        hook.get_ratings()
    assert caught.value.url == f"{BASE}/ratings"


def test_count_ratings_needs_an_integer_total(requests_mock, hook):
    requests_mock.get(f"{BASE}/ratings", json={"result": [], "total": "many"})
    with pytest.raises(MovielensResponseError, match="without an integer 'total' \\(got 'many'\\)") as caught:
        hook.count_ratings()
    assert caught.value.url == f"{BASE}/ratings"
    assert requests_mock.last_request.qs["limit"] == ["1"]


def test_a_page_that_fails_once_is_fetched_again_not_skipped(requests_mock, hook, waits):
    pages = [
        {"json": {"result": [rating(0), rating(1)], "total": 4}},
        {"status_code": 503},
        {"json": {"result": [rating(2), rating(3)], "total": 4}},
    ]
    requests_mock.get(f"{BASE}/ratings", pages)
    assert [r["userId"] for r in hook.iter_ratings(batch_size=2)] == [0, 1, 2, 3]
    assert [int(r.qs["offset"][0]) for r in requests_mock.request_history] == [0, 2, 2]
    assert waits == [0.0]


def test_progress_is_logged_every_ten_seconds_then_summarised(monkeypatch, caplog):
    """pages() on a fake clock: started at 100 s, 4 one-item pages read 9.9, 10, 19.9 and 20 s later."""
    clock = iter([100.0, 109.9, 110.0, 119.9, 120.0])
    monkeypatch.setattr(paging, "time", SimpleNamespace(monotonic=lambda: next(clock)))
    rows = [rating(i) for i in range(4)]

    def get_page(params):
        return {"result": rows[params["offset"] : params["offset"] + params["limit"]], "total": 4}

    log = logging.getLogger("test.paging")
    with caplog.at_level(logging.INFO, logger="test.paging"):
        got = list(paging.pages(get_page, "/ratings", {"start_date": "2019-01-01"}, 1, log=log))
    assert len(got) == 4
    assert [r.getMessage() for r in caplog.records] == [
        "/ratings: 2 of 4 items in 2 pages (0 items/s)",
        "/ratings {'start_date': '2019-01-01'}: 4 items in 4 pages in 20.00 s (0 items/s)",
    ]


def test_an_empty_result_is_summarised_too(caplog):
    log = logging.getLogger("test.paging")
    with caplog.at_level(logging.INFO, logger="test.paging"):
        assert list(paging.pages(lambda params: {"result": [], "total": 0}, "/ratings", {}, 5, log=log)) == []
    assert [r.getMessage().split(" in ")[0] for r in caplog.records] == ["/ratings {}: 0 items"]
