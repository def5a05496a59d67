"""Closed windows: an empty interval that can never receive ratings, and what a waiting task does then.

The API serves ratings in time order and reports its newest one (``/health``'s ``last_rating_timestamp``).
A window ``[start, end)`` whose ``end`` (midnight UTC) is at or before that timestamp is *closed*: if it
holds no rating now, it never will, so waiting for it until a timeout only turns a quiet day into a failed
run. An open window (no ``end``, or an ``end`` after the newest rating: today, the future) may still fill.

:class:`WindowProbe` is how the hook (sync) and the trigger (async) read a window's state from the API: the
requests to send and the decision from their answers.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_movielens.dates import interval_params
from airflow_movielens.days import day_epoch
from airflow_movielens.exceptions import (
    AirflowFailException,
    AirflowSkipException,
    MovielensArgumentError,
    MovielensResponseError,
)

__all__ = [
    "CLOSED",
    "ON_EMPTY_CHOICES",
    "READY",
    "WAITING",
    "WindowProbe",
    "check_on_empty",
    "has_ratings",
    "is_closed",
    "newest_timestamp",
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
    return day_epoch(end) <= newest_timestamp


def window_state(has_ratings: bool, end: str | None, newest_timestamp: int | None) -> str:
    """:data:`READY`, :data:`CLOSED` or :data:`WAITING` (see the module docstring)."""
    if has_ratings:
        return READY
    return CLOSED if is_closed(end, newest_timestamp) else WAITING


def has_ratings(page: Mapping[str, Any]) -> bool:
    """Whether a ``limit=1`` page of ``/ratings`` shows a rating (its item, or a non-zero ``total``)."""
    return bool(page.get("result")) or bool(page.get("total"))


def newest_timestamp(health: Mapping[str, Any], url: str) -> int | None:
    """The newest rating's epoch seconds in a ``/health`` answer, ``None`` if it serves none or does not say.

    :raises MovielensResponseError: a value that is not an integer.
    """
    newest = health.get("last_rating_timestamp")
    if newest is not None and (isinstance(newest, bool) or not isinstance(newest, int)):
        raise MovielensResponseError(f"{url} answered a 'last_rating_timestamp' of {newest!r}", url=url)
    return newest


@dataclass(frozen=True)
class WindowProbe:
    """How the state of ``[start, end)`` (checked ``YYYY-MM-DD`` days or ``None``) is read from the API.

    GET ``/ratings`` with :attr:`params`; if :meth:`needs_newest` says so, GET ``/health``; then
    :meth:`state` decides from the answers. The hook sends the requests with ``requests``, the trigger with
    aiohttp: the decision is this one.
    """

    start: str | None
    end: str | None

    @property
    def params(self) -> dict[str, Any]:
        """Query of the ``/ratings`` request: the window, and one rating at most."""
        return {**interval_params(self.start, self.end), "limit": 1}

    def needs_newest(self, page: Mapping[str, Any]) -> bool:
        """Whether the state also needs ``/health``'s newest rating: only for an empty, bounded window."""
        return not has_ratings(page) and self.end is not None

    def state(
        self, page: Mapping[str, Any], health: Mapping[str, Any] | None, health_url: str
    ) -> tuple[str, int | None]:
        """The window's state and the newest rating's timestamp (``None`` when ``health`` was not read)."""
        newest = None if health is None else newest_timestamp(health, health_url)
        return window_state(has_ratings(page), self.end, newest), newest


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
