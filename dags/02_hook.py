"""02_hook: load through the provider's ``MovielensHook``, then rank with the Astro SDK."""

from __future__ import annotations

from airflow_movielens.hooks import MovielensHook
from include.movielens import settings
from include.movielens.compat import task
from include.movielens.dag_factory import api_paging, movielens_dag
from include.movielens.pipeline import load_interval, rank_and_publish

DOC_MD = """
### 02_hook — the same load through a custom hook

`MovielensHook` (plugins/airflow_movielens) owns the connection handling, paging, timeouts, retries with
backoff and typed errors; the task streams the interval's pages into the table `ratings` of
`movielens_results` (one transaction per interval), checked against the API's `total`. Ranking as in 01.

What it demonstrates: moving connection logic out of the DAG into a reusable hook.
"""

with movielens_dag("02_hook", doc_md=DOC_MD, tags=["hook"]) as dag:

    @task(**api_paging(days=1))
    def load_ratings(start_date: str, end_date: str) -> dict:
        """Stream ``[start_date, end_date)`` from ``MovielensHook.iter_ratings`` into ``ratings``."""
        with MovielensHook(settings.MOVIELENS_CONN_ID, batch_size=settings.DEFAULT_BATCH_SIZE) as hook:
            return load_interval(
                start_date,
                end_date,
                hook.iter_ratings(start_date, end_date),
                before_commit=lambda count: hook.check_complete(start_date, end_date, count),
            )

    rank_and_publish(load_ratings(settings.WINDOW_START_TEMPLATE, settings.WINDOW_END_TEMPLATE))
