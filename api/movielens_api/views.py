"""The HTTP endpoints: /, /health, /ratings, /movies, /openapi.json."""

from __future__ import annotations

import orjson
from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import ServiceUnavailable

from movielens_api import openapi, params, query
from movielens_api.auth import requires_auth
from movielens_api.cache import ServingData
from movielens_api.store import DataStore

bp = Blueprint("api", __name__)
GREETING = "Hello from the Movie Rating API!"


def _json(body: bytes, status: int = 200) -> Response:
    return Response(body, status=status, mimetype="application/json")


def _store() -> DataStore:
    return current_app.extensions["movielens_store"]


def _data() -> ServingData:
    store = _store()
    if (data := store.get()) is None:
        if store.error:
            raise ServiceUnavailable(f"the dataset could not be prepared ({store.error}); see /health")
        exc = ServiceUnavailable("the dataset is still loading; retry shortly")
        exc.retry_after = 5  # type: ignore[attr-defined]
        raise exc
    return data


@bp.get("/")
def index() -> Response:
    """Plain-text greeting (no auth)."""
    return Response(GREETING, mimetype="text/plain")


@bp.get("/health")
def health() -> Response:
    """200 with dataset facts when ready, 503 while loading (or if preparing the data failed)."""
    store = _store()
    if (data := store.get()) is not None:
        return _json(orjson.dumps(data.health()))
    status = "error" if store.error else "loading"
    return _json(orjson.dumps({"status": status, "dataset": store.dataset, "detail": store.error}), 503)


@bp.get("/ratings")
@requires_auth
def ratings() -> Response:
    """A page of ratings ordered by (timestamp, userId, movieId), optionally within [start_date, end_date)."""
    q = params.ratings_query(request.args, current_app.config["API_MAX_LIMIT"])
    return _json(query.ratings_body(_data(), q))


@bp.get("/movies")
@requires_auth
def movies() -> Response:
    """A page of movies (title, genres list) ordered by movieId, optionally only the given movieIds."""
    q = params.movies_query(request.args, current_app.config["API_MAX_LIMIT"])
    return _json(query.movies_body(_data(), q))


@bp.get("/openapi.json")
def openapi_json() -> Response:
    """The OpenAPI 3 description of this API."""
    return _json(orjson.dumps(openapi.spec(current_app.config["API_MAX_LIMIT"])))
