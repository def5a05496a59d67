"""Typed errors of the MovieLens provider.

Every error derives from :class:`MovielensError` (itself an ``AirflowException``) and carries the HTTP
``status_code`` and the request ``url`` when there was one, so callers can branch (or retry) on the type
instead of parsing messages — unlike HttpHook, which flattens HTTP errors into a bare AirflowException.
"""

from __future__ import annotations

from airflow.exceptions import AirflowException

__all__ = [
    "MovielensAuthError",
    "MovielensDataChangedError",
    "MovielensError",
    "MovielensRequestError",
    "MovielensResponseError",
    "MovielensUnavailableError",
]


class MovielensError(AirflowException):
    """Base class of every error raised by the MovieLens provider.

    :param message: human-readable description.
    :param status_code: HTTP status of the failing response, if a response was received.
    :param url: URL of the failing request, if any (never holds credentials: auth travels in a header).
    """

    def __init__(self, message: str, *, status_code: int | None = None, url: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.url = url


class MovielensAuthError(MovielensError):
    """The API refused the credentials (HTTP 401/403). Never retried."""


class MovielensRequestError(MovielensError):
    """The API rejected the request (a 4xx other than 401/403/429); ``message`` holds the server's reason."""


class MovielensResponseError(MovielensError):
    """The API answered 2xx with a body that does not follow the contract (not JSON, fields missing)."""


class MovielensUnavailableError(MovielensError):
    """The API stayed unreachable or failing (timeouts, resets, 429, 5xx) after every retry.

    :param attempts: number of requests made before giving up.
    """

    def __init__(
        self, message: str, *, status_code: int | None = None, url: str | None = None, attempts: int = 0
    ) -> None:
        super().__init__(message, status_code=status_code, url=url)
        self.attempts = attempts


class MovielensDataChangedError(MovielensError):
    """The result set changed while it was being paged (``total`` moved, or a page came back short)."""
