"""JSON error responses for every HTTP error (and a JSON 500 for anything unexpected)."""

from __future__ import annotations

import orjson
from flask import Flask, Response
from werkzeug.exceptions import HTTPException


def handle_http_exception(exc: HTTPException) -> Response:
    """Keep the status and headers (Allow, WWW-Authenticate, ...), replace the HTML body with JSON."""
    response = exc.get_response()
    response.set_data(orjson.dumps({"error": exc.description or exc.name}))
    response.content_type = "application/json"
    return response  # type: ignore[return-value]


def init_app(app: Flask) -> None:
    """Register the handlers; unhandled exceptions reach Flask as InternalServerError (an HTTPException)."""
    app.register_error_handler(HTTPException, handle_http_exception)
