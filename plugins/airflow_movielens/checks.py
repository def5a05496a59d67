"""Completeness check shared by every transfer of an interval's ratings (file or SQL table)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_movielens.exceptions import MovielensDataChangedError

if TYPE_CHECKING:
    from airflow_movielens.dates import DateLike
    from airflow_movielens.hooks import MovielensHook

__all__ = ["check_complete"]


def check_complete(
    hook: MovielensHook,
    start_date: DateLike | None,
    end_date: DateLike | None,
    fetched: int,
    *,
    consequence: str = "nothing was stored",
) -> int:
    """Compare the number of ratings fetched for ``[start_date, end_date)`` with the API's ``total``.

    The hook already fails when the total changes *between* pages; this one extra ``limit=1`` request
    after the last page also catches a change that happened between the first request and the end.

    :param fetched: how many ratings the caller received.
    :param consequence: what the caller did not do because of the mismatch (ends the error message).
    :return: the API's total (equal to ``fetched``).
    :raises MovielensDataChangedError: the API now reports another number.
    """
    total = hook.count_ratings(start_date, end_date)
    if fetched != total:
        raise MovielensDataChangedError(
            f"fetched {fetched} ratings for [{start_date}, {end_date}) but the API now reports {total}; "
            f"the data changed during the fetch, {consequence}"
        )
    return total
