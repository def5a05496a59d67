"""Operator that saves a data interval's ratings from the Movie Rating API to a file."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from airflow_movielens.dates import DEFAULT_END_TEMPLATE, DEFAULT_START_TEMPLATE, DateLike, task_window
from airflow_movielens.hooks import MovielensHook
from airflow_movielens.records import atomic_write_records, record_format
from airflow_movielens.version_compat import BaseOperator

__all__ = ["MovielensFetchRatingsOperator"]


class MovielensFetchRatingsOperator(BaseOperator):
    """Fetch the ratings of ``[interval_start, interval_end)`` and write them to ``output_path`` atomically.

    The format follows the extension: ``.json``, ``.jsonl``, ``.csv`` or ``.parquet``. The count is checked
    against the API's ``total``; a rerun rewrites the same bytes; an empty window gives an empty, valid file.
    Returns (as XCom) only ``{"path", "count", "start_date", "end_date"}``, never the data.

    :param interval_start: first day, inclusive (templated; ``YYYY-MM-DD`` or a date/datetime at midnight
        UTC); defaults to the run's data interval start.
    :param interval_end: day after the last, exclusive (templated); defaults to the data interval end.
    :param output_path: file to write (templated); parent folders are created.
    :param batch_size: ratings per request; defaults to the connection's page size.
    """

    template_fields: Sequence[str] = ("interval_start", "interval_end", "output_path")
    ui_color = "#d8e7f5"

    def __init__(
        self,
        *,
        conn_id: str = MovielensHook.default_conn_name,
        interval_start: DateLike | None = DEFAULT_START_TEMPLATE,
        interval_end: DateLike | None = DEFAULT_END_TEMPLATE,
        output_path: str | os.PathLike[str],
        batch_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.interval_start = interval_start
        self.interval_end = interval_end
        self.output_path = os.fspath(output_path)
        self.batch_size = batch_size

    def execute(self, context: Any) -> dict[str, Any]:
        start, end = task_window(self.interval_start, self.interval_end)
        record_format(self.output_path)  # fail on an unknown extension before fetching anything
        with MovielensHook(self.conn_id, batch_size=self.batch_size) as hook:
            ratings = hook.get_ratings(start, end)
            hook.check_complete(start, end, len(ratings), consequence="nothing was written", log=self.log)
        count = atomic_write_records(self.output_path, ratings)
        self.log.info("Wrote %d ratings of [%s, %s) to %s", count, start, end, self.output_path)
        return {"path": self.output_path, "count": count, "start_date": start, "end_date": end}
