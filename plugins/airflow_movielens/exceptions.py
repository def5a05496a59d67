"""Typed errors of the MovieLens provider, and its one error policy.

Every error is a :class:`MovielensError` (an ``AirflowException``) carrying the HTTP ``status_code`` and the
request ``url`` when there was one, so callers branch (or retry) on the type, not on messages. The policy
lives in the types, so every task that uses the provider behaves the same: :class:`MovielensArgumentError`
(bad arguments or settings), :class:`MovielensAuthError` (rejected credentials) and
:class:`MovielensRequestError` (rejected request) are ``AirflowFailException``s, never retried;
:class:`MovielensUnavailableError` (timeouts, resets, 429, 5xx) has been through the hook's retries and then
goes through Airflow's task retries, as do :class:`MovielensResponseError` and
:class:`MovielensDataChangedError`.
"""

from __future__ import annotations

from airflow_movielens.version_compat import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
)

__all__ = [
    "AirflowFailException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "MovielensArgumentError",
    "MovielensAuthError",
    "MovielensDataChangedError",
    "MovielensError",
    "MovielensRequestError",
    "MovielensResponseError",
    "MovielensUnavailableError",
]


class MovielensError(AirflowException):
    """Base class of every error raised by the provider; ``url`` never holds credentials (they travel in a
    header), ``status_code`` is that of the failing response, if one was received."""

    def __init__(self, message: str, *, status_code: int | None = None, url: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.url = url


class MovielensArgumentError(MovielensError, AirflowFailException, ValueError):
    """A bad argument (a date, a page size, an output path...) or connection setting, named in the message
    with its value. Never retried; also a ``ValueError``, so plain Python callers can catch it as one."""


class MovielensAuthError(MovielensError, AirflowFailException):
    """The API refused the credentials (HTTP 401/403). Never retried."""


class MovielensRequestError(MovielensError, AirflowFailException):
    """The API rejected the request (a 4xx but 401/403/429), for the server's reason. Never retried."""


class MovielensResponseError(MovielensError):
    """The API answered 2xx with a body that does not follow the contract (not JSON, fields missing)."""


class MovielensUnavailableError(MovielensError):
    """The API stayed unreachable or failing (timeouts, resets, 429, 5xx) after ``attempts`` requests."""

    def __init__(
        self, message: str, *, status_code: int | None = None, url: str | None = None, attempts: int = 0
    ) -> None:
        super().__init__(message, status_code=status_code, url=url)
        self.attempts = attempts


def http_error(status: int, url: str, conn_id: str, reason: str) -> MovielensError | None:
    """The typed error for an HTTP status, or ``None`` for success; one mapping for sync and async clients."""
    if status < 400:
        return None
    if status in (401, 403):
        message = f"authentication failed for connection '{conn_id}' (HTTP {status} from {url})"
        return MovielensAuthError(message, status_code=status, url=url)
    if status == 429 or status >= 500:
        return MovielensUnavailableError(f"HTTP {status}: {reason}", status_code=status, url=url, attempts=1)
    return MovielensRequestError(f"HTTP {status} from {url}: {reason}", status_code=status, url=url)


class MovielensDataChangedError(MovielensError):
    """The result set changed while it was being paged (``total`` moved, or a page came back short)."""
