"""Hook for the Movie Rating API (MovieLens ratings served over HTTP with basic auth)."""

from __future__ import annotations

import functools
import itertools
import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

import pandas as pd
import requests

from airflow_movielens.connection import (
    DEFAULTS,
    Defaults,
    HookSettings,
    Overrides,
    Timeout,
    basic_auth,
    connection_form_widgets,
    resolve_settings,
    ui_field_behaviour,
)
from airflow_movielens.dates import (
    CLOSED,
    DateLike,
    WindowProbe,
    has_ratings,
    interval_params,
    newest_timestamp,
    validate_interval,
)
from airflow_movielens.exceptions import (
    MovielensArgumentError,
    MovielensDataChangedError,
    MovielensResponseError,
)
from airflow_movielens.records import MOVIE_DTYPES, RATING_DTYPES, join_genres, movie_id, typed_frame
from airflow_movielens.transport import Transport, build_session, pages, result_page
from airflow_movielens.version_compat import BaseHook

if TYPE_CHECKING:
    from airflow.models.connection import Connection

__all__ = ["MOVIE_DTYPES", "RATING_DTYPES", "MovielensHook"]


class MovielensHook(BaseHook):
    """Read ratings and movies from the Movie Rating API.

    Nothing touches the network (or even the connection) until the first request; then one session serves
    every page until :meth:`close`, with timeouts and retries (:mod:`airflow_movielens.transport`). Arguments
    given here win over the connection's extras, which win over the class defaults.

    :param movielens_conn_id: Airflow connection id (host, port, schema as the URL scheme, login, password).
    :param timeout: read timeout in seconds, or a ``(connect, read)`` pair.
    :param max_retries: retries after the first attempt of each request (0 disables retrying).
    :param backoff: base delay in seconds; attempt *n* waits about ``backoff * 2**n`` (capped, jittered).
    :param batch_size: page size (the API's ``limit``) used when a method is not given one.
    """

    conn_name_attr = "movielens_conn_id"
    default_conn_name = "movielens"
    conn_type = "movielens"
    hook_name = "MovieLens Rating API"

    default_schema = DEFAULTS.scheme
    default_port = DEFAULTS.port
    default_timeout = DEFAULTS.timeout
    default_connect_timeout = DEFAULTS.connect_timeout
    default_max_retries = DEFAULTS.max_retries
    default_backoff = DEFAULTS.backoff
    default_batch_size = DEFAULTS.batch_size
    #: Longest wait between two attempts, whatever the backoff or ``Retry-After`` asks for.
    max_wait = 300.0
    #: Movie ids sent per ``/movies`` request (keeps URLs short).
    movie_ids_per_request = 200
    #: Seconds between two progress lines while paging.
    progress_interval = 10.0

    _sleep = staticmethod(time.sleep)  # tests record waits instead of sleeping

    def __init__(
        self,
        movielens_conn_id: str = default_conn_name,
        *,
        timeout: Timeout | None = None,
        max_retries: int | None = None,
        backoff: float | None = None,
        batch_size: int | None = None,
    ) -> None:
        super().__init__()
        self.movielens_conn_id = movielens_conn_id
        self._overrides = Overrides(timeout, max_retries, backoff, batch_size)

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields of the connection form (Airflow 2; stored in the connection's extras)."""
        return connection_form_widgets()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Labels and placeholders of the connection form (Airflow 2), showing the class defaults."""
        return ui_field_behaviour(cls.defaults())

    @cached_property
    def connection(self) -> Connection:
        """The Airflow connection (read once, on first use)."""
        return self.get_connection(self.movielens_conn_id)

    @cached_property
    def settings(self) -> HookSettings:
        """Effective settings (caller arguments, else connection extras, else defaults), resolved once."""
        return self.connection_settings(self.connection, self.movielens_conn_id, self._overrides)

    @classmethod
    def connection_settings(
        cls, conn: Connection, conn_id: str, overrides: Overrides | None = None
    ) -> HookSettings:
        """The settings of a connection read elsewhere (e.g. by a trigger), as a hook would resolve them."""
        return resolve_settings(conn, conn_id, cls.conn_type, overrides or Overrides(), cls.defaults())

    @classmethod
    def defaults(cls) -> Defaults:
        """The class defaults (``default_*``): what neither the caller nor the connection sets."""
        names = ("schema", "port", "connect_timeout", "timeout", "max_retries", "backoff", "batch_size")
        return Defaults(*(getattr(cls, f"default_{name}") for name in names))

    @property
    def base_url(self) -> str:
        """Base URL of the API, e.g. ``http://movielens-api:5000`` (reads the connection on first use)."""
        return self.settings.base_url

    @cached_property
    def transport(self) -> Transport:
        """GET with retries and typed errors over the hook's session (built on first use)."""
        session = build_session(basic_auth(self.connection))
        sleep = lambda seconds: self._sleep(seconds)  # noqa: E731 (looked up late: tests patch _sleep)
        return Transport(session, self.movielens_conn_id, self.settings, self.max_wait, sleep)

    def get_conn(self) -> requests.Session:
        """Return the hook's :class:`requests.Session`, building it on first use."""
        return self.transport.session

    def close(self) -> None:
        """Close the session and its pooled connections; the next request opens a new one."""
        transport = self.__dict__.pop("transport", None)
        if transport is not None:
            transport.session.close()

    def __enter__(self) -> MovielensHook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _url(self, endpoint: str) -> str:
        return f"{self.base_url}/{endpoint}"

    def _get_page(
        self, endpoint: str, params: Mapping[str, Any] | None = None, *, max_retries: int | None = None
    ) -> dict[str, Any]:
        """GET a page of ``endpoint``: a JSON object with a ``result`` list."""
        url = self._url(endpoint)
        return result_page(self.transport.get_json(url, params, max_retries=max_retries), url)

    def _pages(self, endpoint: str, params: Mapping[str, Any], batch_size: int) -> Iterator[list[dict]]:
        get_page = functools.partial(self._get_page, endpoint)
        url = self._url(endpoint)
        return pages(
            get_page, url, params, batch_size, log=self.log, progress_interval=self.progress_interval
        )

    def _batch_size(self, batch_size: int | None) -> int:
        if batch_size is None:
            return self.settings.batch_size
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise MovielensArgumentError(f"batch_size must be a positive integer, got {batch_size!r}")
        return batch_size

    def iter_ratings(
        self,
        start_date: DateLike | None = None,
        end_date: DateLike | None = None,
        batch_size: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield the ratings of ``[start_date, end_date)`` (UTC days; ``None``: unbounded) in the API's order:
        dicts with ``userId``, ``movieId``, ``rating`` and ``timestamp``, ``batch_size`` per request.
        Arguments are checked when called, requests happen while iterating
        (:class:`MovielensDataChangedError` if the result set changes between two pages)."""
        pages = self._pages("ratings", interval_params(start_date, end_date), self._batch_size(batch_size))
        return itertools.chain.from_iterable(pages)

    def get_ratings(
        self,
        start_date: DateLike | None = None,
        end_date: DateLike | None = None,
        batch_size: int | None = None,
    ) -> pd.DataFrame:
        """:meth:`iter_ratings` as a DataFrame typed like :data:`RATING_DTYPES`."""
        pages = self._pages("ratings", interval_params(start_date, end_date), self._batch_size(batch_size))
        return typed_frame(pages, RATING_DTYPES, self._url("ratings"))

    def count_ratings(self, start_date: DateLike | None = None, end_date: DateLike | None = None) -> int:
        """Return the number of ratings in ``[start_date, end_date)`` (one ``limit=1`` request)."""
        total = self._first_rating(start_date, end_date)[1].get("total")
        if not isinstance(total, int):
            url = self._url("ratings")
            raise MovielensResponseError(
                f"{url} answered without an integer 'total' (got {total!r})", url=url
            )
        return total

    def check_complete(
        self,
        start_date: DateLike | None,
        end_date: DateLike | None,
        fetched: int,
        *,
        consequence: str = "nothing was stored",
        log: logging.Logger | logging.LoggerAdapter | None = None,
    ) -> int:
        """Check the number of ratings ``fetched`` for ``[start_date, end_date)`` against the API's ``total``.

        Paging fails when the total changes *between* pages; this ``limit=1`` request after the last page also
        catches a change since the first one (:class:`MovielensDataChangedError`). An empty interval is logged
        as *closed* or *still open*.

        :param consequence: what the caller did not do because of the mismatch (ends the error message).
        :param log: the task's logger (default: the hook's).
        """
        total = self.count_ratings(start_date, end_date)
        if fetched != total:
            raise MovielensDataChangedError(
                f"fetched {fetched} ratings for [{start_date}, {end_date}) but the API now reports {total}; "
                f"the data changed during the fetch, {consequence}",
                url=self._url("ratings"),
            )
        if not total:
            closed = self.window_state(start_date, end_date)[0] == CLOSED
            (log or self.log).log(
                logging.INFO if closed else logging.WARNING,
                "[%s, %s) has no ratings; the window is %s: storing an empty result",
                start_date, end_date, "closed" if closed else "still open",
            )  # fmt: skip
        return total

    def has_ratings(self, start_date: DateLike | None = None, end_date: DateLike | None = None) -> bool:
        """Return whether ``[start_date, end_date)`` holds at least one rating (one ``limit=1`` request)."""
        return has_ratings(self._first_rating(start_date, end_date)[1])

    def newest_rating_timestamp(self) -> int | None:
        """Epoch seconds of the API's newest rating (``/health``); ``None``: no ratings, or not said."""
        url = self._url("health")
        return newest_timestamp(self.transport.get_json(url), url)

    def window_state(self, start_date: DateLike | None, end_date: DateLike | None) -> tuple[str, int | None]:
        """The :mod:`~airflow_movielens.dates` state of ``[start_date, end_date)`` (ready, closed or waiting)
        and the newest rating's timestamp if ``/health`` was read (only for an empty, bounded window)."""
        probe, page = self._first_rating(start_date, end_date)
        health = self.transport.get_json(self._url("health")) if probe.needs_newest(page) else None
        return probe.state(page, health, self._url("health"))

    def _first_rating(
        self, start_date: DateLike | None, end_date: DateLike | None
    ) -> tuple[WindowProbe, dict[str, Any]]:
        """The checked window and its ``limit=1`` page: the first rating and the ``total``."""
        probe = WindowProbe(*validate_interval(start_date, end_date))
        return probe, self._get_page("ratings", probe.params)

    def iter_movies(
        self, movie_ids: Iterable[int] | None = None, batch_size: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Yield movies (``movieId``, ``title``, ``genres`` as a list): the whole catalogue, or ``movie_ids``
        (duplicates fetched once, unknown ids simply absent), ``batch_size`` per request."""
        size = self._batch_size(batch_size)
        if movie_ids is None:
            return itertools.chain.from_iterable(self._pages("movies", {}, size))
        ids = sorted({movie_id(value) for value in movie_ids})
        step = self.movie_ids_per_request
        chunks = [ids[i : i + step] for i in range(0, len(ids), step)]
        queries = ({"movieId": ",".join(map(str, chunk))} for chunk in chunks)
        return (movie for query in queries for page in self._pages("movies", query, size) for movie in page)

    def get_movies(
        self, movie_ids: Iterable[int] | None = None, batch_size: int | None = None
    ) -> pd.DataFrame:
        """:meth:`iter_movies` as a DataFrame typed like :data:`MOVIE_DTYPES`, genres ``|``-joined."""
        movies = [
            {**movie, "genres": join_genres(movie.get("genres"))}
            for movie in self.iter_movies(movie_ids, batch_size)
        ]
        return typed_frame([movies], MOVIE_DTYPES, self._url("movies"))

    def test_connection(self) -> tuple[bool, str]:
        """The Test button of the connection form: the API answers ``/`` and accepts the credentials (one
        1-row ``/ratings`` request); a single attempt per request."""
        try:
            self.transport.get(self._url(""), max_retries=0)
            body = self._get_page("ratings", {"limit": 1}, max_retries=0)
            return True, f"Connected to {self.base_url}: {body.get('total', 'unknown')} ratings available"
        except Exception as err:
            return False, str(err)
        finally:
            self.close()
