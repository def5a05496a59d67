"""The OpenAPI 3.0 document served at /openapi.json (kept next to the behaviour it describes)."""

from __future__ import annotations

from typing import Any

from movielens_api.params import MAX_MOVIE_ID, MAX_OFFSET

_ERROR = {"$ref": "#/components/schemas/Error"}


def _resp(description: str, schema: dict[str, Any], media: str = "application/json") -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    texts = {
        400: "Invalid parameter (the message names it)",
        401: "Missing or wrong credentials",
        503: "Dataset still loading",
    }
    out = {str(c): _resp(texts[c], _ERROR) for c in codes}
    if 401 in codes:
        out["401"]["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    return out


def _paging(max_limit: int) -> list[dict[str, Any]]:
    return [
        {
            "name": "offset",
            "in": "query",
            "description": "Index of the first item of the page",
            "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
        },
        {
            "name": "limit",
            "in": "query",
            "description": "Number of items per page",
            "schema": {"type": "integer", "minimum": 1, "maximum": max_limit, "default": min(100, max_limit)},
        },
    ]


def _page_schema(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["result", "limit", "offset", "total"],
        "additionalProperties": False,
        "properties": {
            "result": {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}},
            "limit": {"type": "integer", "minimum": 1},
            "offset": {"type": "integer", "minimum": 0},
            "total": {"type": "integer", "minimum": 0},
        },
    }


def spec(max_limit: int) -> dict[str, Any]:
    """The OpenAPI document for an app whose largest page is max_limit."""
    date_param = {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
    auth = [{"basicAuth": []}]
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Movie Rating API",
            "version": "1.0.0",
            "description": "MovieLens ratings and movies, paged with offset/limit; dates are UTC.",
        },
        "paths": {
            "/": {
                "get": {
                    "summary": "Greeting",
                    "operationId": "index",
                    "security": [],
                    "responses": {"200": _resp("Greeting", {"type": "string"}, "text/plain")},
                }
            },
            "/health": {
                "get": {
                    "summary": "Dataset status",
                    "operationId": "health",
                    "security": [],
                    "responses": {
                        "200": _resp("Ready", {"$ref": "#/components/schemas/Health"}),
                        "503": _resp("Loading or failed", {"$ref": "#/components/schemas/Loading"}),
                    },
                }
            },
            "/ratings": {
                "get": {
                    "summary": "Ratings ordered by (timestamp, userId, movieId)",
                    "operationId": "ratings",
                    "security": auth,
                    "parameters": [
                        {
                            "name": "start_date",
                            "in": "query",
                            "description": "First day, inclusive (YYYY-MM-DD, UTC)",
                            "schema": date_param,
                        },
                        {
                            "name": "end_date",
                            "in": "query",
                            "description": "Day after the last, exclusive (YYYY-MM-DD, UTC); >= start_date",
                            "schema": date_param,
                        },
                        *_paging(max_limit),
                    ],
                    "responses": {
                        "200": _resp("A page of ratings", _page_schema("Rating")),
                        **_errors(400, 401, 503),
                    },
                }
            },
            "/movies": {
                "get": {
                    "summary": "Movies ordered by movieId, optionally filtered by id",
                    "operationId": "movies",
                    "security": auth,
                    "parameters": [
                        {
                            "name": "movieId",
                            "in": "query",
                            "description": "Only these movies (repeated and/or comma-separated)",
                            "style": "form",
                            "explode": True,
                            "schema": {
                                "type": "array",
                                "maxItems": max_limit,
                                "items": {"type": "integer", "minimum": 1, "maximum": MAX_MOVIE_ID},
                            },
                        },
                        *_paging(max_limit),
                    ],
                    "responses": {
                        "200": _resp("A page of movies", _page_schema("Movie")),
                        **_errors(400, 401, 503),
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "operationId": "openapi",
                    "security": [],
                    "responses": {"200": _resp("OpenAPI document", {"type": "object"})},
                }
            },
        },
        "components": {
            "securitySchemes": {"basicAuth": {"type": "http", "scheme": "basic"}},
            "schemas": {
                "Rating": {
                    "type": "object",
                    "required": ["userId", "movieId", "rating", "timestamp"],
                    "additionalProperties": False,
                    "properties": {
                        "userId": {"type": "integer"},
                        "movieId": {"type": "integer"},
                        "rating": {"type": "number"},
                        "timestamp": {"type": "integer", "description": "Unix seconds, UTC"},
                    },
                },
                "Movie": {
                    "type": "object",
                    "required": ["movieId", "title", "genres"],
                    "additionalProperties": False,
                    "properties": {
                        "movieId": {"type": "integer"},
                        "title": {"type": "string"},
                        "genres": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "Health": {
                    "type": "object",
                    "required": [
                        "status",
                        "dataset",
                        "rows",
                        "movies",
                        "first_rating_date",
                        "last_rating_date",
                        "last_rating_timestamp",
                    ],
                    "properties": {
                        "status": {"type": "string", "enum": ["ok"]},
                        "dataset": {"type": "string"},
                        "rows": {"type": "integer", "minimum": 0},
                        "movies": {"type": "integer", "minimum": 0},
                        "first_rating_date": {"type": "string", "format": "date", "nullable": True},
                        "last_rating_date": {"type": "string", "format": "date", "nullable": True},
                        "last_rating_timestamp": {
                            "type": "integer",
                            "nullable": True,
                            "description": "Epoch seconds (UTC) of the newest rating: no window ending at or "
                            "before it can gain ratings",
                        },
                    },
                },
                "Loading": {
                    "type": "object",
                    "required": ["status"],
                    "properties": {
                        "status": {"type": "string", "enum": ["loading", "error"]},
                        "dataset": {"type": "string"},
                        "detail": {"type": "string", "nullable": True},
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}},
                },
            },
        },
    }
