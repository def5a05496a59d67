"""Operator that saves a data interval's ratings from the Movie Rating API to a file."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from airflow_movielens.checks import check_complete
from airflow_movielens.dates import (
    DEFAULT_END_TEMPLATE,
    DEFAULT_START_TEMPLATE,
    DateLike,
    interval_arguments,
    validate_interval,
)
from airflow_movielens.files import atomic_write_records, record_format
from airflow_movielens.hooks import MovielensHook

try:  # Airflow 3 task SDK first; Airflow 2 path otherwise
    from airflow.sdk import BaseOperator
except ImportError:
    from airflow.models import BaseOperator

__all__ = ["MovielensFetchRatingsOperator"]


class MovielensFetchRatingsOperator(BaseOperator):
    """Fetch the ratings of ``[start_date, end_date)`` and write them to ``output_path`` atomically.

    The format follows the extension of ``output_path``: ``.json`` (a list of records), ``.jsonl``,
    ``.csv`` or ``.parquet``. The number of ratings written is checked against the API's ``total`` for the
    interval; a rerun of the same interval rewrites the same bytes. Returns (as XCom) only
    ``{"path", "count", "start_date", "end_date"}``, never the data.

    ``start_date``/``end_date`` here are the API interval (templated, ``YYYY-MM-DD`` or date/datetime at
    midnight UTC), not the task's scheduling dates; they are stored as ``interval_start``/``interval_end``
    so they do not shadow ``BaseOperator.start_date``/``end_date``.

    :param conn_id: Airflow connection of the Movie Rating API.
    :param start_date: first day, inclusive (templated); defaults to the run's data interval start.
    :param end_date: day after the last, exclusive (templated); defaults to the data interval end.
    :param output_path: file to write (templated); parent folders are created.
    :param batch_size: ratings per request; defaults to the connection's page size.
    """

    template_fields: Sequence[str] = ("interval_start", "interval_end", "output_path")
    ui_color = "#d8e7f5"

    def __init__(
        self,
        *,
        conn_id: str = MovielensHook.default_conn_name,
        start_date: DateLike | None = DEFAULT_START_TEMPLATE,
        end_date: DateLike | None = DEFAULT_END_TEMPLATE,
        output_path: str | os.PathLike[str],
        batch_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        start_date, end_date = interval_arguments(start_date, end_date, kwargs.get("default_args"))
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.interval_start = start_date
        self.interval_end = end_date
        self.output_path = os.fspath(output_path)
        self.batch_size = batch_size

    def execute(self, context: Any) -> dict[str, Any]:
        start, end = validate_interval(self.interval_start, self.interval_end)
        record_format(self.output_path)  # fail on an unknown extension before fetching anything
        with MovielensHook(self.conn_id, batch_size=self.batch_size) as hook:
            ratings = hook.get_ratings(start, end)
            check_complete(hook, start, end, len(ratings), consequence="nothing was written")
        count = atomic_write_records(self.output_path, ratings)
        self.log.info("Wrote %d ratings of [%s, %s) to %s", count, start, end, self.output_path)
        return {"path": self.output_path, "count": count, "start_date": start, "end_date": end}
