"""01_python: load with plain ``requests`` in a TaskFlow task, then rank with the Astro SDK."""

from __future__ import annotations

from include.movielens import client, settings
from include.movielens.compat import task
from include.movielens.dag_factory import api_paging, movielens_dag
from include.movielens.pipeline import load_interval, rank_and_publish

DOC_MD = """
### 01_python — the starting point: a Python task and `requests`

Pages each day's ratings from the Movie Rating API with a small hand-written `requests` client
(`include/movielens/client.py`: limit/offset paging by hand, details from the Airflow connection `movielens`)
and replaces that day of the table `ratings` of `movielens_results` in one transaction. The ranking half is
every DAG's (`include/movielens/pipeline.py`): the 1/7/30/365-day windows before the day ranked by count,
bayes and trending into `movie_rankings` and `genre_rankings`, the day's list published in `popular_movies`,
and `rankings/01_python/<ds>.csv`; through the Astro SDK on Airflow 2, TaskFlow and common-sql on 3.

What it demonstrates: the plain-Python baseline the next DAGs improve on (no retries on HTTP errors, no typed
errors). Params: `min_ratings`, `prior_weight`, `top_n`, `half_life_days`.
"""

with movielens_dag("01_python", doc_md=DOC_MD, tags=["python-operator"]) as dag:

    @task(**api_paging(days=1))
    def load_ratings(start_date: str, end_date: str) -> dict:
        """Page ``[start_date, end_date)`` by hand and replace that interval of the ``ratings`` table."""
        records = client.iter_ratings(
            settings.MOVIELENS_CONN_ID, start_date, end_date, batch_size=settings.DEFAULT_BATCH_SIZE
        )
        return load_interval(start_date, end_date, records)

    rank_and_publish(load_ratings(settings.WINDOW_START_TEMPLATE, settings.WINDOW_END_TEMPLATE))
