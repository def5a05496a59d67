"""Closed windows: an empty interval that can never receive ratings, and what a waiting task does then.

The API serves ratings in time order and reports its newest one (``/health``'s ``last_rating_timestamp``).
A window ``[start, end)`` whose ``end`` (midnight UTC) is at or before that timestamp is *closed*: if it
holds no rating now, it never will, so waiting for it until a timeout only turns a quiet day into a failed
run. An open window (no ``end``, or an ``end`` after the newest rating: today, the future) may still fill.
"""

from __future__ import annotations

import datetime as dt
import logging

from airflow_movielens.exceptions import AirflowFailException, AirflowSkipException, MovielensArgumentError

__all__ = [
    "CLOSED",
    "ON_EMPTY_CHOICES",
    "READY",
    "WAITING",
    "check_on_empty",
    "is_closed",
    "settle_closed_empty",
    "window_state",
]

#: States of a window: it holds ratings; it holds none and never will; it holds none yet.
READY, CLOSED, WAITING = "ready", "closed", "waiting"

#: What a sensor does with a closed, empty window: let the run go on (to an empty ranking), skip, or fail.
ON_EMPTY_CHOICES = ("succeed", "skip", "fail")


def check_on_empty(on_empty: str) -> str:
    """Return ``on_empty`` if it is one of :data:`ON_EMPTY_CHOICES`.

    :raises MovielensArgumentError: anything else (the message shows the value).
    """
    if on_empty not in ON_EMPTY_CHOICES:
        raise MovielensArgumentError(
            f"on_empty must be one of {', '.join(ON_EMPTY_CHOICES)}, got {on_empty!r}"
        )
    return on_empty


def is_closed(end: str | None, newest_timestamp: int | None) -> bool:
    """Whether ``[.., end)`` (``end`` as ``YYYY-MM-DD``) ends at or before the newest rating."""
    if end is None or newest_timestamp is None:
        return False
    end_epoch = dt.datetime.fromisoformat(end).replace(tzinfo=dt.UTC).timestamp()
    return end_epoch <= newest_timestamp


def window_state(has_ratings: bool, end: str | None, newest_timestamp: int | None) -> str:
    """:data:`READY`, :data:`CLOSED` or :data:`WAITING` (see the module docstring)."""
    if has_ratings:
        return READY
    return CLOSED if is_closed(end, newest_timestamp) else WAITING


def settle_closed_empty(
    on_empty: str, start: str | None, end: str | None, newest_timestamp: int, log: logging.Logger
) -> bool:
    """Apply ``on_empty`` to a closed, empty window: return True (``succeed``) or raise.

    :raises AirflowSkipException: ``on_empty="skip"``.
    :raises AirflowFailException: ``on_empty="fail"``.
    """
    newest = dt.datetime.fromtimestamp(newest_timestamp, dt.UTC).isoformat()
    message = (
        f"[{start}, {end}) has no ratings and is closed: the API's newest rating ({newest}) is past its end"
    )
    if check_on_empty(on_empty) == "succeed":
        log.info("%s; going on with no ratings (on_empty='succeed')", message)
        return True
    if on_empty == "skip":
        raise AirflowSkipException(f"{message} (on_empty='skip')")
    raise AirflowFailException(f"{message} (on_empty='fail')")
