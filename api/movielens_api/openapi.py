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


def _array(items: Json, **keywords: Any) -> Json:
    return {"type": "array", **keywords, "items": items}


def _ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


def _resp(description: str, schema: Json, media: str = "application/json") -> Json:
    return {"description": description, "content": {media: {"schema": schema}}}


def _object(required: list[str] | None = None, closed: bool = False, **properties: Json) -> Json:
    """An object schema of the given properties, every one required unless ``required`` names some."""
    schema: Json = {"type": "object", "required": list(properties) if required is None else required}
    return {**schema, **({"additionalProperties": False} if closed else {}), "properties": properties}


def _param(name: str, description: str, schema: Json, **style: Any) -> Json:
    return {"name": name, "in": "query", "description": description, **style, "schema": schema}


def _get(operation_id: str, summary: str, responses: Json, parameters: list[Json] | None = None) -> Json:
    """A GET operation; those with parameters (the paged lists) require basic auth."""
    access = {"security": [{"basicAuth": []}], "parameters": parameters} if parameters else {"security": []}
    return {"get": {"summary": summary, "operationId": operation_id, **access, "responses": responses}}


def _paged(operation_id: str, summary: str, item: str, parameters: list[Json]) -> Json:
    """A paged, authenticated list of ``item`` objects, with its error responses."""
    page = _object(
        closed=True,
        result=_array(_ref(item)),
        limit=_int(minimum=1),
        offset=_int(minimum=0),
        total=_int(minimum=0),
    )
    errors = {code: _resp(text, _ref("Error")) for code, text in _ERRORS.items()}
    errors["401"]["headers"] = {"WWW-Authenticate": {"schema": _str()}}
    responses = {"200": _resp(f"A page of {operation_id}", page), **errors}
    return _get(operation_id, summary, responses, parameters)


def spec(max_limit: int) -> Json:
    """The OpenAPI document for an app whose largest page is max_limit."""
    offset = _int(minimum=0, maximum=MAX_OFFSET, default=0)
    limit = _int(minimum=1, maximum=max_limit, default=min(DEFAULT_LIMIT, max_limit))
    paging = [
        _param("offset", "Index of the first item of the page", offset),
        _param("limit", "Number of items per page", limit),
    ]
    day = _str(format="date", pattern=f"^{DATE_PATTERN}$")
    dates = [
        _param("start_date", "First day, inclusive (YYYY-MM-DD, UTC)", day),
        _param("end_date", "Day after the last, exclusive (YYYY-MM-DD, UTC); >= start_date", day),
    ]
    id_list = _array(_int(minimum=1, maximum=MAX_MOVIE_ID), maxItems=max_limit)
    movie_id = _param(
        "movieId", "Only these movies (repeated and/or comma-separated)", id_list, style="form", explode=True
    )
    ratings = _paged("ratings", "Ratings ordered by (timestamp, userId, movieId)", "Rating", dates + paging)
    movies = _paged(
        "movies", "Movies ordered by movieId, optionally filtered by id", "Movie", [movie_id, *paging]
    )
    health = {"200": _resp("Ready", _ref("Health")), "503": _resp("Loading or failed", _ref("Loading"))}
    document = {"200": _resp("OpenAPI document", {"type": "object"})}
    schemas = {
        "Rating": _object(
            closed=True,
            userId=_int(),
            movieId=_int(),
            rating={"type": "number"},
            timestamp=_int(description="Unix seconds, UTC"),
        ),
        "Movie": _object(closed=True, movieId=_int(), title=_str(), genres=_array(_str())),
        "Health": _object(
            status=_str(enum=["ok"]),
            dataset=_str(),
            rows=_int(minimum=0),
            movies=_int(minimum=0),
            first_rating_date=_str(format="date", nullable=True),
            last_rating_date=_str(format="date", nullable=True),
            last_rating_timestamp=_int(
                nullable=True,
                description="Epoch seconds (UTC) of the newest rating: no window ending at or before it can "
                "gain ratings",
            ),
        ),
        "Loading": _object(
            ["status"], status=_str(enum=["loading", "error"]), dataset=_str(), detail=_str(nullable=True)
        ),
        "Error": _object(error=_str()),
    }
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
            "/ratings": ratings,
            "/movies": movies,
            "/openapi.json": _get("openapi", "This document", document),
        },
        "components": {
            "securitySchemes": {"basicAuth": {"type": "http", "scheme": "basic"}},
            "schemas": schemas,
        },
    }
