"""Limit/offset paging of the Movie Rating API, with checks that the result set does not change meanwhile."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from airflow_movielens.exceptions import MovielensDataChangedError

__all__ = ["pages"]


def pages(
    get_page: Callable[[Mapping[str, Any]], dict[str, Any]],
    url: str,
    params: Mapping[str, Any],
    batch_size: int,
    *,
    log: logging.Logger,
    progress_interval: float = 10.0,
) -> Iterator[list[dict]]:
    """Yield the non-empty pages of a limit/offset result set.

    Paging stops at ``total`` (or, for a server that sends none, at the first empty page). The ``total`` of
    every page must be the first page's, and the pages must add up to it exactly.

    :param get_page: fetches one page for the given query parameters (a dict with a ``result`` list).
    :param url: the endpoint's URL, for messages.
    :param params: query parameters other than ``limit``/``offset``.
    :param batch_size: the page size (``limit``).
    :param log: where progress goes (every ``progress_interval`` seconds, and a summary at the end).
    :raises MovielensDataChangedError: ``total`` moved, a page came back empty early, or too many items came.
    """
    offset, count, total = 0, 0, None
    started = last_log = time.monotonic()
    while True:
        body = get_page({**params, "limit": batch_size, "offset": offset})
        items: list[dict] = body["result"]
        total = _checked_total(url, params, offset, total, body.get("total"), len(items))
        if not items:
            break
        count += 1
        offset += len(items)
        yield items
        if total is not None and offset >= total:
            break
        now = time.monotonic()
        if now - last_log >= progress_interval:
            last_log = now
            log.info(
                "%s: %d of %s items in %d pages (%.0f items/s)",
                url, offset, total if total is not None else "?", count, offset / (now - started),
            )  # fmt: skip
    elapsed = time.monotonic() - started
    log.info(
        "%s %s: %d items in %d pages in %.2f s (%.0f items/s)",
        url, dict(params), offset, count, elapsed, offset / elapsed if elapsed else 0.0,
    )  # fmt: skip


def _checked_total(
    url: str, params: Mapping[str, Any], offset: int, total: int | None, page_total: Any, count: int
) -> int | None:
    """The result set's ``total`` after one more page; raise if the set changed while paging."""
    if page_total is not None:
        if total is None:
            total = page_total
        elif page_total != total:
            raise MovielensDataChangedError(
                f"{url} total changed from {total} to {page_total} at offset {offset} "
                f"(params {dict(params)}): the data changed while paging, start again",
                url=url,
            )
    if not count and total is not None and offset < total:
        raise MovielensDataChangedError(
            f"{url} returned an empty page at offset {offset} although total is {total}", url=url
        )
    if total is not None and offset + count > total:
        raise MovielensDataChangedError(
            f"{url} returned {offset + count} items, more than its total of {total}", url=url
        )
    return total
