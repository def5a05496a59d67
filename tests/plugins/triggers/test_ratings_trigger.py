"""MovielensRatingsTrigger run in an asyncio loop against the real API (directly or through the fault proxy).

What a broken deferrable sensor gets wrong, checked here: the trigger really waits (``poke_interval`` between
polls), really times out (at its deadline), really fires when data appears, fails at once on rejected
credentials, and polls through outages. Under a real triggerer and scheduler: tests/plugins/triggers/
test_trigger_in_triggerer.py.
"""

from __future__ import annotations

import asyncio
import importlib
import time

import pytest

from airflow_movielens.exceptions import MovielensArgumentError
from airflow_movielens.triggers import MovielensRatingsTrigger
from tests.support.fault_proxy import FaultProxy

DAY, NEXT_DAY = "2019-01-03", "2019-01-04"
OPEN = ("2019-02-01", "2019-02-02")  # after the data: empty, and it may still fill
CLOSED = ("2018-12-31", "2019-01-01")  # before the data: empty for good


def first_event(trigger: MovielensRatingsTrigger, limit: float = 30.0) -> tuple[dict, float]:
    """Run the trigger until its first event; return the payload and the seconds it took."""

    async def main() -> dict:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    started = time.monotonic()
    payload = asyncio.run(asyncio.wait_for(main(), limit))
    return payload, time.monotonic() - started


def test_serialize_round_trips():
    trigger = MovielensRatingsTrigger("ml", "2019-01-03", "2019-01-04", 2, deadline=1_700_000_000.5)
    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    again = getattr(importlib.import_module(module), name)(**kwargs)
    assert again.serialize() == (classpath, kwargs)
    assert classpath == "airflow_movielens.triggers.MovielensRatingsTrigger"
    assert kwargs == {
        "conn_id": "ml",
        "interval_start": "2019-01-03",
        "interval_end": "2019-01-04",
        "poke_interval": 2.0,
        "deadline": 1_700_000_000.5,
    }


def test_bad_interval_is_rejected_when_built():
    with pytest.raises(MovielensArgumentError, match="end_date 2019-01-02 is before start_date 2019-01-03"):
        MovielensRatingsTrigger("ml", "2019-01-03", "2019-01-02", 1)


def test_fires_at_once_when_the_window_has_ratings(movielens_api):
    payload, _ = first_event(MovielensRatingsTrigger("movielens", DAY, NEXT_DAY, 5))
    assert payload == {"status": "ready", "polls": 1}


def test_fires_closed_for_a_closed_empty_window(movielens_api):
    payload, _ = first_event(MovielensRatingsTrigger("movielens", *CLOSED, 5))
    assert payload["status"] == "closed"
    assert payload["newest_timestamp"] >= 1_547_424_000  # within 2019-01-14, the test data's last day


def test_really_waits_then_times_out_at_the_deadline(movielens_api):
    trigger = MovielensRatingsTrigger("movielens", *OPEN, poke_interval=0.5, deadline=time.time() + 2.2)
    payload, elapsed = first_event(trigger)
    assert payload["status"] == "timeout"
    assert elapsed >= 2.2  # not before the deadline (how much after it is the machine's load)
    # one poll per poke_interval until the deadline, then one last: never more, however fast the machine (a
    # busy loop), and more than one (not a single sleep to the deadline), however slow
    assert 2 <= payload["polls"] <= 2.2 / 0.5 + 2


def test_sleeps_no_longer_than_to_the_deadline_then_says_which_window_timed_out(movielens_api):
    # a poke_interval far past the deadline: the last sleep is cut to the deadline, not a whole interval
    trigger = MovielensRatingsTrigger("movielens", *OPEN, poke_interval=60, deadline=time.time() + 3)
    payload, elapsed = first_event(trigger, limit=30)
    assert (
        payload.pop("polls") <= 2
    )  # one poll, one sleep to the deadline (if the first poll ended before it)
    assert payload == {
        "status": "timeout",
        "message": "no ratings in [2019-02-01, 2019-02-02) before the timeout",
    }
    assert 3 <= elapsed < 30


def test_really_fires_when_data_appears_and_polls_through_an_outage(fault_proxy: FaultProxy):
    # no data, an outage (a 503, then a read timeout), no data again, then the data is there
    fault_proxy.inject("/ratings", "empty", "503", "stall", "empty")
    fault_proxy.always("/health", "no_newest")
    trigger = MovielensRatingsTrigger("movielens_proxy", DAY, NEXT_DAY, poke_interval=0.4)
    payload, elapsed = first_event(trigger)
    assert payload == {"status": "ready", "polls": 5}
    assert elapsed >= 4 * 0.4
    faults = [seen.fault for seen in fault_proxy.requests_to("/ratings")]
    assert faults == ["empty", "503", "stall", "empty", None]


def test_fails_at_once_on_rejected_credentials(fault_proxy: FaultProxy):
    fault_proxy.always("/ratings", "401")
    trigger = MovielensRatingsTrigger("movielens_proxy", DAY, NEXT_DAY, poke_interval=25)
    payload, elapsed = first_event(trigger)
    assert payload["status"] == "error"
    assert payload["error"] == "MovielensAuthError"
    assert payload["status_code"] == 401
    assert "authentication failed for connection 'movielens_proxy'" in payload["message"]
    assert payload["url"].startswith(fault_proxy.url + "/ratings?")
    assert elapsed < 25  # before the first poke_interval ended: it never slept
    assert len(fault_proxy.requests_to("/ratings")) == 1


def test_fails_at_once_on_a_rejected_request(fault_proxy: FaultProxy):
    fault_proxy.always("/ratings", "400")
    payload, _ = first_event(MovielensRatingsTrigger("movielens_proxy", DAY, NEXT_DAY, poke_interval=5))
    assert payload["status"] == "error"
    assert (payload["error"], payload["status_code"]) == ("MovielensRequestError", 400)
    # the server's reason is its JSON "error", as the hook reads it (tests/plugins/test_async_transport.py)
    assert payload["message"] == f"HTTP 400 from {payload['url']}: injected 400"
