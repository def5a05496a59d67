"""The Astro SDK half of every DAG: rank one window, store it, export it, clean up.

All four DAGs differ only in how they fetch an interval's ratings into ``ratings/<dag_id>/<ds>.json``; each
fetch task returns a small dict ``{"path", "count", ...}`` and :func:`rank_and_publish` wires the rest::

    fetch ──> rank_movies ──┬──> export_ranking_csv ──┬──> cleanup_temp_tables
                            └──> publish_ranking ─────┘

* ``rank_movies`` (``@aql.dataframe``) reads the ratings file (only its path travels through XCom), scores
  the movies with :mod:`include.movielens.ranking`, looks the titles up through ``MovielensHook.get_movies``
  and returns a DataFrame that the SDK stores in a temporary table of ``movielens_results``. A window
  without any ranked movie is *skipped* (the SDK cannot store an empty DataFrame).
* ``publish_ranking`` replaces the window's rows of ``movie_rankings`` in ONE transaction: create the
  table if needed (primary key ``(window_start, rank)``), delete the window, insert from the temporary
  table. A rerun therefore never duplicates rows, and readers never see a half-replaced window.
* ``export_ranking_csv`` (``@aql.dataframe``) gets the temporary table back as a DataFrame and writes
  ``rankings/<dag_id>/<ds>.csv`` atomically (same rows, same bytes on a rerun).
* ``cleanup_temp_tables`` (``aql.cleanup``, an Airflow teardown task) drops the temporary table whatever
  happened upstream, without masking a failure in the DAG run's state.

This module deliberately does not use ``from __future__ import annotations``: the SDK recognises the
parameters to load as DataFrames by their *runtime* annotation ``pd.DataFrame``.
"""

import logging
from typing import Any

import pandas as pd
from airflow.decorators import task
from airflow.exceptions import AirflowSkipException
from airflow.operators.python import get_current_context
from astro import sql as aql
from astro.table import BaseTable, Table

from airflow_movielens.files import atomic_write_records, read_records
from include.movielens import settings
from include.movielens.ranking import (
    DEFAULT_MIN_RATINGS,
    DEFAULT_PRIOR_WEIGHT,
    DEFAULT_TOP_N,
    RANKING_COLUMNS,
    attach_movies,
    score_movies,
)
from include.movielens.results import RANKINGS_DATASET, replace_window

log = logging.getLogger(__name__)

RATING_COLUMNS = ["userId", "movieId", "rating", "timestamp"]


# ---------------------------------------------------------------------------------------------------------
# Ratings files (written by the fetch tasks of 01/02; 03/04 use the provider's operator, same writer)
# ---------------------------------------------------------------------------------------------------------
def save_ratings(records: Any, path: str, start_date: str, end_date: str) -> dict:
    """Write one interval's ratings atomically and return the small XCom the operator returns too."""
    count = atomic_write_records(path, records)
    log.info("Wrote %d ratings of [%s, %s) to %s", count, start_date, end_date, path)
    return {"path": str(path), "count": count, "start_date": start_date, "end_date": end_date}


def load_ratings(path: str) -> pd.DataFrame:
    """Read a ratings file written by :func:`save_ratings` or the provider's operator."""
    frame = read_records(path)
    if frame.empty:
        return pd.DataFrame({col: pd.Series(dtype="float64") for col in RATING_COLUMNS})
    return frame


# ---------------------------------------------------------------------------------------------------------
# Tasks
# ---------------------------------------------------------------------------------------------------------
@aql.dataframe(task_id="rank_movies")
def rank_movies(fetched: dict, window_start: str, window_end: str, movielens_conn_id: str) -> pd.DataFrame:
    """Rank the window's movies from the ratings file named in ``fetched["path"]``."""
    from airflow_movielens.hooks import MovielensHook

    params = get_current_context()["params"]
    ratings = load_ratings(fetched["path"])
    scores = score_movies(
        ratings,
        min_ratings=int(params.get("min_ratings", DEFAULT_MIN_RATINGS)),
        prior_weight=float(params.get("prior_weight", DEFAULT_PRIOR_WEIGHT)),
        top_n=int(params.get("top_n", DEFAULT_TOP_N)),
    )
    log.info(
        "Window [%s, %s): %d ratings, %d ranked movies", window_start, window_end, len(ratings), len(scores)
    )
    if scores.empty:
        raise AirflowSkipException(
            f"no movie has {params.get('min_ratings', DEFAULT_MIN_RATINGS)} or more ratings in "
            f"[{window_start}, {window_end}): nothing to rank"
        )
    with MovielensHook(movielens_conn_id) as hook:
        movies = hook.get_movies(movie_ids=[int(movie_id) for movie_id in scores["movieId"]])
    return attach_movies(scores, movies, window_start=window_start, window_end=window_end)


@aql.dataframe(task_id="export_ranking_csv", trigger_rule="none_failed")
def export_ranking_csv(ranking: pd.DataFrame, output_path: str) -> dict:
    """Write the window's ranking to ``output_path`` (header only when ``rank_movies`` was skipped)."""
    if ranking is None:
        ranking = pd.DataFrame(columns=RANKING_COLUMNS)
    ranking = ranking[RANKING_COLUMNS].sort_values("rank", kind="mergesort").reset_index(drop=True)
    count = atomic_write_records(output_path, ranking)
    log.info("Wrote %d ranked movies to %s", count, output_path)
    return {"path": output_path, "count": count}


@task(task_id="publish_ranking", trigger_rule="none_failed", outlets=[RANKINGS_DATASET])
def publish_ranking(ranking: BaseTable | None, window_start: str, conn_id: str) -> dict:
    """Store the window's ranking in ``movie_rankings`` (see :func:`replace_window`)."""
    return replace_window(ranking, window_start, conn_id)


def rank_and_publish(fetched: Any) -> None:
    """Wire the shared ranking tasks downstream of a fetch task's ``{"path", ...}`` output."""
    ranking = rank_movies(
        fetched,
        settings.WINDOW_START_TEMPLATE,
        settings.WINDOW_END_TEMPLATE,
        settings.MOVIELENS_CONN_ID,
        output_table=Table(conn_id=settings.RESULTS_CONN_ID),
    )
    exported = export_ranking_csv(ranking, settings.RANKING_PATH_TEMPLATE)
    published = publish_ranking(ranking, settings.WINDOW_START_TEMPLATE, settings.RESULTS_CONN_ID)
    # A teardown: runs whatever happened upstream (all_done) but, unlike a plain all_done leaf, does not
    # decide the run's state, so a failed fetch still fails the DAG run.
    cleanup = aql.cleanup(
        tables_to_cleanup=[ranking], task_id="cleanup_temp_tables", retries=settings.task_retries()
    ).as_teardown()
    [exported, published] >> cleanup
