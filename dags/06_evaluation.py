"""06_evaluation: backtest the popular lists when ``movie_rankings`` changes, into ``ranking_evaluation``."""

from __future__ import annotations

from include.movielens import settings
from include.movielens.backtest import DEFAULT_HORIZON_DAYS, DEFAULT_K
from include.movielens.compat import RANKINGS_ASSET, AirflowSkipException, Param, task
from include.movielens.dag_factory import on_demand_dag

DOC_MD = """
### 06_evaluation — which popular list to serve

Scheduled on the `movie_rankings` Dataset (every publish of a daily DAG). It runs the backtest of
`make evaluate` (include/movielens/backtest.py) over the ratings in `movielens_results` for the latest month
start whose horizon lies inside the loaded data, and stores HR@K, nDCG@K and coverage per (method, window) in
`ranking_evaluation`. A cutoff already stored is skipped, so new rows appear at most once a month. Params:
`horizon_days`, `k`, and `cutoffs` (explicit days, for a re-evaluation).
Then `choose_list` decides, from every stored evaluation, which list to serve from which day (best mean
nDCG@10 over the three latest cutoffs known by that day, switching only for a 5 % better list; the rule is
include/movielens/choice.py) into `ranking_choice`, and republishes `popular_movies` where a decision changed.

What it demonstrates: a Dataset-triggered downstream DAG that tells the recommender team which list works.
"""

with on_demand_dag(
    "06_evaluation",
    description="Backtest the popular lists over the loaded ratings (HR@K, nDCG@K per method and window).",
    doc_md=DOC_MD,
    schedule=[RANKINGS_ASSET],
    params={
        "horizon_days": Param(DEFAULT_HORIZON_DAYS, type="integer", minimum=1, description="Test horizon H."),
        "k": Param(DEFAULT_K, type="integer", minimum=1, description="List length K."),
        "cutoffs": Param(
            [],
            type="array",
            items={"type": "string", "format": "date"},
            description="Cutoff days (YYYY-MM-DD); empty: the latest month.",
        ),
    },
    tags=["evaluation", "dataset"],
) as dag:

    @task
    def evaluate_rankings(params: dict | None = None) -> dict:
        """Backtest the pending cutoffs and store them in ``ranking_evaluation``."""
        from include.movielens.evaluation import run_evaluation

        # checked by run_evaluation before anything is read or written (a bad value fails the task)
        summary = run_evaluation(
            requested=params["cutoffs"], horizon_days=params["horizon_days"], k=params["k"]
        )
        if not summary["cutoffs"]:
            raise AirflowSkipException(f"nothing to evaluate: {summary['reason']}")
        return summary

    @task(trigger_rule="none_failed")
    def choose_list() -> dict:
        """Decide which list to serve from every stored evaluation (include/movielens/choice.py), store the
        decisions in ``ranking_choice`` and republish ``popular_movies`` where a decision changed."""
        from include.movielens.choice import decide
        from include.movielens.evaluation import read_evaluation
        from include.movielens.served import store_decisions

        return store_decisions(decide(read_evaluation(settings.RESULTS_CONN_ID)), settings.RESULTS_CONN_ID)

    evaluate_rankings() >> choose_list()
