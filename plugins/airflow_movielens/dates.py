"""UTC days: dates, intervals and the closed-window decision of the provider (no Airflow import).

The API, the ratings table and the rankings count whole UTC days; a timestamp is Unix seconds. The typed
errors are imported only when raised, so the pipeline's pure modules (``include/movielens``) use it too.

**Closed intervals.** The API serves ratings in time order and reports its newest one (``/health``'s
``last_rating_timestamp``). An interval ``[start, end)`` whose ``end`` (midnight UTC) is at or before that
timestamp is *closed*: if it holds no rating now, it never will, so waiting for it only turns a quiet day into
a failed run. An open interval (no ``end``, or an ``end`` after the newest rating) may still fill.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DAY_SECONDS = 86_400

#: The run's data interval as whole days, ``[data_interval_start, data_interval_end)`` as ``YYYY-MM-DD``: the
#: default window of the operators and the sensor (these context keys exist on Airflow 2.10 and 3.x alike).
DEFAULT_START_TEMPLATE = "{{ data_interval_start | ds }}"
DEFAULT_END_TEMPLATE = "{{ data_interval_end | ds }}"

#: A date argument: ``"YYYY-MM-DD"``, a ``date`` or a ``datetime`` (pendulum's subclass the standard types).
DateLike = str | dt.date | dt.datetime

#: States of an interval: it holds ratings; it holds none and never will; it holds none yet.
READY, CLOSED, WAITING = "ready", "closed", "waiting"

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def argument_error(message: str) -> Exception:
    """A :class:`~airflow_movielens.exceptions.MovielensArgumentError`, imported only when one is raised."""
    from airflow_movielens.exceptions import MovielensArgumentError

    return MovielensArgumentError(message)


def response_error(message: str, url: str) -> Exception:
    """A :class:`~airflow_movielens.exceptions.MovielensResponseError`, imported only when one is raised."""
    from airflow_movielens.exceptions import MovielensResponseError

    return MovielensResponseError(message, url=url)


def midnight_of(moment: dt.datetime) -> dt.date | None:
    """The UTC day that starts at ``moment`` (naive means UTC), ``None`` if it is not a UTC midnight."""
    utc = moment.astimezone(dt.UTC) if moment.tzinfo else moment
    return utc.date() if utc.time() == dt.time(0) else None


def day_epoch(day: dt.date | str) -> int:
    """Epoch seconds of the UTC midnight that starts ``day`` (a date or ``YYYY-MM-DD``)."""
    if isinstance(day, str):
        day = dt.date.fromisoformat(day)
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())


def epoch_day(timestamp: int | float) -> dt.date:
    """The UTC day that holds the epoch second ``timestamp``."""
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).date()


def day_after(day: dt.date | str) -> dt.date:
    """The day after ``day`` (a date or ``YYYY-MM-DD``): the exclusive end of windows whose last day it is."""
    last = day if isinstance(day, dt.date) else dt.date.fromisoformat(day)
    return last + dt.timedelta(days=1)


def as_midnight(value: DateLike, what: str = "date") -> int:
    """Epoch seconds of the UTC midnight that starts a day, read by :func:`to_api_date` (``None`` fails)."""
    day = to_api_date(value, what)
    if day is None:
        raise argument_error(f"{what} is required, got {value!r}")
    return day_epoch(day)


def as_date(value: DateLike) -> dt.date:
    """The day of a date, a datetime or a ``YYYY-MM-DD...`` string (as the result tables' drivers give it)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def to_api_date(value: DateLike | None, name: str = "date") -> str | None:
    """Normalise one date to the API's ``YYYY-MM-DD`` (UTC) form; ``None`` and ``""`` mean "unbounded".

    A ``datetime`` is converted to UTC (naive ones are taken as UTC) and must fall on midnight, because the
    API works in whole days: silently truncating 2019-01-01T06:00 would fetch six hours that were not asked.

    :param name: parameter name used in error messages.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip()
        if not _ISO_DATE.fullmatch(text):
            raise argument_error(f"{name} must be a date in YYYY-MM-DD form, got {value!r}")
        try:
            return dt.date.fromisoformat(text).isoformat()
        except ValueError:
            raise argument_error(f"{name} is not a valid calendar date: {value!r}") from None
    if isinstance(value, dt.datetime):
        day = midnight_of(value)
        if day is None:
            raise argument_error(f"{name} must be midnight UTC (whole days), got {value.isoformat()}")
        return day.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    raise argument_error(f"{name} must be a str, date or datetime, got {value!r} ({type(value).__name__})")


def validate_interval(
    start_date: DateLike | None, end_date: DateLike | None
) -> tuple[str | None, str | None]:
    """Normalise a ``[start_date, end_date)`` interval (:func:`to_api_date`) and check it is not reversed."""
    start = to_api_date(start_date, "start_date")
    end = to_api_date(end_date, "end_date")
    if start is not None and end is not None and end < start:
        raise argument_error(f"end_date {end} is before start_date {start}")
    return start, end


def interval_params(start_date: DateLike | None, end_date: DateLike | None) -> dict[str, str]:
    """The API's ``start_date``/``end_date`` parameters of an interval, checked (absent when unbounded)."""
    start, end = validate_interval(start_date, end_date)
    return {name: day for name, day in (("start_date", start), ("end_date", end)) if day is not None}


def task_window(start_date: DateLike | None, end_date: DateLike | None) -> tuple[str | None, str | None]:
    """:func:`validate_interval` for the window of an operator or sensor, which must not be zero-length: on
    Airflow 3 a cron schedule such as ``"@daily"`` gives runs zero-length data intervals, so the default
    templates render to the same day, a mistake rather than a quiet day."""
    start, end = validate_interval(start_date, end_date)
    if start is not None and start == end:
        raise argument_error(
            f"the window [{start}, {end}) is empty (start and end are the same day). On Airflow 3 a cron "
            "schedule has zero-length data intervals: use CronDataIntervalTimetable or a timedelta schedule "
            "(or [scheduler] create_cron_data_intervals = True), or pass the window's dates explicitly"
        )
    return start, end


def is_closed(end: str | None, newest_timestamp: int | None) -> bool:
    """Whether ``[.., end)`` (``end`` as ``YYYY-MM-DD``) ends at or before the newest rating."""
    return end is not None and newest_timestamp is not None and day_epoch(end) <= newest_timestamp


def window_state(has_ratings: bool, end: str | None, newest_timestamp: int | None) -> str:
    """:data:`READY`, :data:`CLOSED` or :data:`WAITING` (see the module docstring)."""
    if has_ratings:
        return READY
    return CLOSED if is_closed(end, newest_timestamp) else WAITING


def has_ratings(page: Mapping[str, Any]) -> bool:
    """Whether a ``limit=1`` page of ``/ratings`` shows a rating (its item, or a non-zero ``total``)."""
    return bool(page.get("result")) or bool(page.get("total"))


def newest_timestamp(health: Mapping[str, Any], url: str) -> int | None:
    """The newest rating's epoch seconds in a ``/health`` answer (``None``: no ratings, or not said)."""
    newest = health.get("last_rating_timestamp")
    if newest is not None and (isinstance(newest, bool) or not isinstance(newest, int)):
        raise response_error(f"{url} answered a 'last_rating_timestamp' of {newest!r}", url)
    return newest


@dataclass(frozen=True)
class WindowProbe:
    """How the state of ``[start, end)`` (checked ``YYYY-MM-DD`` days or ``None``) is read from the API.

    GET ``/ratings`` with :attr:`params`; if :meth:`needs_newest`, GET ``/health``; then :meth:`state`
    decides. The hook (``requests``) and the trigger (aiohttp) send the requests; the decision is this one.
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
