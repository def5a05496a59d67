"""The Astro SDK half of every DAG: aggregate a window in the database, rank it, store it, export it.

All four DAGs differ only in how they load an interval's ratings into the table ``ratings`` of the results
connection ``movielens_results`` (the provider's loader, :mod:`airflow_movielens.ratings_table`: one
transaction per interval, reruns never duplicate). Only small values travel through XCom, and nothing
through a worker's local disk, so every task of a run may run on a different worker.
:func:`rank_and_publish` returns the task group ``rank_and_publish``::

    load ──> aggregate_window ──> rank_movies ──┬──> export_ranking_csv ──┬──> cleanup_temp_tables
                                                └──> publish_ranking ─────┘

* ``aggregate_window`` (``@aql.transform``) is SQL that runs in the database (SQLite, PostgreSQL, or a
  warehouse): per movie, the number and the sum of the window's ratings. Its result, at most one row per
  movie, is a temporary table of ``movielens_results``.
* ``rank_movies`` (``@aql.dataframe``) scores that small aggregate with
  :func:`include.movielens.ranking.score_aggregates` (Bayesian score; params ``min_ratings``,
  ``prior_weight``, ``top_n``), looks the titles up through ``MovielensHook.get_movies`` and returns a
  DataFrame that the SDK stores in another temporary table. A window without any ranked movie is *skipped*
  (the SDK cannot store an empty DataFrame).
* ``publish_ranking`` replaces the window's rows of ``movie_rankings`` in ONE transaction
  (:func:`include.movielens.results.replace_window`); readers never see a half-replaced window.
* ``export_ranking_csv`` (``@aql.dataframe``) writes the ranking as an end-of-run artifact,
  ``rankings/<dag_id>/<ds>.csv`` under ``MOVIELENS_DATA_DIR``, through Airflow's ``ObjectStoragePath`` (a
  local folder, ``file://`` or ``s3://...``): written to a temporary name, then renamed.
* ``cleanup_temp_tables`` (``aql.cleanup``, an Airflow teardown task) drops both temporary tables whatever
  happened upstream, without masking a failure in the DAG run's state.

This module deliberately does not use ``from __future__ import annotations``: the SDK recognises the
parameters to load as DataFrames by their *runtime* annotation ``pd.DataFrame``.
"""

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd
from airflow.decorators import task
from airflow.exceptions import AirflowSkipException
from airflow.io.path import ObjectStoragePath
from airflow.operators.python import get_current_context
from airflow.utils.task_group import TaskGroup
from astro import sql as aql
from astro.table import BaseTable, Metadata, Table

from include.movielens import settings
from include.movielens.ranking import (
    DEFAULT_MIN_RATINGS,
    DEFAULT_PRIOR_WEIGHT,
    DEFAULT_TOP_N,
    RANKING_COLUMNS,
    attach_movies,
    score_aggregates,
)
from include.movielens.results import RANKINGS_DATASET, replace_window

log = logging.getLogger(__name__)


def ratings_table(conn_id: str = settings.RESULTS_CONN_ID) -> Table:
    """The ``ratings`` table that the load steps fill, as an Astro SDK :class:`Table` (SQLite ignores the
    schema)."""
    return Table(
        name=settings.RATINGS_TABLE, conn_id=conn_id, metadata=Metadata(schema=settings.results_schema())
    )


def load_interval(
    start_date: str,
    end_date: str,
    records: Iterable[Mapping[str, Any]],
    *,
    before_commit: Callable[[int], None] | None = None,
) -> dict:
    """Replace ``[start_date, end_date)`` of the results connection's ``ratings`` table by ``records``.

    The load step of 01_python and 02_hook; the operator of 03/04 calls the same provider loader
    (:func:`airflow_movielens.ratings_table.replace_interval`). Returns its small XCom dict.
    """
    from airflow.hooks.base import BaseHook

    from airflow_movielens.ratings_table import replace_interval

    db_hook = BaseHook.get_connection(settings.RESULTS_CONN_ID).get_hook()
    return replace_interval(
        db_hook,
        start_date,
        end_date,
        records,
        table=settings.RATINGS_TABLE,
        schema=settings.results_schema(),
        before_commit=before_commit,
    )


def ranking_csv_path(dag_id: str, ds: str) -> ObjectStoragePath:
    """Where a DAG exports a window's ranking: ``rankings/<dag_id>/<ds>.csv`` under ``MOVIELENS_DATA_DIR``."""
    base = ObjectStoragePath(settings.data_location(), conn_id=settings.data_conn_id())
    return base / settings.ranking_csv_key(dag_id, ds)


# ---------------------------------------------------------------------------------------------------------
# Tasks
# ---------------------------------------------------------------------------------------------------------
@aql.transform(task_id="aggregate_window")
def aggregate_window(ratings: Table, window_start_ts: str, window_end_ts: str):
    """Per movie, the number and sum of the window's ratings (epoch seconds ``[start, end)``), in SQL."""
    return """
        SELECT "movieId", COUNT(*) AS n_ratings, SUM("rating") AS rating_sum
        FROM {{ ratings }}
        WHERE "timestamp" >= CAST({{ window_start_ts }} AS BIGINT)
          AND "timestamp" < CAST({{ window_end_ts }} AS BIGINT)
        GROUP BY "movieId"
    """


@aql.dataframe(task_id="rank_movies")
def rank_movies(
    stats: pd.DataFrame, window_start: str, window_end: str, movielens_conn_id: str
) -> pd.DataFrame:
    """Rank the window's movies from their per-movie aggregates and attach their titles."""
    from airflow_movielens.hooks import MovielensHook

    params = get_current_context()["params"]
    stats = stats.rename(columns={column: column.lower() for column in stats.columns})
    stats = stats.rename(columns={"movieid": "movieId"})
    scores = score_aggregates(
        stats,
        min_ratings=int(params.get("min_ratings", DEFAULT_MIN_RATINGS)),
        prior_weight=float(params.get("prior_weight", DEFAULT_PRIOR_WEIGHT)),
        top_n=int(params.get("top_n", DEFAULT_TOP_N)),
    )
    log.info(
        "Window [%s, %s): %d ratings of %d movies, %d ranked",
        window_start, window_end, int(stats["n_ratings"].sum()), len(stats), len(scores),
    )  # fmt: skip
    if scores.empty:
        raise AirflowSkipException(
            f"no movie has {params.get('min_ratings', DEFAULT_MIN_RATINGS)} or more ratings in "
            f"[{window_start}, {window_end}): nothing to rank"
        )
    with MovielensHook(movielens_conn_id) as hook:
        movies = hook.get_movies(movie_ids=[int(movie_id) for movie_id in scores["movieId"]])
    return attach_movies(scores, movies, window_start=window_start, window_end=window_end)


@aql.dataframe(task_id="export_ranking_csv", trigger_rule="none_failed")
def export_ranking_csv(ranking: pd.DataFrame, dag_id: str, ds: str) -> dict:
    """Write the window's ranking as CSV, whole or not at all (header only if ``rank_movies`` skipped)."""
    if ranking is None:
        ranking = pd.DataFrame(columns=RANKING_COLUMNS)
    ranking = ranking[RANKING_COLUMNS].sort_values("rank", kind="mergesort").reset_index(drop=True)
    target = ranking_csv_path(dag_id, ds)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.parent / f".{target.name}.{get_current_context()['ti'].try_number}.tmp"
    with partial.open("w", encoding="utf-8", newline="") as handle:
        ranking.to_csv(handle, index=False, lineterminator="\n")
    partial.rename(target)
    log.info("Wrote %d ranked movies to %s", len(ranking), target)
    return {"path": str(target), "count": len(ranking)}


@task(task_id="publish_ranking", trigger_rule="none_failed", outlets=[RANKINGS_DATASET])
def publish_ranking(ranking: BaseTable | None, window_start: str, conn_id: str) -> dict:
    """Store the window's ranking in ``movie_rankings`` (see :func:`replace_window`)."""
    return replace_window(ranking, window_start, conn_id)


def rank_and_publish(loaded: Any) -> TaskGroup:
    """Wire the shared ranking tasks downstream of the task that loaded the interval's ratings.

    :param loaded: the load task (or its output); it must finish before the window is aggregated.
    :return: the task group, so that more tasks can be wired after it.
    """
    with TaskGroup("rank_and_publish", prefix_group_id=False) as group:
        stats = aggregate_window(
            ratings_table(),
            settings.WINDOW_START_TS_TEMPLATE,
            settings.WINDOW_END_TS_TEMPLATE,
            output_table=Table(conn_id=settings.RESULTS_CONN_ID),
        )
        ranking = rank_movies(
            stats,
            settings.WINDOW_START_TEMPLATE,
            settings.WINDOW_END_TEMPLATE,
            settings.MOVIELENS_CONN_ID,
            output_table=Table(conn_id=settings.RESULTS_CONN_ID),
        )
        exported = export_ranking_csv(ranking, settings.DAG_ID_TEMPLATE, settings.RANKING_DAY_TEMPLATE)
        published = publish_ranking(ranking, settings.WINDOW_START_TEMPLATE, settings.RESULTS_CONN_ID)
        # A teardown: runs whatever happened upstream (all_done) but, unlike a plain all_done leaf, does not
        # decide the run's state, so a failed load still fails the DAG run.
        cleanup = aql.cleanup(
            tables_to_cleanup=[stats, ranking], task_id="cleanup_temp_tables", retries=settings.task_retries()
        ).as_teardown()
        [exported, published] >> cleanup
    loaded >> group
    return group
