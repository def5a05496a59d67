"""UTC days and epoch seconds: the one home of the conversions between them (no Airflow import).

The Movie Rating API, the ratings table, the windows and the rankings count whole UTC days; a timestamp is
Unix seconds. The provider's argument checks (:mod:`airflow_movielens.dates`) build on these and raise its
typed errors; the pure modules of the pipeline (``include/movielens``) use them as they are.
"""

from __future__ import annotations

import datetime as dt

__all__ = ["DAY_SECONDS", "as_date", "as_midnight", "day_after", "day_epoch", "epoch_day", "midnight_of"]

DAY_SECONDS = 86_400


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


def as_midnight(value: str | dt.date | dt.datetime, what: str = "window end") -> int:
    """The Unix timestamp of a UTC midnight given as ``YYYY-MM-DD``, a date or a datetime.

    :param what: how error messages name the value.
    :raises ValueError: naming the value if it is not a date, or is a datetime that is not at midnight.
    """
    if isinstance(value, dt.datetime):
        day = midnight_of(value)
        if day is None:
            raise ValueError(f"{what} {value!r} is not at UTC midnight")
        return day_epoch(day)
    if isinstance(value, dt.date):
        return day_epoch(value)
    try:
        return day_epoch(dt.date.fromisoformat(str(value)))
    except ValueError:
        raise ValueError(f"{what} {value!r} is not a YYYY-MM-DD date") from None


def as_date(value: str | dt.date | dt.datetime) -> dt.date:
    """The day of a date, a datetime or a ``YYYY-MM-DD...`` string (as the result tables' drivers give it)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])
