"""The ranking half of every DAG: aggregate the windows in the database, rank them, store them, export them.

The tasks are written once over :mod:`include.movielens.compat` (the Astro SDK on Airflow 2, TaskFlow over
common-sql on Airflow 3); the DAGs differ only in how they load an interval's ratings into ``ratings``
(the provider's loader, :mod:`airflow_movielens.ratings_table`). Only small values travel through XCom and
nothing through a worker's disk, so every task may run on a different worker. :func:`rank_and_publish`
ranks, for the run's interval end D, the windows of the last 1, 7, 30 and 365 days before D by ``count``,
``bayes`` and ``trending``::

    load ──> fill_history ──> plan_windows ──> window_weights ──> aggregate_windows ──> rank_movies ─┐
                                   │                                          │                   ├─> export
                                   └──────────────────────────────────────────┴───────────────────┴─> publish
    (export = export_ranking_csv, publish = publish_ranking ──> check_served; all ──> cleanup_temp_tables)

Windows whose days are not all loaded are left "not computed", never ranked from partial data; the
aggregates, rankings and weights live in temporary tables, which a teardown drops whatever happened.
Whichever daily DAG publishes a day last replaces that day's lists whole; ``ranking_windows`` and
``popular_movies`` record which DAG run (``dag_id``, ``run_id``) computed each list.

No ``from __future__ import annotations`` here: both paths recognise the parameters to load as DataFrames by
their *runtime* annotation ``pd.DataFrame``.
"""

import functools
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd

from airflow_movielens.dates import DAY_SECONDS, epoch_day
from airflow_movielens.hooks import MovielensHook
from airflow_movielens.ratings_table import replace_interval
from airflow_movielens.records import atomic_open
from include.movielens import settings
from include.movielens.compat import (
    RANKINGS_ASSET,
    AirflowFailException,
    AirflowSkipException,
    ObjectStoragePath,
    TaskGroup,
    cleanup,
    dataframe,
    get_current_context,
    read_table,
    table,
    task,
    temp_table,
    transform,
)
from include.movielens.dag_factory import api_paging
from include.movielens.dag_factory import ranking_params as param_specs
from include.movielens.database import ResultsDb
from include.movielens.ranking import (
    AGGREGATE_SQL,
    WINDOW_RANKING_COLUMNS,
    canonical_names,
    rank_genres,
    rank_windows,
    weight_table,
    with_titles,
)
from include.movielens.results import loaded_days, replace_windows
from include.movielens.served import publish_day, read_served
from include.movielens.windows import WINDOW_DAYS, missing_ranges, plan_windows

log = logging.getLogger(__name__)


class ServedListMissingError(AirflowFailException):
    """After a run's publish, ``popular_movies`` holds no list for the run's day (fails without retries)."""


def load_interval(
    start_date: str,
    end_date: str,
    records: Iterable[Mapping[str, Any]],
    *,
    before_commit: Callable[[int], None] | None = None,
) -> dict:
    """Replace ``[start_date, end_date)`` of the results connection's ``ratings`` table by ``records``
    (the load step of 01/02; the operator of 03/04 calls the same provider loader). Returns its XCom dict."""
    hook = ResultsDb.connect(settings.RESULTS_CONN_ID).hook
    where = {"table": settings.RATINGS_TABLE, "schema": settings.results_schema()}
    return replace_interval(hook, start_date, end_date, records, **where, before_commit=before_commit)


@task(task_id="fill_history")
def fill_history(window_end_ts: str, movielens_conn_id: str, conn_id: str) -> dict:
    """Load the days of the run's widest window, before its own day, that are not loaded yet.

    A fresh deployment's first run thereby ranks every window at once, and a run of a catch-up never waits
    for the runs of the days before it. Once the days are loaded this is one ``loaded_days`` query.
    """
    end_ts = int(window_end_ts)
    own_day, first = end_ts - DAY_SECONDS, end_ts - max(WINDOW_DAYS) * DAY_SECONDS
    gaps = missing_ranges(loaded_days(conn_id, first, own_day), first, own_day)
    loaded = []
    with MovielensHook(movielens_conn_id, batch_size=settings.DEFAULT_BATCH_SIZE) as hook:
        for start_ts, end_ts_ in gaps:
            start, end = (epoch_day(ts).isoformat() for ts in (start_ts, end_ts_))
            check = functools.partial(hook.check_complete, start, end)
            done = load_interval(start, end, hook.iter_ratings(start, end), before_commit=check)
            loaded.append({key: done[key] for key in ("start_date", "end_date", "count")})
    log.info("Days before %s not loaded yet, now loaded: %s", own_day, loaded or "none")
    return {"loaded": loaded, "ratings": sum(item["count"] for item in loaded)}


@task(task_id="plan_windows")
def plan_ranking_windows(window_end_ts: str, conn_id: str) -> dict:
    """Which of the windows ending at the run's interval end have all their days loaded."""
    end_ts = int(window_end_ts)
    plan = plan_windows(end_ts, loaded_days(conn_id, end_ts - max(WINDOW_DAYS) * DAY_SECONDS, end_ts))
    if plan["missing"]:
        log.warning("Windows ending %s with days not loaded (left not computed): %s", epoch_day(end_ts),
                    plan["missing"])  # fmt: skip
    return plan


@dataframe(task_id="window_weights")
def window_weights(plan: dict) -> pd.DataFrame:
    """The complete windows' (window_days, age_days, weight) rows that the SQL aggregate joins."""
    if not plan["complete"]:
        raise AirflowSkipException(f"no window ending at {plan['window_end_ts']} has all its days loaded")
    return weight_table(plan["complete"], ranking_params()["half_life_days"])


@transform(task_id="aggregate_windows")
def aggregate_windows(ratings: Any, weights: Any, window_end_ts: str):
    """Per window and movie: number, sum and decayed count of the ratings (see ``ranking.AGGREGATE_SQL``)."""
    return AGGREGATE_SQL


@dataframe(task_id="rank_movies")
def rank_movies(stats: pd.DataFrame, plan: dict, movielens_conn_id: str) -> pd.DataFrame:
    """Rank every complete window by every method from the per-movie aggregates; attach titles."""
    ranked = rank_windows(stats, None, **_knobs(plan))
    movie_ids = sorted({int(movie) for movie in ranked["movieId"]})
    log.info("Windows %s: %d (window, movie) aggregates, %d movies ranked", plan["complete"], len(stats),
             len(movie_ids))  # fmt: skip
    if not movie_ids:
        raise AirflowSkipException(f"nothing to rank in the windows {plan['complete']}")
    with MovielensHook(movielens_conn_id) as hook:
        movies = hook.get_movies(movie_ids=movie_ids)
    return with_titles(ranked, movies)[WINDOW_RANKING_COLUMNS]


def ranking_params() -> dict:
    """The run's ranking params, typed, with the defaults of :func:`dag_factory.ranking_params`."""
    given, cast = get_current_context()["params"], {"integer": int, "number": float}
    return {name: cast[p.schema["type"]](given.get(name, p.value)) for name, p in param_specs().items()}


def _knobs(plan: dict) -> dict:
    """The ranking's arguments for the plan's windows, with the run's params."""
    params = ranking_params()
    knobs = {name: params[name] for name in ("min_ratings", "prior_weight", "top_n")}
    return {"end_ts": int(plan["window_end_ts"]), "window_days": plan["complete"], **knobs}


@dataframe(task_id="export_ranking_csv", trigger_rule="none_failed")
def export_ranking_csv(ranking: pd.DataFrame, dag_id: str, day: str) -> dict:
    """Write the window's ranking as CSV, whole or not at all (header only if ``rank_movies`` skipped)."""
    if ranking is None:
        ranking = pd.DataFrame(columns=WINDOW_RANKING_COLUMNS)
    ranking = ranking.rename(columns=canonical_names(ranking.columns))[WINDOW_RANKING_COLUMNS]
    ranking = ranking.sort_values(["window_days", "method", "rank"], kind="mergesort").reset_index(drop=True)
    base = ObjectStoragePath(settings.data_location(), conn_id=settings.data_conn_id())
    target = base / settings.ranking_csv_key(dag_id, day)
    with atomic_open(target, "w", encoding="utf-8", newline="") as handle:
        ranking.to_csv(handle, index=False, lineterminator="\n")
    log.info("Wrote %d ranked movies to %s", len(ranking), target)
    return {"path": str(target), "count": len(ranking)}


@task(task_id="publish_ranking", trigger_rule="none_failed", outlets=[RANKINGS_ASSET])
def publish_ranking(ranking: Any, stats: Any, plan: dict, movielens_conn_id: str, conn_id: str) -> dict:
    """Store the complete windows' rankings and their lists per genre (:func:`replace_windows`) and, in the
    same transaction, the day's served list (:func:`include.movielens.served.publish_day`)."""
    genres = None  # ranked here, not in a task: the SDK cannot store thousands of DataFrame rows in SQLite
    if stats is not None and plan["complete"]:
        frame = read_table(stats)
        with MovielensHook(movielens_conn_id) as hook:
            movies = hook.get_movies()  # the catalogue: every movie's genres
        genres = rank_genres(frame, movies, **_knobs(plan))
    run = get_current_context()["dag_run"]
    by = {"dag_id": run.dag_id, "run_id": run.run_id, "params": json.dumps(ranking_params(), sort_keys=True)}
    return replace_windows(ranking, stats, plan, conn_id, genres=genres, also=publish_day, produced_by=by)


@task(task_id="check_served")
def check_served(window_end_ts: str, conn_id: str) -> dict:
    """Fail, without retries, when ``popular_movies`` holds no list for the run's day (its interval end)."""
    day = epoch_day(int(window_end_ts))
    served = read_served(day, conn_id)
    if served.empty:
        raise ServedListMissingError(
            f"popular_movies holds no list for {day} after this run's publish: nothing to serve that day "
            "(see publish_ranking's log: which windows were computed, which were empty)"
        )
    first = served.iloc[0]
    log.info("Served on %s: %s/%s, %d movies", day, first["method"], first["window_days"], len(served))
    return {"window_end": day.isoformat(), "movies": len(served)}


def rank_and_publish(loaded: Any) -> TaskGroup:
    """Wire the shared ranking tasks downstream of ``loaded`` (the load task or its output) and return their
    task group, so that more tasks can be wired after it."""
    end_ts = settings.WINDOW_END_TS_TEMPLATE
    api, results = settings.MOVIELENS_CONN_ID, settings.RESULTS_CONN_ID
    # pages up to the widest window of the API's ratings: the API's pool, a timeout for that many days
    filled = fill_history.override(**api_paging(max(WINDOW_DAYS)))(end_ts, api, results)
    with TaskGroup("rank_and_publish", prefix_group_id=False) as group:
        plan = plan_ranking_windows(end_ts, results)
        weights = window_weights(plan, output_table=temp_table(results))
        # the ``ratings`` table the load steps fill (SQLite ignores the schema)
        ratings = table(settings.RATINGS_TABLE, results, settings.results_schema())
        stats = aggregate_windows(ratings, weights, end_ts, output_table=temp_table(results))
        ranking = rank_movies(stats, plan, api, output_table=temp_table(results))
        exported = export_ranking_csv(ranking, settings.DAG_ID_TEMPLATE, settings.RANKING_DAY_TEMPLATE)
        published = publish_ranking(ranking, stats, plan, api, results)
        # A teardown: runs whatever happened upstream (all_done) but, unlike a plain all_done leaf, does not
        # decide the run's state, so a failed load still fails the DAG run.
        dropped = cleanup(
            [weights, stats, ranking], task_id="cleanup_temp_tables", retries=settings.task_retries()
        ).as_teardown()
        [exported, published] >> dropped
        published >> check_served(end_ts, results)
    loaded >> filled >> group
    return group
