"""01_python: fetch with plain ``requests`` in a TaskFlow task, then rank with the Astro SDK."""

from __future__ import annotations

from airflow.decorators import task

from include.movielens import client, settings
from include.movielens.dag_factory import movielens_dag
from include.movielens.pipeline import rank_and_publish, save_ratings

DOC_MD = """
### 01_python — the starting point: a Python task and `requests`

Fetches each day's ratings from the Movie Rating API with a small hand-written `requests` client
(`include/movielens/client.py`: limit/offset paging by hand, details from the Airflow connection
`movielens`), writes them to `ratings/01_python/<ds>.json` under `MOVIELENS_DATA_DIR`, then ranks the
movies with Astro SDK `@aql.dataframe` tasks into the `movie_rankings` table of `movielens_results`
and `rankings/01_python/<ds>.csv`.

What it demonstrates: the plain-Python baseline the next DAGs improve on (no retries on HTTP errors,
no typed errors). Params: `min_ratings`, `prior_weight`, `top_n`.
"""

with movielens_dag("01_python", doc_md=DOC_MD, tags=["python-operator"]) as dag:

    @task
    def fetch_ratings(start_date: str, end_date: str, output_path: str) -> dict:
        """Fetch ``[start_date, end_date)`` by hand-paging ``/ratings`` and save it as JSON."""
        records = client.fetch_ratings(
            settings.MOVIELENS_CONN_ID, start_date, end_date, batch_size=settings.DEFAULT_BATCH_SIZE
        )
        return save_ratings(records, output_path, start_date, end_date)

    rank_and_publish(
        fetch_ratings(
            settings.WINDOW_START_TEMPLATE, settings.WINDOW_END_TEMPLATE, settings.RATINGS_PATH_TEMPLATE
        )
    )
