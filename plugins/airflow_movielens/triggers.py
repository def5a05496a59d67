"""Trigger of the deferrable :class:`~airflow_movielens.sensors.MovielensRatingsSensor`.

It runs in the triggerer's event loop, so everything is asynchronous: the connection is read with the
Airflow 3 ``aget_connection`` (or, on Airflow 2, the synchronous lookup in a worker thread), and the API is
polled with aiohttp, never with blocking ``requests``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_movielens.dates import interval_params, validate_interval
from airflow_movielens.exceptions import (
    MovielensError,
    MovielensResponseError,
    MovielensUnavailableError,
    http_error,
)
from airflow_movielens.hooks import MovielensHook
from airflow_movielens.settings import HookSettings, Overrides, resolve_settings
from airflow_movielens.windows import READY, WAITING, window_state

__all__ = ["MovielensRatingsTrigger"]

#: Event statuses: the window has ratings / is closed and empty / the deadline passed / the API rejected us.
DONE_STATUSES = ("ready", "closed", "timeout", "error")


class MovielensRatingsTrigger(BaseTrigger):
    """Poll the API every ``poke_interval`` seconds until ``[interval_start, interval_end)`` has ratings.

    Fires one event and stops:

    - ``{"status": "ready"}`` once the window holds a rating;
    - ``{"status": "closed", "newest_timestamp": ...}`` once the window is closed and empty (see
      :mod:`airflow_movielens.windows`);
    - ``{"status": "timeout"}`` when ``deadline`` (epoch seconds) passes first;
    - ``{"status": "error", "error": <MovielensError class name>, "message", "status_code", "url"}`` at once
      when the API rejects the credentials or the request, or breaks its contract.

    Unavailability (connection errors, timeouts, 429, 5xx) is logged and polled through, like the sensor's
    poke path.

    :param conn_id: Airflow connection of the Movie Rating API.
    :param interval_start: first day, ``YYYY-MM-DD`` (or ``None``).
    :param interval_end: day after the last, ``YYYY-MM-DD`` (or ``None``).
    :param poke_interval: seconds between two polls.
    :param deadline: epoch seconds after which the trigger gives up (``None``: never).
    """

    def __init__(
        self,
        conn_id: str,
        interval_start: str | None,
        interval_end: str | None,
        poke_interval: float,
        deadline: float | None = None,
    ) -> None:
        super().__init__()
        self.conn_id = conn_id
        self.interval_start, self.interval_end = validate_interval(interval_start, interval_end)
        self.poke_interval = float(poke_interval)
        self.deadline = deadline

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "conn_id": self.conn_id,
                "interval_start": self.interval_start,
                "interval_end": self.interval_end,
                "poke_interval": self.poke_interval,
                "deadline": self.deadline,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        conn = await _get_connection(self.conn_id)
        settings = resolve_settings(
            conn,
            conn_id=self.conn_id,
            conn_type=MovielensHook.conn_type,
            overrides=Overrides(),
            defaults=MovielensHook._defaults(),
        )
        auth = aiohttp.BasicAuth(conn.login, conn.password or "") if conn.login else None
        connect, read = settings.timeout
        timeout = aiohttp.ClientTimeout(sock_connect=connect, sock_read=read, total=connect + read)
        headers = {"Accept": "application/json", "User-Agent": "airflow-movielens"}
        polls = 0
        async with aiohttp.ClientSession(auth=auth, timeout=timeout, headers=headers) as session:
            while True:
                polls += 1
                try:
                    event = await self._poll(session, settings)
                except MovielensUnavailableError as err:
                    self.log.warning("Movie Rating API unavailable, will poll again: %s", err)
                    event = None
                except MovielensError as err:  # rejected credentials or request, broken contract: stop
                    event = {
                        "status": "error",
                        "error": type(err).__name__,
                        "message": err.message,
                        "status_code": err.status_code,
                        "url": err.url,
                    }
                if event is not None:
                    yield TriggerEvent({**event, "polls": polls})
                    return
                remaining = None if self.deadline is None else self.deadline - time.time()
                if remaining is not None and remaining <= 0:
                    message = f"no ratings in [{self.interval_start}, {self.interval_end}) before the timeout"
                    yield TriggerEvent({"status": "timeout", "message": message, "polls": polls})
                    return
                await asyncio.sleep(min(self.poke_interval, remaining or self.poke_interval))

    async def _poll(self, session: aiohttp.ClientSession, settings: HookSettings) -> dict[str, Any] | None:
        """One poll: the event to fire, or ``None`` to keep waiting."""
        params = {"limit": "1", **interval_params(self.interval_start, self.interval_end)}
        page = await self._get_json(session, f"{settings.base_url}/ratings", params)
        found = bool(page.get("result")) or bool(page.get("total"))
        newest = None
        if not found and self.interval_end is not None:
            health = await self._get_json(session, f"{settings.base_url}/health", {})
            newest = health.get("last_rating_timestamp")
        state = window_state(found, self.interval_end, newest if isinstance(newest, int) else None)
        self.log.info("Ratings in [%s, %s): %s", self.interval_start, self.interval_end, state)
        if state == WAITING:
            return None
        return {"status": state} if state == READY else {"status": state, "newest_timestamp": newest}

    async def _get_json(self, session: aiohttp.ClientSession, url: str, params: dict[str, str]) -> dict:
        try:
            async with session.get(url, params=params) as response:
                status, where = response.status, str(response.url)
                text = await response.text()
        except (TimeoutError, aiohttp.ClientError) as err:
            raise MovielensUnavailableError(f"GET {url}: {type(err).__name__}: {err}", url=url) from err
        if status >= 400:
            raise http_error(status, where, self.conn_id, text.strip()[:300])
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            message = f"{where} answered HTTP {status} with a body that is not a JSON object"
            raise MovielensResponseError(message, status_code=status, url=where)
        return body


async def _get_connection(conn_id: str) -> Any:
    """The Airflow connection, without blocking the triggerer's event loop."""
    aget = getattr(MovielensHook, "aget_connection", None)  # Airflow 3
    if aget is not None:
        return await aget(conn_id)
    from asgiref.sync import sync_to_async

    return await sync_to_async(MovielensHook.get_connection)(conn_id)
