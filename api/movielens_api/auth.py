"""HTTP basic auth with constant-time comparison (no password hashing on the request path)."""

from __future__ import annotations

import hmac
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

from flask import current_app, request
from werkzeug.exceptions import Unauthorized

if TYPE_CHECKING:
    from collections.abc import Callable

F = TypeVar("F", bound="Callable[..., Any]")
REALM = "movielens"


class AuthRequired(Unauthorized):
    """401 with a ``WWW-Authenticate: Basic realm="movielens"`` challenge."""

    description = "valid HTTP basic credentials are required"

    def get_headers(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        return [*super().get_headers(*args, **kwargs), ("WWW-Authenticate", f'Basic realm="{REALM}"')]


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def check_credentials() -> None:
    """Raise 401 unless the request carries the configured API_USER/API_PASSWORD."""
    auth = request.authorization
    if auth is not None and auth.type == "basic":
        user_ok = _same(auth.username or "", current_app.config["API_USER"])
        password_ok = _same(auth.password or "", current_app.config["API_PASSWORD"])
        if user_ok and password_ok:
            return
    raise AuthRequired()


def requires_auth(view: F) -> F:
    """Decorator: the view runs only for authenticated requests."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        check_credentials()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
