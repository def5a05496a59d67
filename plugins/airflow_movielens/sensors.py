"""Sensor that waits until the Movie Rating API has ratings for an interval."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Sequence
from typing import Any

from airflow.configuration import conf

from airflow_movielens import exceptions
from airflow_movielens.dates import (
    CLOSED,
    DEFAULT_END_TEMPLATE,
    DEFAULT_START_TEMPLATE,
    READY,
    DateLike,
    task_window,
)
from airflow_movielens.hooks import MovielensHook
from airflow_movielens.triggers import MovielensRatingsTrigger
from airflow_movielens.version_compat import BaseSensorOperator

__all__ = ["ON_EMPTY_CHOICES", "MovielensRatingsSensor", "check_on_empty", "settle_closed_empty"]

#: What the sensor does with a closed, empty window: let the run go on (to an empty ranking), skip, or fail.
ON_EMPTY_CHOICES = ("succeed", "skip", "fail")


def check_on_empty(on_empty: str) -> str:
    """``on_empty`` if it is one of :data:`ON_EMPTY_CHOICES`, else an argument error showing the value."""
    if on_empty not in ON_EMPTY_CHOICES:
        raise exceptions.MovielensArgumentError(
            f"on_empty must be one of {', '.join(ON_EMPTY_CHOICES)}, got {on_empty!r}"
        )
    return on_empty


class MovielensRatingsSensor(BaseSensorOperator):
    """Succeed once ``[interval_start, interval_end)`` holds at least one rating (one ``limit=1`` request
    per poke), or apply ``on_empty`` once the window is closed and empty.

    Works in ``poke`` and ``reschedule`` mode. A bad interval, rejected credentials or a rejected request fail
    the task at once; an unreachable API (after the hook's retries) just means "not yet".

    :param interval_start: first day, inclusive (templated); defaults to the run's data interval start.
    :param interval_end: day after the last, exclusive (templated); defaults to the data interval end.
    :param on_empty: what to do when the window is closed (it ends at or before the API's newest rating) and
        empty, so waiting cannot help: ``"succeed"`` (the run goes on with no ratings), ``"skip"`` or
        ``"fail"``. An open window (today, the future) is waited for.
    :param deferrable: after one synchronous check, wait in the triggerer instead of a worker slot
        (:class:`~airflow_movielens.triggers.MovielensRatingsTrigger`, honouring ``poke_interval`` and
        ``timeout``).
    """

    template_fields: Sequence[str] = ("interval_start", "interval_end")
    ui_color = "#e6f0d8"

    def __init__(
        self,
        *,
        conn_id: str = MovielensHook.default_conn_name,
        interval_start: DateLike | None = DEFAULT_START_TEMPLATE,
        interval_end: DateLike | None = DEFAULT_END_TEMPLATE,
        on_empty: str = "succeed",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.interval_start = interval_start
        self.interval_end = interval_end
        self.on_empty = check_on_empty(on_empty)
        self.deferrable = deferrable

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        if self.poke(context):  # one cheap check first: no deferral when the data is already there
            return None
        start, end = task_window(self.interval_start, self.interval_end)
        trigger = MovielensRatingsTrigger(
            self.conn_id, start, end, self.poke_interval, deadline=time.time() + self.timeout
        )
        # The trigger times itself out at the deadline; Airflow's deferral timeout is only a backstop.
        backstop = dt.timedelta(seconds=self.timeout + max(60.0, 2 * self.poke_interval))
        self.defer(trigger=trigger, method_name="execute_complete", timeout=backstop)
        return None

    def execute_complete(self, context: Any, event: dict[str, Any]) -> None:
        """Resume after the trigger fired: succeed, apply ``on_empty``, time out, or raise its typed error."""
        status = event.get("status")
        start, end = task_window(self.interval_start, self.interval_end)
        self.log.info("Trigger fired after %s poll(s): %s", event.get("polls"), status)
        if status == READY:
            return
        if status == CLOSED:
            settle_closed_empty(self.on_empty, start, end, event["newest_timestamp"], self.log)
            return
        if status == "timeout":
            raise exceptions.AirflowSensorTimeout(f"Sensor has timed out: {event.get('message')}")
        error = getattr(exceptions, str(event.get("error")), None)
        if not (isinstance(error, type) and issubclass(error, exceptions.MovielensError)):
            error = exceptions.MovielensError
        raise error(
            event.get("message") or f"unexpected trigger event {event!r}",
            status_code=event.get("status_code"),
            url=event.get("url"),
        )

    def poke(self, context: Any) -> bool:
        start, end = task_window(self.interval_start, self.interval_end)
        with MovielensHook(self.conn_id) as hook:
            try:
                state, newest = hook.window_state(start, end)
            except exceptions.MovielensUnavailableError as err:
                self.log.warning("Movie Rating API unavailable, will poke again: %s", err)
                return False
        if state == CLOSED:
            return settle_closed_empty(self.on_empty, start, end, newest, self.log)
        self.log.info("Ratings in [%s, %s): %s", start, end, "yes" if state == READY else "not yet")
        return state == READY


def settle_closed_empty(
    on_empty: str, start: str | None, end: str | None, newest_timestamp: int, log: logging.Logger
) -> bool:
    """Apply ``on_empty`` to a closed, empty window: return True (``succeed``), skip or fail the task."""
    newest = dt.datetime.fromtimestamp(newest_timestamp, dt.UTC).isoformat()
    message = (
        f"[{start}, {end}) has no ratings and is closed: the API's newest rating ({newest}) is past its end"
    )
    if check_on_empty(on_empty) == "succeed":
        log.info("%s; going on with no ratings (on_empty='succeed')", message)
        return True
    if on_empty == "skip":
        raise exceptions.AirflowSkipException(f"{message} (on_empty='skip')")
    raise exceptions.AirflowFailException(f"{message} (on_empty='fail')")
