"""03_operator: the provider's operator with Jinja-templated dates and path, then the Astro SDK ranking."""

from __future__ import annotations

from airflow_movielens.operators import MovielensFetchRatingsOperator
from include.movielens import settings
from include.movielens.dag_factory import movielens_dag
from include.movielens.pipeline import rank_and_publish

DOC_MD = """
### 03_operator — a custom operator with templated fields

`MovielensFetchRatingsOperator` fetches `{{ data_interval_start | ds }}` .. `{{ data_interval_end | ds }}`
and writes `{{ movielens_data_dir() }}/ratings/{{ dag.dag_id }}/{{ ds }}.json` atomically (see the
*Rendered Template* tab); it returns only `{path, count, start_date, end_date}` through XCom. The Astro SDK
ranking then fills `movie_rankings` (connection `movielens_results`) and `rankings/03_operator/<ds>.csv`.

What it demonstrates: a reusable operator whose inputs are Jinja templates rendered per interval.
"""

with movielens_dag("03_operator", doc_md=DOC_MD, tags=["operator", "jinja"]) as dag:
    fetch_ratings = MovielensFetchRatingsOperator(
        task_id="fetch_ratings",
        conn_id=settings.MOVIELENS_CONN_ID,
        start_date=settings.WINDOW_START_TEMPLATE,
        end_date=settings.WINDOW_END_TEMPLATE,
        output_path=settings.RATINGS_PATH_TEMPLATE,
        batch_size=settings.DEFAULT_BATCH_SIZE,
    )
    rank_and_publish(fetch_ratings.output)
