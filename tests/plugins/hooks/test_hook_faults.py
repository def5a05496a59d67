"""Retries and typed errors, through a fault-injecting proxy in front of the real API.

The ``movielens_proxy`` connection (tests/plugins/conftest.py) has a 3 s read timeout, 4 retries and zero
backoff; waits are recorded by the ``waits`` fixture instead of slept.
"""

from __future__ import annotations

import email.utils
import time

import pandas as pd
import pytest
import requests

from airflow_movielens.exceptions import (
    MovielensAuthError,
    MovielensDataChangedError,
    MovielensRequestError,
    MovielensUnavailableError,
)
from airflow_movielens.hooks import MovielensHook
from airflow_movielens.transport import retry_after
from tests.support.fault_proxy import FaultProxy
from tests.support.live_api import free_port

DAY, NEXT_DAY = "2019-01-05", "2019-01-06"
BATCH = 500


def fetch(conn_id: str = "movielens_proxy", **hook_kwargs) -> pd.DataFrame:
    with MovielensHook(conn_id, **hook_kwargs) as hook:
        return hook.get_ratings(DAY, NEXT_DAY, batch_size=BATCH)


def test_every_fault_is_retried_and_no_rating_is_lost_or_duplicated(
    fault_proxy: FaultProxy, expected_ratings, waits
):
    expected = expected_ratings(DAY, NEXT_DAY)
    pages = -(-len(expected) // BATCH)
    assert pages >= 5
    faults = ["500", "429:2", "reset", "stall", "503", "truncate", "stall_body"]
    # First page clean, then each later page meets one fault before succeeding.
    fault_proxy.inject("/ratings", None, "500", None, "429:2", None, "reset", "stall", None)
    fault_proxy.inject("/ratings", "503", "truncate", None, "stall_body", None)

    ratings = fetch()

    pd.testing.assert_frame_equal(ratings, expected)
    seen = fault_proxy.requests_to("/ratings")
    assert [s.fault for s in seen if s.fault] == faults
    assert len(seen) == pages + len(faults)
    offsets = [int(s.query["offset"][0]) for s in seen if s.fault is None]
    assert offsets == [i * BATCH for i in range(pages)], "each page fetched exactly once successfully"
    assert len(waits) == len(faults)
    assert waits[1] == 2.0, "Retry-After is honoured (zero backoff adds no jitter)"
    assert [w for i, w in enumerate(waits) if i != 1] == [0.0] * (len(faults) - 1)


def test_retry_after_as_http_date():
    response = requests.Response()
    response.headers["Retry-After"] = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= retry_after(response) <= 30
    response.headers["Retry-After"] = "7"
    assert retry_after(response) == 7.0
    response.headers["Retry-After"] = "soon"
    assert retry_after(response) is None


@pytest.mark.parametrize(("fault", "status"), [("500", 500), ("429:1", 429), ("reset", None)])
def test_exhausted_retries_raise_unavailable(fault_proxy: FaultProxy, waits, fault, status):
    fault_proxy.always("/ratings", fault)
    with pytest.raises(MovielensUnavailableError, match="failed after 3 attempt") as caught:
        fetch(max_retries=2)
    assert caught.value.status_code == status
    assert caught.value.attempts == 3
    assert "/ratings?" in caught.value.url
    assert len(fault_proxy.requests_to("/ratings")) == 3
    assert len(waits) == 2


def test_exhausted_read_timeouts_raise_unavailable(fault_proxy: FaultProxy, waits):
    fault_proxy.always("/ratings", "stall")
    with pytest.raises(MovielensUnavailableError) as caught:
        fetch(max_retries=1)
    assert caught.value.status_code is None
    assert isinstance(caught.value.__cause__, requests.exceptions.RequestException)
    assert len(fault_proxy.requests_to("/ratings")) == 2


def test_backoff_is_exponential_with_jitter_and_capped(fault_proxy: FaultProxy, waits, monkeypatch):
    cap = 3.0
    monkeypatch.setattr(MovielensHook, "max_wait", cap)
    fault_proxy.always("/ratings", "500")
    with pytest.raises(MovielensUnavailableError):
        fetch(max_retries=6, backoff=1.0)
    assert len(waits) == 6
    # attempt n waits within [b*2**(n-1)/2, b*2**(n-1)] until that ceiling passes the cap: then within
    # [cap/2, cap]. The uncapped ceilings of the last three retries (8, 16, 32 s) are well above the cap.
    ceilings = [min(cap, 2 ** (n - 1)) for n in range(1, 7)]
    assert ceilings == [1, 2, 3, 3, 3, 3]
    for wait, ceiling in zip(waits, ceilings, strict=True):
        assert ceiling / 2 <= wait <= ceiling
    assert max(waits) <= cap
    assert len(set(waits)) == len(waits)  # jittered


def test_retry_after_is_capped_too(fault_proxy: FaultProxy, waits, monkeypatch):
    monkeypatch.setattr(MovielensHook, "max_wait", 5.0)
    fault_proxy.inject("/ratings", "429:3", "429:3600")
    ratings = fetch()
    assert len(ratings) > 0
    assert waits == [3.0, 5.0]  # zero backoff: no jitter; an hour's Retry-After waits max_wait


def test_connection_refused_is_retried_then_unavailable(add_connection, waits):
    add_connection("ml_down", conn_type="movielens", host="127.0.0.1", port=free_port(), extra={"backoff": 0})
    with pytest.raises(MovielensUnavailableError, match="ConnectionError") as caught:
        fetch("ml_down", max_retries=2)
    assert caught.value.attempts == 3
    assert len(waits) == 2


def test_401_fails_fast_without_retry(movielens_api, fault_proxy: FaultProxy, add_connection, waits):
    conn = movielens_api.connection(max_retries=4, backoff=0)
    add_connection("ml_proxy_badpw", **{**conn, "port": fault_proxy.port, "password": "nope"})
    with pytest.raises(
        MovielensAuthError, match="authentication failed for connection 'ml_proxy_badpw'"
    ) as e:
        fetch("ml_proxy_badpw")
    assert e.value.status_code == 401
    assert len(fault_proxy.requests_to("/ratings")) == 1
    assert waits == []


def test_other_4xx_fail_fast_with_the_server_message(fault_proxy: FaultProxy, waits):
    with (
        MovielensHook("movielens_proxy") as hook,
        pytest.raises(MovielensRequestError, match="limit") as caught,
    ):
        list(hook.iter_ratings(DAY, NEXT_DAY, batch_size=10_001))  # over the API's maximum page size
    assert caught.value.status_code == 400
    assert len(fault_proxy.requests_to("/ratings")) == 1
    assert waits == []


def test_total_changing_between_pages_is_detected(fault_proxy: FaultProxy):
    fault_proxy.inject("/ratings", None, None, "total+1")
    with pytest.raises(MovielensDataChangedError, match="total changed"):
        fetch()


def test_server_without_total_stops_on_empty_page(fault_proxy: FaultProxy, expected_ratings):
    fault_proxy.always("/ratings", "drop_total")
    ratings = fetch()
    pd.testing.assert_frame_equal(ratings, expected_ratings(DAY, NEXT_DAY))
    pages = -(-len(ratings) // BATCH)
    assert len(fault_proxy.requests_to("/ratings")) == pages + 1  # the closing empty page
