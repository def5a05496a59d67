"""Date arguments of the Movie Rating API: whole UTC days, ``YYYY-MM-DD``, checked with typed errors.

The conversions themselves (days, midnights, epoch seconds) live in :mod:`airflow_movielens.days`.
"""

from __future__ import annotations

import datetime as dt
import re

from airflow_movielens.days import day_epoch, midnight_of
from airflow_movielens.exceptions import MovielensArgumentError
from airflow_movielens.templates import DEFAULT_END_TEMPLATE, DEFAULT_START_TEMPLATE

__all__ = [
    "DEFAULT_END_TEMPLATE",
    "DEFAULT_START_TEMPLATE",
    "DateLike",
    "epoch_seconds",
    "interval_params",
    "task_window",
    "to_api_date",
    "validate_interval",
]

#: What the hook, operator and sensor accept for a date: ``"YYYY-MM-DD"``, a ``date`` or a ``datetime``
#: (pendulum's ``Date``/``DateTime`` included, they subclass the standard types).
DateLike = str | dt.date | dt.datetime

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def to_api_date(value: DateLike | None, name: str = "date") -> str | None:
    """Normalise one date to the API's ``YYYY-MM-DD`` (UTC) form; ``None`` and ``""`` mean "unbounded".

    A ``datetime`` is converted to UTC (naive ones are taken as UTC) and must fall on midnight, because the
    API works in whole days: silently truncating 2019-01-01T06:00 would fetch six hours that were not asked.

    :param value: the date to normalise.
    :param name: parameter name used in error messages.
    :raises MovielensArgumentError: malformed or impossible date, or a datetime that is not midnight UTC.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip()
        if not _ISO_DATE.fullmatch(text):
            raise MovielensArgumentError(f"{name} must be a date in YYYY-MM-DD form, got {value!r}")
        try:
            return dt.date.fromisoformat(text).isoformat()
        except ValueError:
            raise MovielensArgumentError(f"{name} is not a valid calendar date: {value!r}") from None
    if isinstance(value, dt.datetime):
        day = midnight_of(value)
        if day is None:
            raise MovielensArgumentError(
                f"{name} must be midnight UTC (the API filters whole days), got {value.isoformat()}"
            )
        return day.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    raise MovielensArgumentError(
        f"{name} must be a str, date or datetime, got {value!r} ({type(value).__name__})"
    )


def epoch_seconds(day: DateLike, name: str = "date") -> int:
    """Midnight UTC of ``day`` (``YYYY-MM-DD``, date or midnight datetime) in epoch seconds.

    :raises MovielensArgumentError: as :func:`to_api_date`, or no day at all.
    """
    text = to_api_date(day, name)
    if text is None:
        raise MovielensArgumentError(f"{name} is required, got {day!r}")
    return day_epoch(text)


def validate_interval(
    start_date: DateLike | None, end_date: DateLike | None
) -> tuple[str | None, str | None]:
    """Normalise a ``[start_date, end_date)`` interval and check that it is not reversed.

    :raises MovielensArgumentError: a bad date, or ``end_date`` before ``start_date``.
    """
    start = to_api_date(start_date, "start_date")
    end = to_api_date(end_date, "end_date")
    if start is not None and end is not None and end < start:
        raise MovielensArgumentError(f"end_date {end} is before start_date {start}")
    return start, end


def interval_params(start_date: DateLike | None, end_date: DateLike | None) -> dict[str, str]:
    """The API's ``start_date``/``end_date`` parameters of a checked interval (absent when unbounded)."""
    start, end = validate_interval(start_date, end_date)
    return {name: day for name, day in (("start_date", start), ("end_date", end)) if day is not None}


def task_window(start_date: DateLike | None, end_date: DateLike | None) -> tuple[str | None, str | None]:
    """:func:`validate_interval` for the window of an operator or sensor, which must not be zero-length.

    A task's window with ``start == end`` is a mistake, not a quiet day: on Airflow 3 a cron schedule such as
    ``"@daily"`` gives runs a zero-length data interval (``CronTriggerTimetable``), so the default templates
    would render to the same day.

    :raises MovielensArgumentError: as :func:`validate_interval`, or a zero-length window.
    """
    start, end = validate_interval(start_date, end_date)
    if start is not None and start == end:
        raise MovielensArgumentError(
            f"the window [{start}, {end}) is empty (start and end are the same day). On Airflow 3 a cron "
            "schedule has zero-length data intervals: use CronDataIntervalTimetable or a timedelta schedule "
            "(or [scheduler] create_cron_data_intervals = True), or pass the window's dates explicitly"
        )
    return start, end
