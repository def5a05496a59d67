"""One interval through each of the four DAGs (``dag.test()`` against the live API), each into its own fresh
results database, on SQLite and on PostgreSQL: the rankings, the served list, the genre lists, the loaded
ratings and the exported CSV files.

See tests/support/expected_runs.py for the expected rankings (plain pandas, no project code).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from tests.results_db import results_database
from tests.support.dag_runs import DAG_IDS, assert_succeeded, parsed_dags, pipeline_env, run, states
from tests.support.expected_runs import (
    DAY,
    assert_same_ranking,
    assert_same_ratings,
    daily_bayes,
    expected_ranking,
    expected_ratings,
    ranking_csv,
    result_tables,
)

pytestmark = pytest.mark.usefixtures("airflow_db")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def dag_runs(request, movielens_api, tmp_path_factory) -> dict:
    """Run every DAG once for DAY, each into a fresh results database; keep what each run left behind."""
    server = request.getfixturevalue("postgres_server") if request.param == "postgres" else None
    root = tmp_path_factory.mktemp(f"{request.param}-runs")
    data_dir = root / "data"
    outcome: dict = {"kind": request.param, "data_dir": data_dir, "runs": {}}
    for dag_id in DAG_IDS:
        with (
            results_database(request.param, root / dag_id, server) as db,
            pipeline_env(db, data_dir),
        ):
            dag_run = run(parsed_dags(request.param)[dag_id], DAY)
            outcome["runs"][dag_id] = {
                "dag_run": dag_run,
                "states": states(dag_run),
                "loaded": dag_run.get_task_instance("load_ratings").xcom_pull(task_ids="load_ratings"),
                "filled": dag_run.get_task_instance("fill_history").xcom_pull(task_ids="fill_history"),
                "rows": db.rankings(),
                "served": db.query(
                    f"SELECT * FROM {db.schema_prefix}popular_movies WHERE genre = ? ORDER BY rank",
                    ("(all genres)",),
                ),
                "genre_rows": db.query(f"SELECT * FROM {db.schema_prefix}genre_rankings"),
                "ratings": db.ratings(),
                "tables": db.tables(),
                "expected_tables": result_tables(db),
            }
    return outcome


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_dag_ranks_one_interval(dag_runs, dataset, dag_id: str) -> None:
    result = dag_runs["runs"][dag_id]
    assert_succeeded(result["dag_run"])
    expected = expected_ranking(dataset, DAY)
    assert len(expected) == 100  # the day has thousands of ratings: a full top 100
    assert_same_ranking(daily_bayes(result["rows"]), expected)
    assert_same_ranking(daily_bayes(pd.read_csv(ranking_csv(dag_runs["data_dir"], dag_id, DAY))), expected)
    # a first run loads the year before its day too (fill_history; the dataset has no rating before DAY), so
    # every window is computed at once, each holding DAY's ratings only
    assert sorted(set(result["rows"]["window_days"])) == [1, 7, 30, 365]
    assert sorted(set(result["rows"]["method"])) == ["bayes", "count", "trending"]
    by_window = {
        days: rows.drop(columns=["window_days", "window_start"]).reset_index(drop=True)
        for days, rows in result["rows"].groupby("window_days")
    }
    for days in (7, 30, 365):
        pd.testing.assert_frame_equal(by_window[days], by_window[1])
    # the served list: before any evaluation, the default choice (count over 365 days), published with them
    served = result["served"]
    expected_served = result["rows"][
        (result["rows"]["method"] == "count") & (result["rows"]["window_days"] == 365)
    ]
    assert served["movieId"].tolist() == expected_served["movieId"].tolist()
    assert served["rank"].tolist() == list(range(1, 101))
    assert served["choice_from"].isna().all()
    assert not served["fallback"].astype(bool).any()
    # per genre: the day's ratings of the genre's movies only, counted in plain pandas (count, 1 day)
    ratings, movies = dataset
    start = int(dt.datetime(DAY.year, DAY.month, DAY.day, tzinfo=dt.UTC).timestamp())
    day_ratings = ratings[(ratings["timestamp"] >= start) & (ratings["timestamp"] < start + 86_400)]
    genre_rows = result["genre_rows"]
    genres = movies.assign(genre=movies["genres"].str.split("|")).explode("genre")
    assert set(genre_rows["genre"]) == set(genres["genre"]) - {"(no genres listed)"}
    for genre in sorted(set(genre_rows["genre"]))[:3]:
        ids = set(genres.loc[genres["genre"] == genre, "movieId"])
        counts = day_ratings[day_ratings["movieId"].isin(ids)].groupby("movieId").size().reset_index(name="n")
        counts = counts.sort_values(["n", "movieId"], ascending=[False, True]).head(100)
        mine = genre_rows[
            (genre_rows["genre"] == genre)
            & (genre_rows["method"] == "count")
            & (genre_rows["window_days"] == 1)
        ].sort_values("rank")
        assert mine["movieId"].tolist() == counts["movieId"].tolist(), genre
    year_before = {"start_date": "2018-01-02", "end_date": "2019-01-01", "count": 0}
    assert result["filled"] == {"loaded": [year_before], "ratings": 0}
    # the hand-off is the ratings table: every rating of the interval, and only those; XCom stays small
    assert_same_ratings(result["ratings"], expected_ratings(dataset, DAY))
    assert result["loaded"]["count"] == len(result["ratings"])
    assert (result["loaded"]["start_date"], result["loaded"]["end_date"]) == ("2019-01-01", "2019-01-02")
    # the two result tables; the SDK's temporary tables were dropped by aql.cleanup
    assert result["tables"] == result["expected_tables"]


def test_all_four_dags_give_identical_rankings(dag_runs) -> None:
    for dag_id in DAG_IDS:  # identical only counts if every one of them ran to success
        assert_succeeded(dag_runs["runs"][dag_id]["dag_run"])
    csvs = {dag_id: ranking_csv(dag_runs["data_dir"], dag_id, DAY).read_bytes() for dag_id in DAG_IDS}
    assert len(set(csvs.values())) == 1, "the DAGs' CSV files differ"
    first = dag_runs["runs"][DAG_IDS[0]]["rows"]
    for dag_id in DAG_IDS[1:]:
        pd.testing.assert_frame_equal(dag_runs["runs"][dag_id]["rows"], first)
