"""HTTP transport of the Movie Rating API: one session, GET with retries (tenacity), typed errors.

Connection errors, timeouts (also while reading the body), bodies cut short, HTTP 429 and 5xx are retried
with exponential backoff and "equal jitter", or after the server's ``Retry-After``; 401/403 and other 4xx
never are. Each request makes exactly ``max_retries + 1`` attempts at most; the error raised at the end
says how many were made. Waits go through an injectable ``sleep`` so tests can record them.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests
import tenacity
from urllib3.exceptions import InvalidHeader
from urllib3.util.retry import Retry

from airflow_movielens.exceptions import MovielensResponseError, MovielensUnavailableError, http_error
from airflow_movielens.settings import HookSettings

__all__ = ["Transport", "build_session", "error_message", "retry_after"]

# Transport failures worth another attempt: refused/reset connections, connect/read timeouts (a read timeout
# while streaming the body surfaces as ConnectionError), and bodies cut short mid-transfer.
TRANSIENT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)

log = logging.getLogger(__name__)


def build_session(auth: tuple[str, str] | None) -> requests.Session:
    """A keep-alive session with JSON headers and basic auth.

    Its adapters are requests' defaults, which never retry on their own (``max_retries=0``): the retries are
    the Transport's (typed, logged, counted).
    """
    session = requests.Session()
    if auth is not None:
        session.auth = auth
    session.headers.update({"Accept": "application/json", "User-Agent": "airflow-movielens"})
    return session


class _Failure(Exception):
    """One failed attempt that may be retried."""

    def __init__(
        self,
        description: str,
        url: str,
        status_code: int | None = None,
        retry_after: float | None = None,
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(description)
        self.url = url
        self.status_code = status_code
        self.retry_after = retry_after
        self.cause = cause


class Transport:
    """GET with retries over one session.

    :param session: the session to send requests with.
    :param conn_id: connection id, named in authentication errors.
    :param settings: ``timeout`` (connect, read) of every request, ``max_retries`` after the first attempt,
        ``backoff``: retry *n* waits within ``[b * 2**(n-1) / 2, b * 2**(n-1)]``.
    :param max_wait: longest wait between two attempts, whatever the backoff or ``Retry-After`` ask for.
    :param sleep: how to wait (``time.sleep``; tests pass a recorder).
    """

    def __init__(
        self,
        session: requests.Session,
        conn_id: str,
        settings: HookSettings,
        max_wait: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.session = session
        self.conn_id = conn_id
        self.timeout = settings.timeout
        self.max_retries = settings.max_retries
        self.backoff = settings.backoff
        self.max_wait = max_wait
        self.sleep = sleep

    def get(
        self, url: str, params: Mapping[str, Any] | None = None, *, max_retries: int | None = None
    ) -> requests.Response:
        """GET ``url``; return the 2xx :class:`requests.Response` (body read) or raise a typed error.

        :raises MovielensAuthError: HTTP 401/403.
        :raises MovielensRequestError: another 4xx (not 429).
        :raises MovielensUnavailableError: every attempt failed with a retryable failure.
        """
        retries = self.max_retries if max_retries is None else max_retries
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
            ) from failure.cause

    def get_json(
        self, url: str, params: Mapping[str, Any] | None = None, *, max_retries: int | None = None
    ) -> dict[str, Any]:
        """GET ``url`` and return its JSON object.

        :raises MovielensResponseError: the body is not a JSON object (URL and status in the error).
        """
        response = self.get(url, params, max_retries=max_retries)
        with contextlib.suppress(ValueError):  # not JSON
            body = response.json()
            if isinstance(body, dict):
                return body
        raise MovielensResponseError(
            f"{response.url} answered HTTP {response.status_code} with a body that is not a JSON object",
            status_code=response.status_code,
            url=response.url,
        )

    def _attempt(self, url: str, params: Mapping[str, Any] | None) -> requests.Response:
        try:
            response = self.session.get(url, params=params, timeout=self.timeout)
        except TRANSIENT_ERRORS as err:
            request = requests.PreparedRequest()
            request.prepare_url(url, params)  # the URL as sent, for the message
            raise _Failure(f"{type(err).__name__}: {err}", request.url or url, cause=err) from err
        status = response.status_code
        if status < 400:
            return response
        error = http_error(status, response.url, self.conn_id, error_message(response))
        if not isinstance(error, MovielensUnavailableError):  # rejected: never retried
            raise error
        raise _Failure(error.message, response.url, status, retry_after(response))

    def _wait(self, state: tenacity.RetryCallState) -> float:
        """Seconds to wait before the next attempt (``state.attempt_number`` attempts were made)."""
        failure = state.outcome.exception()  # called after a failed attempt: only _Failure is retried
        server_wait = failure.retry_after
        if server_wait is not None:  # the server knows best; a little jitter avoids a thundering herd
            return min(self.max_wait, server_wait + random.uniform(0, self.backoff))
        ceiling = min(self.max_wait, self.backoff * 2 ** (state.attempt_number - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    @staticmethod
    def _log_retry(state: tenacity.RetryCallState, retries: int) -> None:
        failure = state.outcome.exception()  # called after a failed attempt: only _Failure is retried
        log.warning(
            "GET %s failed (%s); retry %d of %d in %.2f s",
            failure.url,
            failure,
            state.attempt_number,
            retries,
            state.upcoming_sleep,
        )


def error_message(response: requests.Response) -> str:
    """The server's reason for an error response: its JSON ``error``, else the start of the body."""
    with contextlib.suppress(ValueError):  # not JSON
        body = response.json()
        if isinstance(body, dict) and body.get("error"):
            return str(body["error"])
    text = response.text.strip()
    return text[:300] if text else response.reason or "no message"


def retry_after(response: requests.Response) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), if present and valid."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return float(Retry().parse_retry_after(value.strip()))
    except InvalidHeader:
        return None
