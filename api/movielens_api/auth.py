"""HTTP basic auth with constant-time comparison (no password hashing on the request path)."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, request
from werkzeug.exceptions import Unauthorized

F = TypeVar("F", bound=Callable[..., Any])
REALM = "movielens"


class AuthRequired(Unauthorized):
    """401 with a ``WWW-Authenticate: Basic realm="movielens"`` challenge."""

    description = "valid HTTP basic credentials are required"

    def get_headers(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        return [*super().get_headers(*args, **kwargs), ("WWW-Authenticate", f'Basic realm="{REALM}"')]


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(errors="surrogatepass"), expected.encode(errors="surrogatepass"))


def requires_auth(view: F) -> F:
    """Decorator: the view runs only for requests with the configured API_USER/API_PASSWORD, else 401."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        auth = request.authorization
        if auth is not None and auth.type == "basic":
            user_ok = _same(auth.username or "", current_app.config["API_USER"])
            password_ok = _same(auth.password or "", current_app.config["API_PASSWORD"])
            if user_ok and password_ok:
                return view(*args, **kwargs)
        raise AuthRequired()

    return wrapper  # type: ignore[return-value]
