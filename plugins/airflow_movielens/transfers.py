"""Transfer operator: a data interval's ratings from the Movie Rating API into a SQL table."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from airflow_movielens.dates import DEFAULT_END_TEMPLATE, DEFAULT_START_TEMPLATE, DateLike, task_window
from airflow_movielens.exceptions import MovielensArgumentError
from airflow_movielens.hooks import MovielensHook
from airflow_movielens.ratings_table import RATINGS_TABLE, quoted_name, replace_interval
from airflow_movielens.version_compat import BaseHook, BaseOperator

__all__ = ["MovielensRatingsToSqlOperator"]


class MovielensRatingsToSqlOperator(BaseOperator):
    """Load the ratings of ``[interval_start, interval_end)`` into ``table`` of any common-sql connection.

    The interval's rows are replaced in one transaction (``ratings_table.replace_interval``): a rerun never
    duplicates rows, and a count that does not match the API's ``total`` leaves the table unchanged. Returns
    (as XCom) only ``{"table", "start_date", "end_date", "count", "deleted"}``.

    :param conn_id: Airflow connection of the Movie Rating API.
    :param sql_conn_id: Airflow connection of the target database.
    :param interval_start: first day, inclusive (templated); defaults to the run's data interval start.
    :param interval_end: day after the last, exclusive (templated); defaults to the data interval end.
    :param table: target table (templated), created with an index on ``timestamp`` if missing.
    :param schema: schema of ``table`` on databases that have schemas (templated; SQLite ignores it).
    :param batch_size: ratings per API request; defaults to the connection's page size.
    """

    template_fields: Sequence[str] = ("interval_start", "interval_end", "table", "schema")
    ui_color = "#d5ecd4"

    def __init__(
        self,
        *,
        conn_id: str = MovielensHook.default_conn_name,
        sql_conn_id: str,
        interval_start: DateLike = DEFAULT_START_TEMPLATE,
        interval_end: DateLike = DEFAULT_END_TEMPLATE,
        table: str = RATINGS_TABLE,
        schema: str | None = None,
        batch_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.sql_conn_id = sql_conn_id
        self.interval_start = interval_start
        self.interval_end = interval_end
        self.table = table
        self.schema = schema
        self.batch_size = batch_size

    def execute(self, context: Any) -> dict[str, Any]:
        quoted_name(self.table, self.schema)  # rendered templates: checked before any connection or SQL
        start, end = task_window(self.interval_start, self.interval_end)
        if start is None or end is None:
            raise MovielensArgumentError(
                f"{self.task_id}: interval_start and interval_end are both required, got "
                f"{self.interval_start!r} and {self.interval_end!r}"
            )
        # on use: only this operator needs common-sql (the distribution's "sql" extra)
        from airflow.providers.common.sql.hooks.sql import DbApiHook

        db_hook = BaseHook.get_connection(self.sql_conn_id).get_hook()
        if not isinstance(db_hook, DbApiHook):
            raise MovielensArgumentError(
                f"connection '{self.sql_conn_id}' gives a {type(db_hook).__name__}, "
                "not a SQL (common-sql DbApiHook) hook"
            )
        with MovielensHook(self.conn_id, batch_size=self.batch_size) as hook:
            check = functools.partial(
                hook.check_complete, start, end, consequence="the table was left unchanged", log=self.log
            )
            ratings = hook.iter_ratings(start, end)
            return replace_interval(
                db_hook, start, end, ratings, table=self.table, schema=self.schema, before_commit=check
            )
