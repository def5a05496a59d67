"""Completeness check shared by every transfer of an interval's ratings (file or SQL table)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from airflow_movielens.exceptions import MovielensDataChangedError
from airflow_movielens.windows import CLOSED

if TYPE_CHECKING:
    from airflow_movielens.dates import DateLike
    from airflow_movielens.hooks import MovielensHook

__all__ = ["check_complete"]

_log = logging.getLogger(__name__)


def check_complete(
    hook: MovielensHook,
    start_date: DateLike | None,
    end_date: DateLike | None,
    fetched: int,
    *,
    consequence: str = "nothing was stored",
    log: logging.Logger | logging.LoggerAdapter | None = None,
) -> int:
    """Compare the number of ratings fetched for ``[start_date, end_date)`` with the API's ``total``.

    The hook already fails when the total changes *between* pages; this one extra ``limit=1`` request
    after the last page also catches a change that happened between the first request and the end. An empty
    interval is logged as *closed* (it can never get ratings) or *still open* (see
    :mod:`airflow_movielens.windows`): the caller stores an empty result either way.

    :param fetched: how many ratings the caller received.
    :param consequence: what the caller did not do because of the mismatch (ends the error message).
    :param log: the task's logger (default: this module's).
    :return: the API's total (equal to ``fetched``).
    :raises MovielensDataChangedError: the API now reports another number.
    """
    total = hook.count_ratings(start_date, end_date)
    if fetched != total:
        raise MovielensDataChangedError(
            f"fetched {fetched} ratings for [{start_date}, {end_date}) but the API now reports {total}; "
            f"the data changed during the fetch, {consequence}",
            url=f"{hook.base_url}/ratings",
        )
    if not total:
        state, _ = hook.window_state(start_date, end_date)
        (log or _log).log(
            logging.INFO if state == CLOSED else logging.WARNING,
            "[%s, %s) has no ratings; the window is %s: storing an empty result",
            start_date, end_date, "closed" if state == CLOSED else "still open",
        )  # fmt: skip
    return total
