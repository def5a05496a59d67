"""HTTP transport of the Movie Rating API, sync (the hook) and async (the trigger), with one set of rules.

Both send the same headers, basic auth and ``(connect, read)`` timeouts, map HTTP statuses to the same typed
errors with the same reason, and accept only a JSON object as an answer. :class:`Transport` (requests)
retries; :class:`AsyncTransport` (aiohttp) does not: the trigger polls again anyway.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import requests
import tenacity
from requests.exceptions import ChunkedEncodingError, ContentDecodingError
from urllib3.exceptions import InvalidHeader
from urllib3.util.retry import Retry

from airflow_movielens.connection import HookSettings
from airflow_movielens.exceptions import (
    MovielensDataChangedError,
    MovielensResponseError,
    MovielensUnavailableError,
    http_error,
)

#: Headers of every request, sync or async.
HEADERS = {"Accept": "application/json", "User-Agent": "airflow-movielens"}

# Transport failures worth another attempt: refused/reset connections, connect/read timeouts (a read timeout
# while streaming the body surfaces as ConnectionError), and bodies cut short mid-transfer.
TRANSIENT_ERRORS = (requests.ConnectionError, requests.Timeout, ChunkedEncodingError, ContentDecodingError)

log = logging.getLogger(__name__)


def build_session(auth: tuple[str, str] | None) -> requests.Session:
    """A keep-alive session with the :data:`HEADERS` and basic auth."""
    session = requests.Session()
    if auth is not None:
        session.auth = auth
    session.headers.update(HEADERS)
    return session


class _Failure(Exception):
    """One failed attempt that may be retried."""

    def __init__(
        self, description: str, url: str, status_code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(description)
        self.url = url
        self.status_code = status_code
        self.retry_after = retry_after


@dataclass(eq=False)
class Transport:
    """GET with retries (tenacity) over one session.

    Connection errors, timeouts (also while reading the body), bodies cut short, HTTP 429 and 5xx are retried
    with exponential backoff and "equal jitter" (retry *n* waits within ``[b * 2**(n-1) / 2, b * 2**(n-1)]``
    for ``settings.backoff`` *b*), or after the server's ``Retry-After``; 401/403 and other 4xx never are.
    A request makes at most ``settings.max_retries + 1`` attempts; the final error says how many it made.

    :param conn_id: connection id, named in authentication errors.
    :param max_wait: longest wait between two attempts, whatever the backoff or ``Retry-After`` ask for.
    :param sleep: how to wait (``time.sleep``; tests pass a recorder).
    """

    session: requests.Session
    conn_id: str
    settings: HookSettings
    max_wait: float
    sleep: Callable[[float], None] = time.sleep

    def get(
        self, url: str, params: Mapping[str, Any] | None = None, *, max_retries: int | None = None
    ) -> requests.Response:
        """GET ``url``; return the 2xx :class:`requests.Response` (body read) or raise a typed error:
        :class:`MovielensAuthError` (401/403), :class:`MovielensRequestError` (another 4xx but 429) or, once
        every attempt failed, :class:`MovielensUnavailableError`."""
        retries = self.settings.max_retries if max_retries is None else max_retries
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(retries + 1),
            wait=self._wait,
            retry=tenacity.retry_if_exception_type(_Failure),
            sleep=self.sleep,
            before_sleep=lambda state: self._log_retry(state, retries),
            reraise=True,
        )
        try:
            return retrying(self._attempt, url, params)
        except _Failure as failure:  # tenacity re-raises the last failure once every attempt is used
            attempts = retries + 1
            raise MovielensUnavailableError(
                f"GET {failure.url} failed after {attempts} attempt(s); last error: {failure}",
                status_code=failure.status_code,
                url=failure.url,
                attempts=attempts,
            ) from failure.__cause__

    def get_json(
        self, url: str, params: Mapping[str, Any] | None = None, *, max_retries: int | None = None
    ) -> dict[str, Any]:
        """GET ``url`` and return its JSON object (:func:`json_object`)."""
        response = self.get(url, params, max_retries=max_retries)
        return json_object(_decoded(response), response.status_code, response.url)

    def _attempt(self, url: str, params: Mapping[str, Any] | None) -> requests.Response:
        try:
            response = self.session.get(url, params=params, timeout=self.settings.timeout)
        except TRANSIENT_ERRORS as err:
            request = requests.PreparedRequest()
            request.prepare_url(url, params)  # the URL as sent, for the message
            raise _Failure(f"{type(err).__name__}: {err}", request.url or url) from err
        status = response.status_code
        if status < 400:  # the body of a page is decoded once, by get_json: not for an error's reason
            return response
        error = http_error(status, response.url, self.conn_id, error_message(response))
        if not isinstance(error, MovielensUnavailableError):  # rejected: never retried
            raise error
        raise _Failure(error.message, response.url, status, retry_after(response))

    def _wait(self, state: tenacity.RetryCallState) -> float:
        """Seconds to wait before the next attempt (``state.attempt_number`` attempts were made)."""
        failure = state.outcome.exception()  # called after a failed attempt: only _Failure is retried
        backoff = self.settings.backoff
        if failure.retry_after is not None:  # the server knows best; a little jitter avoids a thundering herd
            return min(self.max_wait, failure.retry_after + random.uniform(0, backoff))
        ceiling = min(self.max_wait, backoff * 2 ** (state.attempt_number - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    @staticmethod
    def _log_retry(state: tenacity.RetryCallState, retries: int) -> None:
        failure = state.outcome.exception()  # called after a failed attempt: only _Failure is retried
        log.warning(
            "GET %s failed (%s); retry %d of %d in %.2f s",
            failure.url, failure, state.attempt_number, retries, state.upcoming_sleep,
        )  # fmt: skip


class AsyncTransport:
    """One GET per call over an aiohttp session (used as ``async with``), never blocking the event loop.

    :param settings: only its ``timeout`` (connect, read) is used.
    :param auth: ``(login, password)`` for basic auth, or ``None`` (``connection.basic_auth``).
    """

    def __init__(self, conn_id: str, settings: HookSettings, auth: tuple[str, str] | None) -> None:
        self.conn_id = conn_id
        self.timeout = settings.timeout
        self.auth = auth
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> AsyncTransport:
        connect, read = self.timeout
        self._session = aiohttp.ClientSession(
            auth=aiohttp.BasicAuth(*self.auth) if self.auth else None,
            timeout=aiohttp.ClientTimeout(sock_connect=connect, sock_read=read, total=connect + read),
            headers=HEADERS,
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def get_json(self, url: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """GET ``url`` once and return its JSON object; errors as :meth:`Transport.get_json`, except that a
        connection error, timeout, 429 or 5xx raises :class:`MovielensUnavailableError` at once."""
        if self._session is None:
            raise RuntimeError("AsyncTransport is used outside 'async with'")
        try:
            async with self._session.get(url, params=params) as response:
                status, where, reason = response.status, str(response.url), response.reason
                text = await response.text()
        except (TimeoutError, aiohttp.ClientError) as err:
            raise MovielensUnavailableError(f"GET {url}: {type(err).__name__}: {err}", url=url) from err
        body = _parsed(text)
        error = http_error(status, where, self.conn_id, _reason(body, text, reason))
        if error is not None:
            raise error
        return json_object(body, status, where)


def json_object(body: Any, status: int, url: str) -> dict[str, Any]:
    """``body`` (decoded JSON, ``None`` if it was not JSON) if it is an object, else a response error."""
    if isinstance(body, dict):
        return body
    raise MovielensResponseError(
        f"{url} answered HTTP {status} with a body that is not a JSON object", status_code=status, url=url
    )


def result_page(body: dict[str, Any], url: str) -> dict[str, Any]:
    """``body`` if it is a page (a JSON object with a ``result`` list), else a response error."""
    if not isinstance(body.get("result"), list):
        raise MovielensResponseError(f"{url} answered without a 'result' list", url=url)
    return body


def error_message(response: requests.Response) -> str:
    """The server's reason for an error response: its JSON ``error``, else the start of the body."""
    return _reason(_decoded(response), response.text, response.reason)


def _reason(body: Any, text: str, fallback: str | None) -> str:
    """The JSON ``error`` of ``body``, else the first 300 characters of ``text``, else ``fallback``."""
    if isinstance(body, dict) and body.get("error"):
        return str(body["error"])
    text = text.strip()
    return text[:300] if text else fallback or "no message"


def _decoded(response: requests.Response) -> Any:
    """The JSON of a response, ``None`` if it is not JSON."""
    with contextlib.suppress(ValueError):
        return response.json()
    return None


def _parsed(text: str) -> Any:
    """The JSON of a body's text, ``None`` if it is not JSON."""
    with contextlib.suppress(ValueError):
        return json.loads(text)
    return None


def retry_after(response: requests.Response) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), if present and valid."""
    value = response.headers.get("Retry-After")
    if value:
        with contextlib.suppress(InvalidHeader):
            return float(Retry().parse_retry_after(value.strip()))
    return None


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

    :param get_page: fetches one page (a dict with a ``result`` list) for the given query parameters.
    :param params: query parameters other than ``limit``/``offset``.
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
    if total is None:
        total = page_total
    elif page_total is not None and page_total != total:
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
