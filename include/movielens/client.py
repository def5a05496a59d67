"""The hand-written ``requests`` client of 01_python (the textbook's starting point).

It pages through ``/ratings`` with ``limit``/``offset`` by hand, connection details from the Airflow
connection (``movielens`` by default), never from the code. The later DAGs replace it with the provider's
``MovielensHook`` (retries, typed errors, dtypes); this one is deliberately small.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import requests

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = (5.0, 60.0)  # (connect, read) seconds


def base_url_from_connection(conn_id: str) -> tuple[str, tuple[str, str] | None]:
    """The API base URL and basic-auth pair of an Airflow connection."""
    from airflow_movielens.version_compat import BaseHook

    conn = BaseHook.get_connection(conn_id)
    host = (conn.host or "localhost").rstrip("/")
    base = host if "://" in host else f"{conn.schema or 'http'}://{host}:{conn.port or 5000}"
    auth = (conn.login, conn.password or "") if conn.login else None
    return base, auth


def iter_ratings(
    conn_id: str,
    start_date: str,
    end_date: str,
    batch_size: int = 1000,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
) -> Iterator[dict[str, Any]]:
    """Yield the ratings of ``[start_date, end_date)`` page by page (one session, offset paging)."""
    base, auth = base_url_from_connection(conn_id)
    offset = 0
    with requests.Session() as session:
        session.auth = auth
        while True:
            params = {"start_date": start_date, "end_date": end_date, "offset": offset, "limit": batch_size}
            response = session.get(f"{base}/ratings", params=params, timeout=timeout)
            response.raise_for_status()
            page = response.json()
            batch = page.get("result") or []
            yield from batch
            offset += len(batch)
            total = page.get("total")
            # Stop on `total`, or on an empty page for servers that omit it. Never on a short page:
            # a server may cap `limit` below what we asked for.
            if not batch or (total is not None and offset >= total):
                break
    log.info("Fetched %d ratings for [%s, %s) from %s", offset, start_date, end_date, base)
