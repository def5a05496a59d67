"""Closed windows: the pure rules (airflow_movielens.dates) and the hook's window_state (requests-mock)."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from airflow_movielens.dates import CLOSED, READY, WAITING, WindowProbe, is_closed, window_state
from airflow_movielens.exceptions import AirflowFailException, MovielensArgumentError, MovielensResponseError
from airflow_movielens.hooks import MovielensHook
from airflow_movielens.sensors import check_on_empty, settle_closed_empty

try:
    from airflow.sdk.exceptions import AirflowSkipException
except ImportError:
    from airflow.exceptions import AirflowSkipException

MIDNIGHT_JAN_15 = int(dt.datetime(2019, 1, 15, tzinfo=dt.UTC).timestamp())
log = logging.getLogger(__name__)


@pytest.mark.parametrize(
    ("end", "newest", "closed"),
    [
        ("2019-01-15", MIDNIGHT_JAN_15, True),  # a rating at the very end's midnight: nothing more can come
        ("2019-01-15", MIDNIGHT_JAN_15 + 3600, True),
        ("2019-01-15", MIDNIGHT_JAN_15 - 1, False),  # the newest rating is inside: the day may still fill
        ("2019-02-01", MIDNIGHT_JAN_15, False),  # the future
        (None, MIDNIGHT_JAN_15, False),  # unbounded
        ("2019-01-15", None, False),  # an API with no ratings (or that does not say)
    ],
)
def test_is_closed(end, newest, closed):
    assert is_closed(end, newest) is closed


def test_window_state():
    assert window_state(True, "2019-02-01", None) == READY
    assert window_state(False, "2019-01-15", MIDNIGHT_JAN_15) == CLOSED
    assert window_state(False, "2019-02-01", MIDNIGHT_JAN_15) == WAITING


def test_on_empty_choices():
    assert [check_on_empty(choice) for choice in ("succeed", "skip", "fail")] == ["succeed", "skip", "fail"]
    with pytest.raises(
        MovielensArgumentError, match="on_empty must be one of succeed, skip, fail, got 'wait'"
    ):
        check_on_empty("wait")


def test_settle_closed_empty():
    args = ("2019-01-14", "2019-01-15", MIDNIGHT_JAN_15, log)
    assert settle_closed_empty("succeed", *args) is True
    with pytest.raises(AirflowSkipException, match=r"has no ratings and is closed.*on_empty='skip'"):
        settle_closed_empty("skip", *args)
    with pytest.raises(AirflowFailException, match=r"2019-01-15T00:00:00\+00:00\) is past its end.*'fail'"):
        settle_closed_empty("fail", *args)


BASE = "http://api.test:5000"


@pytest.fixture
def hook(add_connection, waits) -> MovielensHook:
    add_connection("ml_unit", conn_type="movielens", host="api.test", extra={"backoff": 0, "max_retries": 1})
    return MovielensHook("ml_unit")


@pytest.mark.parametrize(
    ("total", "end", "newest", "state", "calls"),
    [
        (3, "2019-01-15", MIDNIGHT_JAN_15, READY, ["/ratings"]),
        (0, "2019-01-15", MIDNIGHT_JAN_15, CLOSED, ["/ratings", "/health"]),
        (0, "2019-02-01", MIDNIGHT_JAN_15, WAITING, ["/ratings", "/health"]),
        (0, None, MIDNIGHT_JAN_15, WAITING, ["/ratings"]),
        (0, "2019-01-15", None, WAITING, ["/ratings", "/health"]),
    ],
)
def test_hook_window_state(requests_mock, hook, total, end, newest, state, calls):
    requests_mock.get(f"{BASE}/ratings", json={"result": [{}] if total else [], "total": total})
    requests_mock.get(f"{BASE}/health", json={"status": "ok", "last_rating_timestamp": newest})
    assert hook.window_state("2019-01-14", end) == (state, None if total or end is None else newest)
    assert [request.path for request in requests_mock.request_history] == calls


def test_hook_reads_an_old_api_without_the_field_as_open(requests_mock, hook):
    requests_mock.get(f"{BASE}/health", json={"status": "ok"})
    assert hook.newest_rating_timestamp() is None


def test_hook_rejects_a_bad_newest_timestamp(requests_mock, hook):
    requests_mock.get(f"{BASE}/health", json={"last_rating_timestamp": "yesterday"})
    with pytest.raises(MovielensResponseError, match="'last_rating_timestamp' of 'yesterday'") as caught:
        hook.newest_rating_timestamp()
    assert caught.value.url == f"{BASE}/health"


@pytest.mark.parametrize(
    ("page", "end", "needs_newest"),
    [
        ({"result": [{}], "total": 1}, "2019-01-15", False),
        ({"result": [], "total": 2}, "2019-01-15", False),  # the item is missing but the total says so
        ({"result": [], "total": 0}, "2019-01-15", True),
        ({"result": [], "total": 0}, None, False),  # unbounded: open whatever the newest rating
    ],
)
def test_window_probe_asks_health_only_for_an_empty_bounded_window(page, end, needs_newest):
    probe = WindowProbe("2019-01-14", end)
    assert probe.params == {"start_date": "2019-01-14", "limit": 1, **({"end_date": end} if end else {})}
    assert probe.needs_newest(page) is needs_newest


def test_window_probe_rejects_a_bad_newest_timestamp_for_the_trigger_too():
    probe = WindowProbe("2019-01-14", "2019-01-15")
    empty = {"result": [], "total": 0}
    assert probe.state(empty, {"last_rating_timestamp": MIDNIGHT_JAN_15}, "u") == (CLOSED, MIDNIGHT_JAN_15)
    assert probe.state(empty, None, "u") == (WAITING, None)
    with pytest.raises(MovielensResponseError, match="u answered a 'last_rating_timestamp' of True"):
        probe.state(empty, {"last_rating_timestamp": True}, "u")
