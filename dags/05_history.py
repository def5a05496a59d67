"""05_history: load a long range of ratings in one go (no daily runs), marking every day of it loaded."""

from __future__ import annotations

from airflow_movielens.hooks import MovielensHook
from include.movielens import settings
from include.movielens.compat import Param, task
from include.movielens.dag_factory import load_ratings_task, on_demand_dag

DOC_MD = """
### 05_history — a long range of ratings in one run

Triggered by hand (`airflow dags trigger 05_history -c '{"history_start": "1995-01-01", "history_end":
"2019-01-01"}'`). `check_range` fails the run before any write when the range is not days in order, holds no
rating, or ends after the day after the API's newest rating. Then the transfer operator of 03 streams the
ratings into the table `ratings` of `movielens_results` in bounded memory, replacing `[history_start,
history_end)` and marking each of its days in `loaded_days` in ONE transaction. Afterwards the daily DAGs
find their 7-, 30- and 365-day windows complete and rank them.

What it demonstrates: a backfill without thousands of daily runs, through the same loader as 03/04.
"""

with on_demand_dag(
    "05_history",
    description="Load a long range of MovieLens ratings into the results database in one run.",
    doc_md=DOC_MD,
    schedule=None,
    params={
        "history_start": Param(
            "1995-01-01", type="string", format="date", description="First day to load (YYYY-MM-DD)."
        ),
        "history_end": Param(
            settings.DEFAULT_START_DATE.isoformat(),
            type="string",
            format="date",
            description="Day after the last one to load (YYYY-MM-DD), e.g. the daily DAGs' first day.",
        ),
    },
    tags=["history", "operator"],
) as dag:

    @task
    def check_range(params: dict | None = None) -> dict:
        """The range is days, in order, inside the dataset (include/movielens/history.py): else fail here."""
        from include.movielens.history import check_history_range

        with MovielensHook(settings.MOVIELENS_CONN_ID) as hook:
            return check_history_range(hook, params["history_start"], params["history_end"])

    check_range() >> load_ratings_task(
        "load_history",
        interval_start="{{ params.history_start }}",
        interval_end="{{ params.history_end }}",
        batch_size=10_000,  # ratings per request: the API's default API_MAX_LIMIT
        days=settings.MOVIELENS_SPAN_DAYS,  # a range holds at most what a MovieLens release spans
    )
