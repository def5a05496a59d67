"""Hook for the Movie Rating API (MovieLens ratings served over HTTP with basic auth)."""

from __future__ import annotations

import email.utils
import itertools
import operator
import random
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import requests
from requests.adapters import HTTPAdapter

try:  # Airflow 3 task SDK first; Airflow 2 path otherwise
    from airflow.sdk import BaseHook
except ImportError:
    from airflow.hooks.base import BaseHook

from airflow_movielens.dates import DateLike, validate_interval
from airflow_movielens.exceptions import (
    MovielensAuthError,
    MovielensDataChangedError,
    MovielensError,
    MovielensRequestError,
    MovielensResponseError,
    MovielensUnavailableError,
)

if TYPE_CHECKING:
    from airflow.models.connection import Connection

__all__ = ["MOVIE_DTYPES", "RATING_DTYPES", "MovielensHook"]

#: Columns and dtypes of :meth:`MovielensHook.get_ratings`.
RATING_DTYPES: dict[str, str] = {
    "userId": "int64",
    "movieId": "int64",
    "rating": "float64",
    "timestamp": "int64",
}
#: Columns and dtypes of :meth:`MovielensHook.get_movies` (``genres`` is ``|``-joined, as in movies.csv).
MOVIE_DTYPES: dict[str, str] = {"movieId": "int64", "title": "object", "genres": "object"}

Timeout = float | tuple[float, float]

# Transport failures worth another attempt: refused/reset connections, connect/read timeouts (a read timeout
# while streaming the body surfaces as ConnectionError), and bodies cut short mid-transfer.
_TRANSIENT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


@dataclass(frozen=True)
class _Settings:
    """Effective settings: caller arguments, else connection extras, else class defaults."""

    base_url: str
    timeout: tuple[float, float]
    max_retries: int
    backoff: float
    batch_size: int


class MovielensHook(BaseHook):
    """Read ratings and movies from the Movie Rating API.

    Nothing touches the network (or even the connection) until the first request; then one
    :class:`requests.Session` (basic auth, keep-alive) serves every page until :meth:`close`. Every request
    has connect/read timeouts. Connection errors, timeouts, HTTP 429 (honouring ``Retry-After``) and 5xx are
    retried with exponential backoff and jitter; other 4xx never are. Failures raise the typed errors of
    :mod:`airflow_movielens.exceptions`.

    Arguments given here win over the connection's extras (``timeout``, ``connect_timeout``,
    ``max_retries``, ``backoff``, ``batch_size``), which win over the class defaults.

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

    default_schema = "http"
    default_port = 5000
    default_timeout = 60.0
    default_connect_timeout = 5.0
    default_max_retries = 5
    default_backoff = 1.0
    default_batch_size = 10_000
    #: Longest wait between two attempts, whatever the backoff or ``Retry-After`` asks for.
    max_wait = 300.0
    #: Movie ids sent per ``/movies`` request (keeps URLs short).
    movie_ids_per_request = 200
    #: Seconds between two progress lines while paging.
    progress_interval = 10.0

    # Indirection so tests can record waits instead of sleeping.
    _sleep = staticmethod(time.sleep)

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
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.batch_size = batch_size
        self._session: requests.Session | None = None
        self._settings: _Settings | None = None

    # -- connection form ------------------------------------------------------------------------------

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields of the connection form (stored in the connection's extras)."""
        from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import IntegerField
        from wtforms.validators import NumberRange, Optional

        return {
            "timeout": IntegerField(
                lazy_gettext("Read timeout (seconds)"),
                widget=BS3TextFieldWidget(),
                validators=[Optional(), NumberRange(min=1)],
            ),
            "batch_size": IntegerField(
                lazy_gettext("Page size (ratings per request)"),
                widget=BS3TextFieldWidget(),
                validators=[Optional(), NumberRange(min=1)],
            ),
            "max_retries": IntegerField(
                lazy_gettext("Retries"),
                widget=BS3TextFieldWidget(),
                validators=[Optional(), NumberRange(min=0)],
            ),
        }

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Labels and placeholders of the connection form."""
        return {
            "hidden_fields": [],
            "relabeling": {"schema": "Scheme (http or https)", "login": "Username"},
            "placeholders": {
                "host": "movielens-api",
                "port": str(cls.default_port),
                "schema": cls.default_schema,
                "login": "airflow",
                "password": "airflow",
                "timeout": str(int(cls.default_timeout)),
                "batch_size": str(cls.default_batch_size),
                "max_retries": str(cls.default_max_retries),
                "extra": '{"connect_timeout": 5, "backoff": 1.0}',
            },
        }

    # -- session --------------------------------------------------------------------------------------

    def get_conn(self) -> requests.Session:
        """Return the hook's :class:`requests.Session`, building it on first use."""
        if self._session is None:
            conn = self.get_connection(self.movielens_conn_id)
            self._settings = self._resolve_settings(conn)
            session = requests.Session()
            self._configure_auth(session, conn)
            self._configure_headers(session)
            self._mount_adapters(session)
            self._session = session
        return self._session

    @property
    def base_url(self) -> str:
        """Base URL of the API, e.g. ``http://movielens-api:5000`` (reads the connection on first use)."""
        return self._get_settings().base_url

    def close(self) -> None:
        """Close the session and its pooled connections; the next request opens a new one."""
        if self._session is not None:
            self._session.close()
            self._session = None

    def __enter__(self) -> MovielensHook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _get_settings(self) -> _Settings:
        self.get_conn()
        assert self._settings is not None
        return self._settings

    def _resolve_settings(self, conn: Connection) -> _Settings:
        extras = conn.extra_dejson if conn.extra else {}
        caller_connect, caller_read = _split_timeout(self.timeout)
        extra_connect, extra_read = _split_timeout(self._extra(extras, "timeout"))
        if extra_connect is None:
            extra_connect = self._extra(extras, "connect_timeout")

        def pick(
            name: str, caller: Any, extra: Any, default: float, kind: type = float, least: float = 0
        ) -> Any:
            if caller is not None:
                return self._checked(name, caller, "argument", kind, least)
            if extra is not None:
                return self._checked(name, extra, "connection extra", kind, least)
            return default

        tiny = 1e-3  # a zero timeout would fail every request
        return _Settings(
            base_url=self._base_url(conn),
            timeout=(
                pick(
                    "connect_timeout", caller_connect, extra_connect, self.default_connect_timeout, least=tiny
                ),
                pick("timeout", caller_read, extra_read, self.default_timeout, least=tiny),
            ),
            max_retries=pick(
                "max_retries",
                self.max_retries,
                self._extra(extras, "max_retries"),
                self.default_max_retries,
                int,
            ),
            backoff=pick("backoff", self.backoff, self._extra(extras, "backoff"), self.default_backoff),
            batch_size=pick(
                "batch_size",
                self.batch_size,
                self._extra(extras, "batch_size"),
                self.default_batch_size,
                int,
                1,
            ),
        )

    def _base_url(self, conn: Connection) -> str:
        host = (conn.host or "").strip().rstrip("/")
        if not host:
            raise MovielensError(f"connection '{self.movielens_conn_id}' has no host")
        if "://" not in host:
            host = f"{conn.schema or self.default_schema}://{host}"
        parts = urlsplit(host)
        if parts.port is None:
            host = host.replace(parts.netloc, f"{parts.netloc}:{conn.port or self.default_port}", 1)
        return host

    @staticmethod
    def _configure_auth(session: requests.Session, conn: Connection) -> None:
        if conn.login:
            session.auth = (conn.login, conn.password or "")

    @staticmethod
    def _configure_headers(session: requests.Session) -> None:
        session.headers.update({"Accept": "application/json", "User-Agent": "airflow-movielens"})

    @staticmethod
    def _mount_adapters(session: requests.Session) -> None:
        # Retries are ours (typed, logged, Retry-After aware), so the adapter must not retry on its own.
        adapter = HTTPAdapter(max_retries=0, pool_connections=1, pool_maxsize=4)
        session.mount("http://", adapter)
        session.mount("https://", adapter)

    def _extra(self, extras: Mapping[str, Any], name: str) -> Any:
        # The UI stores form fields either plain or with the legacy "extra__<conn_type>__" prefix.
        value = extras.get(name, extras.get(f"extra__{self.conn_type}__{name}"))
        return None if value == "" else value

    def _checked(self, name: str, value: Any, source: str, kind: type, least: float) -> Any:
        where = f"{source} {name!r} of connection '{self.movielens_conn_id}'"
        try:
            number = kind(value)
            if isinstance(value, bool) or (kind is int and number != float(value)):
                raise ValueError
        except (TypeError, ValueError):
            kind_name = "an integer" if kind is int else "a number"
            raise MovielensError(f"{where} must be {kind_name}, got {value!r}") from None
        if number < least:
            raise MovielensError(f"{where} must be >= {least}, got {value!r}")
        return number

    # -- requests -------------------------------------------------------------------------------------

    def _request(
        self, endpoint: str, params: Mapping[str, Any] | None = None, *, max_retries: int | None = None
    ) -> requests.Response:
        """GET ``endpoint`` with retries; return the 2xx response or raise a typed error."""
        session = self.get_conn()
        settings = self._get_settings()
        url = f"{settings.base_url}/{endpoint.lstrip('/')}"
        retries = settings.max_retries if max_retries is None else max_retries
        attempt = 0
        while True:
            attempt += 1
            retry_after: float | None = None
            try:
                response = session.get(url, params=params, timeout=settings.timeout)
            except _TRANSIENT_ERRORS as err:
                failure, status, failed_url = f"{type(err).__name__}: {err}", None, _full_url(url, params)
                cause: BaseException | None = err
            else:
                status, failed_url = response.status_code, response.url
                if status < 400:
                    return response
                if status in (401, 403):
                    raise MovielensAuthError(
                        f"authentication failed for connection '{self.movielens_conn_id}' "
                        f"(HTTP {status} from {failed_url})",
                        status_code=status,
                        url=failed_url,
                    )
                if status != 429 and status < 500:
                    raise MovielensRequestError(
                        f"HTTP {status} from {failed_url}: {_error_message(response)}",
                        status_code=status,
                        url=failed_url,
                    )
                failure = f"HTTP {status}: {_error_message(response)}"
                retry_after = _retry_after(response)
                cause = None
            if attempt > retries:
                raise MovielensUnavailableError(
                    f"GET {failed_url} failed after {attempt} attempt(s); last error: {failure}",
                    status_code=status,
                    url=failed_url,
                    attempts=attempt,
                ) from cause
            wait = self._retry_wait(attempt, retry_after, settings.backoff)
            self.log.warning(
                "GET %s failed (%s); retry %d of %d in %.2f s", failed_url, failure, attempt, retries, wait
            )
            self._sleep(wait)

    def _retry_wait(self, attempt: int, retry_after: float | None, backoff: float) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        if retry_after is not None:  # the server knows best; a little jitter avoids a thundering herd
            return min(self.max_wait, retry_after + random.uniform(0, backoff))
        ceiling = min(self.max_wait, backoff * 2 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # "equal jitter"

    def _get_json(
        self, endpoint: str, params: Mapping[str, Any] | None = None, *, max_retries: int | None = None
    ) -> dict[str, Any]:
        response = self._request(endpoint, params, max_retries=max_retries)
        try:
            body = response.json()
        except ValueError:
            raise MovielensResponseError(
                f"{response.url} answered HTTP {response.status_code} with a body that is not JSON",
                status_code=response.status_code,
                url=response.url,
            ) from None
        if not isinstance(body, dict) or not isinstance(body.get("result"), list):
            raise MovielensResponseError(
                f"{response.url} answered without a 'result' list",
                status_code=response.status_code,
                url=response.url,
            )
        return body

    def _paginate(self, endpoint: str, params: Mapping[str, Any], batch_size: int) -> Iterator[dict]:
        """Yield every item of a limit/offset result set, checking that it does not change meanwhile."""
        return itertools.chain.from_iterable(self._pages(endpoint, params, batch_size))

    def _pages(self, endpoint: str, params: Mapping[str, Any], batch_size: int) -> Iterator[list[dict]]:
        """Yield the non-empty pages of a limit/offset result set (see :meth:`_paginate`)."""
        offset, pages, total = 0, 0, None
        started = last_log = time.monotonic()
        while True:
            body = self._get_json(endpoint, {**params, "limit": batch_size, "offset": offset})
            items: list[dict] = body["result"]
            page_total = body.get("total")
            if page_total is not None:
                if total is None:
                    total = page_total
                elif page_total != total:
                    raise MovielensDataChangedError(
                        f"/{endpoint} total changed from {total} to {page_total} at offset {offset} "
                        f"(params {dict(params)}): the data changed while paging, start again",
                        url=self.base_url + f"/{endpoint}",
                    )
            if not items:
                if total is not None and offset < total:
                    raise MovielensDataChangedError(
                        f"/{endpoint} returned an empty page at offset {offset} although total is {total}",
                        url=self.base_url + f"/{endpoint}",
                    )
                break
            if total is not None and offset + len(items) > total:
                raise MovielensDataChangedError(
                    f"/{endpoint} returned {offset + len(items)} items, more than its total of {total}",
                    url=self.base_url + f"/{endpoint}",
                )
            pages += 1
            offset += len(items)
            yield items
            if total is not None and offset >= total:
                break
            now = time.monotonic()
            if now - last_log >= self.progress_interval:
                last_log = now
                self.log.info(
                    "/%s: %d of %s items in %d pages (%.0f items/s)",
                    endpoint, offset, total if total is not None else "?", pages, offset / (now - started),
                )  # fmt: skip
        elapsed = time.monotonic() - started
        self.log.info(
            "/%s %s: %d items in %d pages in %.2f s (%.0f items/s)",
            endpoint, dict(params), offset, pages, elapsed, offset / elapsed if elapsed else 0.0,
        )  # fmt: skip

    def _batch_size(self, batch_size: int | None) -> int:
        if batch_size is None:
            return self._get_settings().batch_size
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        return batch_size

    @staticmethod
    def _date_params(start_date: DateLike | None, end_date: DateLike | None) -> dict[str, str]:
        start, end = validate_interval(start_date, end_date)
        params = {}
        if start is not None:
            params["start_date"] = start
        if end is not None:
            params["end_date"] = end
        return params

    # -- ratings --------------------------------------------------------------------------------------

    def iter_ratings(
        self,
        start_date: DateLike | None = None,
        end_date: DateLike | None = None,
        batch_size: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield the ratings of ``[start_date, end_date)`` (UTC days) in the API's order, page by page.

        Arguments are checked when called, requests happen while iterating.

        :param start_date: first day (inclusive); ``None`` for no lower bound.
        :param end_date: day after the last one (exclusive); ``None`` for no upper bound.
        :param batch_size: ratings per request; defaults to the hook's page size.
        :return: dicts with ``userId``, ``movieId``, ``rating`` and ``timestamp``.
        :raises MovielensDataChangedError: the result set changed between two pages.
        """
        params = self._date_params(start_date, end_date)
        return self._paginate("ratings", params, self._batch_size(batch_size))

    def get_ratings(
        self,
        start_date: DateLike | None = None,
        end_date: DateLike | None = None,
        batch_size: int | None = None,
    ) -> pd.DataFrame:
        """Return the ratings of ``[start_date, end_date)`` as a DataFrame typed like :data:`RATING_DTYPES`.

        Takes the same arguments as :meth:`iter_ratings`.
        """
        params = self._date_params(start_date, end_date)
        return _typed_frame(self._pages("ratings", params, self._batch_size(batch_size)), RATING_DTYPES)

    def count_ratings(self, start_date: DateLike | None = None, end_date: DateLike | None = None) -> int:
        """Return the number of ratings in ``[start_date, end_date)`` (one ``limit=1`` request)."""
        body = self._first_rating(start_date, end_date)
        total = body.get("total")
        if not isinstance(total, int):
            raise MovielensResponseError(f"{self.base_url}/ratings answered without an integer 'total'")
        return total

    def has_ratings(self, start_date: DateLike | None = None, end_date: DateLike | None = None) -> bool:
        """Return whether ``[start_date, end_date)`` holds at least one rating (one ``limit=1`` request)."""
        body = self._first_rating(start_date, end_date)
        return bool(body["result"]) or bool(body.get("total"))

    def _first_rating(self, start_date: DateLike | None, end_date: DateLike | None) -> dict[str, Any]:
        """The ``limit=1`` page of ``[start_date, end_date)``: its first rating and the ``total``."""
        return self._get_json("ratings", {**self._date_params(start_date, end_date), "limit": 1})

    # -- movies ---------------------------------------------------------------------------------------

    def iter_movies(
        self, movie_ids: Iterable[int] | None = None, batch_size: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Yield movies (``movieId``, ``title``, ``genres`` as a list), all of them or only ``movie_ids``.

        :param movie_ids: ids to look up (duplicates are fetched once; unknown ids are simply absent);
            ``None`` for the whole catalogue.
        :param batch_size: movies per request; defaults to the hook's page size.
        """
        size = self._batch_size(batch_size)
        if movie_ids is None:
            return self._paginate("movies", {}, size)
        ids = sorted({_movie_id(movie_id) for movie_id in movie_ids})
        step = self.movie_ids_per_request
        chunks = [ids[i : i + step] for i in range(0, len(ids), step)]
        return (
            movie
            for chunk in chunks
            for movie in self._paginate("movies", {"movieId": ",".join(map(str, chunk))}, size)
        )

    def get_movies(
        self, movie_ids: Iterable[int] | None = None, batch_size: int | None = None
    ) -> pd.DataFrame:
        """Return movies as a DataFrame typed like :data:`MOVIE_DTYPES`, genres ``|``-joined like movies.csv.

        Takes the same arguments as :meth:`iter_movies`.
        """
        movies = [
            {**movie, "genres": _join_genres(movie.get("genres"))}
            for movie in self.iter_movies(movie_ids, batch_size)
        ]
        return _typed_frame([movies], MOVIE_DTYPES)

    # -- UI -------------------------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Check the API answers ``/`` and accepts the credentials (one 1-row ``/ratings`` request).

        Used by the Test button of the connection form; makes a single attempt per request.
        """
        try:
            self._request("", max_retries=0)
            body = self._get_json("ratings", {"limit": 1}, max_retries=0)
            return True, f"Connected to {self.base_url}: {body.get('total', 'unknown')} ratings available"
        except Exception as err:
            return False, str(err)
        finally:
            self.close()


def _split_timeout(value: Any) -> tuple[Any, Any]:
    """``(connect, read)`` from a ``(connect, read)`` pair or a single read timeout."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise MovielensError(f"a timeout pair must be (connect, read), got {value!r}")
        return value[0], value[1]
    return None, value


def _typed_frame(pages: Iterable[list[Mapping[str, Any]]], dtypes: Mapping[str, str]) -> pd.DataFrame:
    """Build a typed DataFrame column by column, page by page (much faster than from a list of dicts)."""
    columns: dict[str, list[Any]] = {name: [] for name in dtypes}
    try:
        for page in pages:
            for name, values in columns.items():
                values.extend([item[name] for item in page])
    except KeyError as err:
        raise MovielensResponseError(f"an item of the API's result has no {err.args[0]!r} field") from None
    return pd.DataFrame({name: np.array(values, dtype=dtypes[name]) for name, values in columns.items()})


def _join_genres(genres: Any) -> str:
    if isinstance(genres, str):
        return genres
    if not genres:
        return "(no genres listed)"
    return "|".join(genres)


def _movie_id(value: Any) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    try:
        return operator.index(value)  # int and numpy integers; not bool-like floats or "1.5"
    except TypeError:
        raise ValueError(f"movie ids must be integers, got {value!r}") from None


def _full_url(url: str, params: Mapping[str, Any] | None) -> str:
    return requests.Request("GET", url, params=params).prepare().url or url


def _error_message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("error"):
        return str(body["error"])
    text = response.text.strip()
    return text[:300] if text else response.reason or "no message"


def _retry_after(response: requests.Response) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), if present and valid."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
