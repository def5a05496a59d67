"""02_hook: fetch through the provider's ``MovielensHook``, then rank with the Astro SDK."""

from __future__ import annotations

from airflow.decorators import task

from airflow_movielens.hooks import MovielensHook
from include.movielens import settings
from include.movielens.dag_factory import movielens_dag
from include.movielens.pipeline import rank_and_publish, save_ratings

DOC_MD = """
### 02_hook — the same fetch through a custom hook

`MovielensHook` (plugins/airflow_movielens) owns the connection handling, paging, timeouts, retries with
backoff and typed errors; the task only asks it for the interval's ratings and writes them to
`ratings/02_hook/<ds>.json`. Ranking as in every DAG: Astro SDK `@aql.dataframe` tasks into
`movie_rankings` (connection `movielens_results`) and `rankings/02_hook/<ds>.csv`.

What it demonstrates: moving connection logic out of the DAG into a reusable hook.
"""

with movielens_dag("02_hook", doc_md=DOC_MD, tags=["hook"]) as dag:

    @task
    def fetch_ratings(start_date: str, end_date: str, output_path: str) -> dict:
        """Fetch ``[start_date, end_date)`` with ``MovielensHook.iter_ratings`` and save it as JSON."""
        with MovielensHook(settings.MOVIELENS_CONN_ID, batch_size=settings.DEFAULT_BATCH_SIZE) as hook:
            return save_ratings(hook.iter_ratings(start_date, end_date), output_path, start_date, end_date)

    rank_and_publish(
        fetch_ratings(
            settings.WINDOW_START_TEMPLATE, settings.WINDOW_END_TEMPLATE, settings.RATINGS_PATH_TEMPLATE
        )
    )
