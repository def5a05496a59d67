"""Trigger of the deferrable :class:`~airflow_movielens.sensors.MovielensRatingsSensor`.

It runs in the triggerer's event loop, so nothing blocks: the connection is read with Airflow 3's
``aget_connection`` (Airflow 2: in a worker thread), and the API is polled with aiohttp.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_movielens.connection import basic_auth
from airflow_movielens.dates import READY, WAITING, WindowProbe, validate_interval
from airflow_movielens.exceptions import MovielensError, MovielensUnavailableError
from airflow_movielens.hooks import MovielensHook
from airflow_movielens.transport import AsyncTransport, result_page

__all__ = ["MovielensRatingsTrigger"]


class MovielensRatingsTrigger(BaseTrigger):
    """Poll the API every ``poke_interval`` seconds until ``[interval_start, interval_end)`` has ratings.

    Fires one event and stops:

    - ``{"status": "ready"}`` once the window holds a rating;
    - ``{"status": "closed", "newest_timestamp": ...}`` once the window is closed and empty;
    - ``{"status": "timeout"}`` when ``deadline`` (epoch seconds) passes first;
    - ``{"status": "error", "error": <MovielensError class name>, "message", "status_code", "url"}`` at once
      when the API rejects the credentials or the request, or breaks its contract.

    Unavailability (connection errors, timeouts, 429, 5xx) is logged and polled through, like the sensor's.

    :param interval_start: first day, ``YYYY-MM-DD`` (or ``None``).
    :param interval_end: day after the last, ``YYYY-MM-DD`` (or ``None``).
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
        names = ("conn_id", "interval_start", "interval_end", "poke_interval", "deadline")
        kwargs = {name: getattr(self, name) for name in names}
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    async def run(self) -> AsyncIterator[TriggerEvent]:
        conn = await _get_connection(self.conn_id)
        settings = MovielensHook.connection_settings(conn, self.conn_id)
        async with AsyncTransport(self.conn_id, settings, basic_auth(conn)) as transport:
            for polls in itertools.count(1):
                try:
                    event = await self._poll(transport, settings.base_url)
                except MovielensUnavailableError as err:
                    self.log.warning("Movie Rating API unavailable, will poll again: %s", err)
                    event = None
                except MovielensError as err:  # rejected credentials or request, broken contract: stop
                    event = {"status": "error", "error": type(err).__name__}
                    event.update((name, getattr(err, name)) for name in ("message", "status_code", "url"))
                if event is not None:
                    yield TriggerEvent({**event, "polls": polls})
                    return
                remaining = None if self.deadline is None else self.deadline - time.time()
                if remaining is not None and remaining <= 0:
                    message = f"no ratings in [{self.interval_start}, {self.interval_end}) before the timeout"
                    yield TriggerEvent({"status": "timeout", "message": message, "polls": polls})
                    return
                await asyncio.sleep(min(self.poke_interval, remaining or self.poke_interval))

    async def _poll(self, transport: AsyncTransport, base_url: str) -> dict[str, Any] | None:
        """One poll, as :meth:`MovielensHook.window_state`: the event to fire, or ``None`` to keep waiting."""
        probe = WindowProbe(self.interval_start, self.interval_end)
        ratings_url, health_url = f"{base_url}/ratings", f"{base_url}/health"
        page = result_page(await transport.get_json(ratings_url, probe.params), ratings_url)
        health = await transport.get_json(health_url) if probe.needs_newest(page) else None
        state, newest = probe.state(page, health, health_url)
        self.log.info("Ratings in [%s, %s): %s", self.interval_start, self.interval_end, state)
        if state == WAITING:
            return None
        return {"status": state} if state == READY else {"status": state, "newest_timestamp": newest}


async def _get_connection(conn_id: str) -> Any:
    """The Airflow connection, without blocking the triggerer's event loop."""
    aget = getattr(MovielensHook, "aget_connection", None)  # Airflow 3
    if aget is not None:
        return await aget(conn_id)
    from asgiref.sync import sync_to_async  # Airflow 2 only (Airflow 3 has aget_connection)

    return await sync_to_async(MovielensHook.get_connection)(conn_id)
