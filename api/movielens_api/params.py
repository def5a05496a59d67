"""Strict parsing of query parameters: anything invalid is a 400 naming the parameter."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from werkzeug.exceptions import BadRequest

if TYPE_CHECKING:
    from werkzeug.datastructures import MultiDict

MAX_OFFSET = 2**53 - 1  # largest integer every JSON client represents exactly
MAX_MOVIE_ID = 2**31 - 1
DEFAULT_LIMIT = 100  # or the app's API_MAX_LIMIT, if smaller
DATE_PATTERN = "[0-9]{4}-[0-9]{2}-[0-9]{2}"
_INT = re.compile(r"[0-9]{1,20}", re.ASCII)
_DATE = re.compile(DATE_PATTERN, re.ASCII)
_EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class Page:
    """offset/limit paging."""

    offset: int
    limit: int


@dataclass(frozen=True)
class RatingsQuery:
    """A validated /ratings request; dates as UTC epoch seconds (end exclusive)."""

    start: int | None
    end: int | None
    page: Page


@dataclass(frozen=True)
class MoviesQuery:
    """A validated /movies request."""

    movie_ids: list[int] | None
    page: Page


def _check_names(args: MultiDict[str, str], allowed: tuple[str, ...], repeatable: str = "") -> None:
    for name in args:
        if name not in allowed:
            raise BadRequest(f"unknown parameter '{name}'; allowed: {', '.join(allowed)}")
        if name != repeatable and len(args.getlist(name)) > 1:
            raise BadRequest(f"parameter '{name}' given more than once")


def _int(args: MultiDict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = args.get(name)
    if raw is None:
        return default
    if not _INT.fullmatch(raw):
        raise BadRequest(f"parameter '{name}' must be an integer between {low} and {high}, got {raw!r}")
    value = int(raw)
    if not low <= value <= high:
        raise BadRequest(f"parameter '{name}' must be between {low} and {high}, got {value}")
    return value


def _date(args: MultiDict[str, str], name: str) -> date | None:
    raw = args.get(name)
    if raw is None:
        return None
    if not _DATE.fullmatch(raw):
        raise BadRequest(f"parameter '{name}' must be a date YYYY-MM-DD, got {raw!r}")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise BadRequest(f"parameter '{name}' is not a valid calendar date: {raw!r}") from None


def _page(args: MultiDict[str, str], max_limit: int) -> Page:
    return Page(
        offset=_int(args, "offset", 0, 0, MAX_OFFSET),
        limit=_int(args, "limit", min(DEFAULT_LIMIT, max_limit), 1, max_limit),
    )


def _epoch(day: date | None) -> int | None:
    return None if day is None else (day - _EPOCH).days * 86400


def ratings_query(args: MultiDict[str, str], max_limit: int) -> RatingsQuery:
    """Validate /ratings parameters."""
    _check_names(args, ("start_date", "end_date", "offset", "limit"))
    start, end = _date(args, "start_date"), _date(args, "end_date")
    if start is not None and end is not None and end < start:
        raise BadRequest(f"parameter 'end_date' ({end}) is before 'start_date' ({start})")
    return RatingsQuery(_epoch(start), _epoch(end), _page(args, max_limit))


def movies_query(args: MultiDict[str, str], max_limit: int) -> MoviesQuery:
    """Validate /movies parameters; movieId may be repeated and/or comma-separated."""
    _check_names(args, ("movieId", "offset", "limit"), repeatable="movieId")
    ids: list[int] | None = None
    if "movieId" in args:
        ids = []
        for raw in args.getlist("movieId"):
            for item in map(str.strip, raw.split(",")):
                if not _INT.fullmatch(item) or not 1 <= int(item) <= MAX_MOVIE_ID:
                    raise BadRequest(
                        f"parameter 'movieId' must be integers between 1 and {MAX_MOVIE_ID}, got {raw!r}"
                    )
                ids.append(int(item))
        if len(ids) > max_limit:
            raise BadRequest(f"parameter 'movieId' lists {len(ids)} ids; at most {max_limit} allowed")
    return MoviesQuery(ids, _page(args, max_limit))
