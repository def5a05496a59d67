"""Fast unit tests of airflow_movielens.transport (requests-mock; no server, no sleeping).

The live-API and fault-proxy tests (tests/plugins/hooks/) check the same behaviour end to end; these pin the
exact counts, waits and error fields.
"""

from __future__ import annotations

import email.utils
import logging
import time

import pytest
import requests

from airflow_movielens import transport as transport_module
from airflow_movielens.connection import HookSettings
from airflow_movielens.exceptions import (
    MovielensAuthError,
    MovielensRequestError,
    MovielensResponseError,
    MovielensUnavailableError,
)
from airflow_movielens.transport import Transport, build_session, error_message, retry_after

URL = "http://api.test:5000/ratings"


def transport(waits: list[float], *, max_retries: int = 3, backoff: float = 0.0, max_wait: float = 300.0):
    settings = HookSettings("http://api.test:5000", (1.0, 2.0), max_retries, backoff, 10)
    return Transport(build_session(("u", "p")), "ml_unit", settings, max_wait, waits.append)


@pytest.fixture
def waits() -> list[float]:
    return []


def test_success_makes_one_request_with_auth_timeouts_and_headers(requests_mock, waits):
    requests_mock.get(URL, json={"result": []})
    seen = []
    session = build_session(("u", "p"))
    session.hooks["response"].append(lambda response, **kwargs: seen.append(kwargs.get("timeout")))
    settings = HookSettings("http://api.test:5000", (1.0, 2.0), 3, 0.0, 10)
    body = Transport(session, "ml_unit", settings, 300.0, waits.append).get_json(URL, {"limit": 1})
    assert body == {"result": []}
    [request] = requests_mock.request_history
    assert request.headers["Authorization"].startswith("Basic ")
    assert request.headers["Accept"] == "application/json"
    assert request.headers["User-Agent"] == "airflow-movielens"
    assert [adapter.max_retries.total for adapter in session.adapters.values()] == [0, 0]  # no retries below
    assert request.qs == {"limit": ["1"]}
    assert seen == [(1.0, 2.0)]
    assert waits == []


def test_a_page_is_decoded_once(requests_mock, waits, monkeypatch):
    """Decoding a 10,000-rating page costs tens of milliseconds: a history load pages 2,500 of them, so a
    second decode (looking for an error's reason in a successful answer) cost it a third of its time."""
    requests_mock.get(URL, json={"result": [{"userId": 1}] * 3})
    decoded, real_json = [], requests.Response.json
    monkeypatch.setattr(requests.Response, "json", lambda self, **kw: decoded.append(1) or real_json(self))
    assert transport(waits).get_json(URL) == {"result": [{"userId": 1}] * 3}
    assert decoded == [1]


@pytest.mark.parametrize(
    "failure",
    [
        {"status_code": 500, "json": {"error": "boom"}},
        {"status_code": 502, "text": "bad gateway"},
        {"status_code": 503, "json": {"error": "loading"}},
        {"status_code": 429, "json": {"error": "slow down"}},
        {"exc": requests.exceptions.ConnectTimeout},
        {"exc": requests.exceptions.ReadTimeout},
        {"exc": requests.exceptions.ConnectionError},
        {"exc": requests.exceptions.ChunkedEncodingError},
    ],
)
def test_retryable_failures_are_retried_exactly_max_retries_times(requests_mock, waits, failure):
    requests_mock.get(URL, [failure, failure, {"json": {"result": [1]}}])
    assert transport(waits, max_retries=2).get_json(URL) == {"result": [1]}
    assert requests_mock.call_count == 3
    assert waits == [0.0, 0.0]


@pytest.mark.parametrize(
    ("failure", "status"), [({"status_code": 503}, 503), ({"exc": requests.ReadTimeout}, None)]
)
def test_exhausted_retries_raise_unavailable_with_url_status_and_attempts(
    requests_mock, waits, failure, status
):
    requests_mock.get(URL, [failure])
    with pytest.raises(MovielensUnavailableError, match=r"failed after 4 attempt\(s\)") as caught:
        transport(waits, max_retries=3).get(URL, {"offset": 5})
    assert requests_mock.call_count == 4
    assert len(waits) == 3
    assert caught.value.attempts == 4
    assert caught.value.status_code == status
    assert caught.value.url == URL + "?offset=5"


def test_zero_retries_means_one_attempt(requests_mock, waits):
    requests_mock.get(URL, status_code=500)
    with pytest.raises(MovielensUnavailableError):
        transport(waits, max_retries=3).get(URL, max_retries=0)
    assert requests_mock.call_count == 1
    assert waits == []


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_credentials_fail_at_once(requests_mock, waits, status):
    requests_mock.get(URL, status_code=status, json={"error": "no"})
    with pytest.raises(MovielensAuthError, match="authentication failed for connection 'ml_unit'") as caught:
        transport(waits).get(URL)
    assert (caught.value.status_code, caught.value.url) == (status, URL)
    assert requests_mock.call_count == 1
    assert waits == []


@pytest.mark.parametrize(
    ("status", "body"), [(400, {"json": {"error": "limit too big"}}), (404, {"text": "nope"})]
)
def test_rejected_requests_fail_at_once_with_the_server_reason(requests_mock, waits, status, body):
    requests_mock.get(URL, status_code=status, **body)
    with pytest.raises(MovielensRequestError, match=f"HTTP {status} from {URL}: ") as caught:
        transport(waits).get(URL)
    assert caught.value.status_code == status
    assert str(caught.value).endswith(body.get("text") or body["json"]["error"])
    assert requests_mock.call_count == 1


@pytest.mark.parametrize(
    ("body", "reason", "message"),
    [
        ({"json": {"error": "bad date"}}, "Bad Request", "bad date"),
        ({"json": {"detail": "x"}}, "Bad Request", '{"detail": "x"}'),
        ({"text": "  " + "e" * 400 + "  "}, "Bad Request", "e" * 300),
        ({"text": " "}, "Gone Fishing", "Gone Fishing"),
        ({"text": ""}, "", "no message"),
    ],
)
def test_error_message_is_the_json_error_else_the_body_start_else_the_reason(
    requests_mock, body, reason, message
):
    requests_mock.get(URL, status_code=400, reason=reason, **body)
    assert error_message(requests.get(URL, timeout=1)) == message


def test_retry_after_seconds_is_honoured_and_capped(requests_mock, waits):
    requests_mock.get(
        URL,
        [
            {"status_code": 429, "headers": {"Retry-After": "7"}},
            {"status_code": 503, "headers": {"Retry-After": "9999"}},
            {"json": {"result": []}},
        ],
    )
    transport(waits, max_wait=60.0).get(URL)
    assert waits == [7.0, 60.0]


def test_retry_after_http_date_and_garbage():
    response = requests.Response()
    response.headers["Retry-After"] = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= retry_after(response) <= 30
    response.headers["Retry-After"] = email.utils.formatdate(time.time() - 30, usegmt=True)
    assert retry_after(response) == 0.0
    response.headers["Retry-After"] = "soon"
    assert retry_after(response) is None


def test_backoff_is_exponential_with_equal_jitter_and_capped(requests_mock, waits):
    requests_mock.get(URL, status_code=500)
    with pytest.raises(MovielensUnavailableError):
        transport(waits, max_retries=6, backoff=1.0, max_wait=8.0).get(URL)
    ceilings = [1, 2, 4, 8, 8, 8]
    assert len(waits) == len(ceilings)
    for wait, ceiling in zip(waits, ceilings, strict=True):
        assert ceiling / 2 <= wait <= ceiling


@pytest.mark.parametrize("end", ["low", "high"])
def test_jitter_spans_half_to_all_of_the_backoff_and_is_added_to_retry_after(
    requests_mock, waits, monkeypatch, end
):
    """random.uniform(a, b) pinned to a, then to b: the waits are the ends of each retry's range."""
    monkeypatch.setattr(transport_module.random, "uniform", lambda a, b: a if end == "low" else b)
    requests_mock.get(
        URL, [{"status_code": 500}] * 3 + [{"status_code": 503, "headers": {"Retry-After": "7"}}]
    )
    with pytest.raises(MovielensUnavailableError):
        transport(waits, max_retries=4, backoff=2.0).get(URL)
    assert waits == ([1.0, 2.0, 4.0, 7.0] if end == "low" else [2.0, 4.0, 8.0, 9.0])


def test_each_retry_is_logged_with_url_reason_and_wait(requests_mock, waits, caplog):
    requests_mock.get(URL, [{"status_code": 503, "headers": {"Retry-After": "3"}}, {"json": {"result": []}}])
    with caplog.at_level(logging.WARNING, logger=transport_module.log.name):
        transport(waits).get(URL, {"limit": 1})
    assert [r.getMessage() for r in caplog.records] == [
        f"GET {URL}?limit=1 failed (HTTP 503: no message); retry 1 of 3 in 3.00 s"
    ]


def test_a_connection_failure_names_the_url_with_its_query(requests_mock, waits):
    requests_mock.get(URL, exc=requests.ConnectionError("refused"))
    with pytest.raises(MovielensUnavailableError, match="ConnectionError: refused") as caught:
        transport(waits, max_retries=0).get(URL, {"start_date": "2019-01-01", "limit": 2})
    assert caught.value.url == f"{URL}?start_date=2019-01-01&limit=2"


@pytest.mark.parametrize("body", [{"text": "<html>"}, {"json": [1, 2]}])
def test_a_body_that_is_not_a_json_object_is_a_response_error(requests_mock, waits, body):
    requests_mock.get(URL, status_code=200, **body)
    with pytest.raises(MovielensResponseError, match="not a JSON object") as caught:
        transport(waits).get_json(URL)
    assert (caught.value.status_code, caught.value.url) == (200, URL)
