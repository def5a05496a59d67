"""The OpenAPI 3.0 document served at /openapi.json, built from the limits that params.py enforces."""

from __future__ import annotations

from typing import Any

from movielens_api.params import DATE_PATTERN, DEFAULT_LIMIT, MAX_MOVIE_ID, MAX_OFFSET

Json = dict[str, Any]
_ERRORS = {
    "400": "Invalid parameter (the message names it)",
    "401": "Missing or wrong credentials",
    "503": "Dataset still loading",
}


def _int(**keywords: Any) -> Json:
    return {"type": "integer", **keywords}


def _str(**keywords: Any) -> Json:
    return {"type": "string", **keywords}


def _ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


def _resp(description: str, schema: Json, media: str = "application/json") -> Json:
    return {"description": description, "content": {media: {"schema": schema}}}


def _object(properties: Json, required: list[str] | None = None, closed: bool = False) -> Json:
    """An object schema; every property is required unless ``required`` says otherwise."""
    schema: Json = {"type": "object", "required": list(properties) if required is None else required}
    if closed:
        schema["additionalProperties"] = False
    return {**schema, "properties": properties}


def _param(name: str, description: str, schema: Json, **style: Any) -> Json:
    return {"name": name, "in": "query", "description": description, **style, "schema": schema}


def _get(operation_id: str, summary: str, responses: Json, parameters: list[Json] | None = None) -> Json:
    """One GET operation; those with parameters (the paged ones) require basic auth."""
    operation: Json = {"summary": summary, "operationId": operation_id}
    operation["security"] = [{"basicAuth": []}] if parameters else []
    if parameters:
        operation["parameters"] = parameters
    return {"get": {**operation, "responses": responses}}


def _paged(operation_id: str, summary: str, item: str, filters: list[Json], max_limit: int) -> Json:
    """A paged, authenticated list of ``item`` objects: its filters, offset/limit and error responses."""
    limit = _int(minimum=1, maximum=max_limit, default=min(DEFAULT_LIMIT, max_limit))
    paging = [
        _param(
            "offset", "Index of the first item of the page", _int(minimum=0, maximum=MAX_OFFSET, default=0)
        ),
        _param("limit", "Number of items per page", limit),
    ]
    page = {
        "result": {"type": "array", "items": _ref(item)},
        "limit": _int(minimum=1),
        "offset": _int(minimum=0),
        "total": _int(minimum=0),
    }
    errors = {code: _resp(text, _ref("Error")) for code, text in _ERRORS.items()}
    errors["401"]["headers"] = {"WWW-Authenticate": {"schema": _str()}}
    responses = {"200": _resp(f"A page of {operation_id}", _object(page, closed=True)), **errors}
    return _get(operation_id, summary, responses, [*filters, *paging])


def spec(max_limit: int) -> Json:
    """The OpenAPI document for an app whose largest page is max_limit."""
    day = _str(format="date", pattern=f"^{DATE_PATTERN}$")
    dates = [
        _param("start_date", "First day, inclusive (YYYY-MM-DD, UTC)", day),
        _param("end_date", "Day after the last, exclusive (YYYY-MM-DD, UTC); >= start_date", day),
    ]
    movie_ids = {"type": "array", "maxItems": max_limit, "items": _int(minimum=1, maximum=MAX_MOVIE_ID)}
    ids = [
        _param(
            "movieId",
            "Only these movies (repeated and/or comma-separated)",
            movie_ids,
            style="form",
            explode=True,
        )
    ]
    health = {"200": _resp("Ready", _ref("Health")), "503": _resp("Loading or failed", _ref("Loading"))}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Movie Rating API",
            "version": "1.0.0",
            "description": "MovieLens ratings and movies, paged with offset/limit; dates are UTC.",
        },
        "paths": {
            "/": _get("index", "Greeting", {"200": _resp("Greeting", _str(), "text/plain")}),
            "/health": _get("health", "Dataset status", health),
            "/ratings": _paged(
                "ratings", "Ratings ordered by (timestamp, userId, movieId)", "Rating", dates, max_limit
            ),
            "/movies": _paged(
                "movies", "Movies ordered by movieId, optionally filtered by id", "Movie", ids, max_limit
            ),
            "/openapi.json": _get(
                "openapi", "This document", {"200": _resp("OpenAPI document", {"type": "object"})}
            ),
        },
        "components": {
            "securitySchemes": {"basicAuth": {"type": "http", "scheme": "basic"}},
            "schemas": {
                "Rating": _object(
                    {
                        "userId": _int(),
                        "movieId": _int(),
                        "rating": {"type": "number"},
                        "timestamp": _int(description="Unix seconds, UTC"),
                    },
                    closed=True,
                ),
                "Movie": _object(
                    {"movieId": _int(), "title": _str(), "genres": {"type": "array", "items": _str()}},
                    closed=True,
                ),
                "Health": _object(
                    {
                        "status": _str(enum=["ok"]),
                        "dataset": _str(),
                        "rows": _int(minimum=0),
                        "movies": _int(minimum=0),
                        "first_rating_date": _str(format="date", nullable=True),
                        "last_rating_date": _str(format="date", nullable=True),
                        "last_rating_timestamp": _int(
                            nullable=True,
                            description="Epoch seconds (UTC) of the newest rating: no window ending at or "
                            "before it can gain ratings",
                        ),
                    }
                ),
                "Loading": _object(
                    {
                        "status": _str(enum=["loading", "error"]),
                        "dataset": _str(),
                        "detail": _str(nullable=True),
                    },
                    required=["status"],
                ),
                "Error": _object({"error": _str()}),
            },
        },
    }
