"""What a history load (05_history) may load: a range that the dataset covers, checked before any write.

The DAG's params schema refuses what is not a ``YYYY-MM-DD`` day; this checks what a schema cannot. A range
ending after the API's newest rating would mark days loaded that can still receive ratings (the daily runs
would rank them from partial data), and a range with no rating at all is a typo, not a history.
"""

from __future__ import annotations

import datetime as dt

from airflow_movielens.dates import epoch_day, to_api_date
from airflow_movielens.exceptions import MovielensArgumentError
from airflow_movielens.hooks import MovielensHook


def check_history_range(hook: MovielensHook, history_start: object, history_end: object) -> dict:
    """``{"history_start", "history_end", "ratings"}`` of a valid range.

    :raises MovielensArgumentError: naming the value: not a day, ``history_end`` not after ``history_start``,
        a range past the day after the API's newest rating, or one without any rating.
    """
    start = to_api_date(history_start, "history_start")
    end = to_api_date(history_end, "history_end")
    if start is None or end is None:
        raise MovielensArgumentError(
            f"history_start and history_end are both required, got {history_start!r} and {history_end!r}"
        )
    if end <= start:
        raise MovielensArgumentError(f"history_end {end} must be after history_start {start}")
    newest = hook.newest_rating_timestamp()
    if newest is None:
        raise MovielensArgumentError(
            f"the Movie Rating API serves no ratings: nothing to load in [{start}, {end})"
        )
    last_day = epoch_day(newest)
    after = last_day + dt.timedelta(days=1)
    if end > after.isoformat():
        raise MovielensArgumentError(
            f"history_end {end} lies beyond the dataset, whose newest rating is of {last_day}: load up to "
            f"{after} at most (later days may still receive ratings)"
        )
    ratings = hook.count_ratings(start, end)
    if not ratings:
        raise MovielensArgumentError(
            f"[history_start, history_end) = [{start}, {end}) holds no rating of the dataset "
            f"(newest: {last_day})"
        )
    return {"history_start": start, "history_end": end, "ratings": ratings}
