"""Several daily DAGs publishing the same day, through real ``dag.test()`` runs on SQLite (the writes are
the same code on PostgreSQL, where tests/include/test_results.py covers the new columns): with the same
params they write the same rows, whichever DAG; with different params the last publish replaces the day's
lists whole, and ``ranking_windows`` and ``popular_movies`` name the run that computed them (and
``ranking_windows`` its params), so the served list is never a mix and always says where it came from."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from tests.support.dag_runs import assert_succeeded, parse_dags, run

pytestmark = pytest.mark.usefixtures("airflow_db")
DAY = dt.date(2019, 1, 3)
END = "2019-01-04"  # the lists' window_end: served on that day


def lists(db) -> pd.DataFrame:
    """Every ranked movie of the day, without who wrote it."""
    rows = db.rankings()
    return rows[rows["window_end"].astype(str) == END].reset_index(drop=True)


def producers(db, table: str) -> set[tuple]:
    """The distinct (dag_id, run_id[, top_n]) of the day's rows of ``table``."""
    rows = db.query(f"SELECT * FROM {db.schema_prefix}{table}")
    rows = rows[rows["window_end"].astype(str) == END]
    if "params" in rows:
        return {(d, r, json.loads(p)["top_n"]) for d, r, p in rows[["dag_id", "run_id", "params"]].values}
    return {tuple(pair) for pair in rows[["dag_id", "run_id"]].values}


@pytest.mark.parametrize("results_db", ["sqlite"], indirect=True)
def test_the_last_publish_of_a_day_serves_its_lists_and_names_its_run(movielens_api, workspace) -> None:
    # dag.test(run_conf=...) leaves the conf in the DAG object's params: DAGs no other test shares
    dags = parse_dags()
    db = workspace["db"]
    short = run(dags["02_hook"], DAY, top_n=5)  # a run with other params: five movies per list
    assert_succeeded(short)
    assert lists(db).groupby(["method", "window_days"]).size().max() == 5
    assert producers(db, "ranking_windows") == {("02_hook", short.run_id, 5)}
    assert producers(db, "popular_movies") == {("02_hook", short.run_id)}

    full = run(dags["03_operator"], DAY)  # another DAG, the default params: it replaces every list whole
    assert_succeeded(full)
    after_full = lists(db)
    assert after_full.groupby(["method", "window_days"]).size().max() > 5
    assert producers(db, "ranking_windows") == {("03_operator", full.run_id, 100)}
    assert producers(db, "popular_movies") == {("03_operator", full.run_id)}
    # the served list is exactly one computed list of that run: the default decision, count over 365 days
    served = db.query(
        f"SELECT \"movieId\" FROM {db.schema_prefix}popular_movies WHERE genre = '(all genres)' ORDER BY rank"
    )["movieId"].tolist()
    mine = after_full[(after_full["method"] == "count") & (after_full["window_days"] == 365)]
    assert served == mine.sort_values("rank")["movieId"].tolist()

    again = run(dags["01_python"], DAY)  # a third DAG with the same params: the same rows, its own name
    assert_succeeded(again)
    pd.testing.assert_frame_equal(lists(db), after_full)
    assert producers(db, "ranking_windows") == {("01_python", again.run_id, 100)}
    assert producers(db, "popular_movies") == {("01_python", again.run_id)}
