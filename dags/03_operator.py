"""03_operator: the provider's Airflow transfer operator with templated dates, then the Astro SDK ranking."""

from __future__ import annotations

from include.movielens.dag_factory import load_ratings_task, movielens_dag
from include.movielens.pipeline import rank_and_publish

DOC_MD = """
### 03_operator — a custom transfer operator with templated fields

`MovielensRatingsToSqlOperator` loads `{{ data_interval_start | ds }}` .. `{{ data_interval_end | ds }}`
(see the *Rendered Template* tab) into the table `ratings` of `movielens_results`: paged through the hook,
streamed in bounded memory (`COPY` on PostgreSQL), checked against the API's `total`, the interval replaced
in one transaction. It returns only `{table, start_date, end_date, count, deleted}` through XCom. Ranking
as in 01.

What it demonstrates: a reusable operator whose inputs are Jinja templates rendered per interval.
"""

with movielens_dag("03_operator", doc_md=DOC_MD, tags=["operator", "jinja"]) as dag:
    rank_and_publish(load_ratings_task())
