"""05_history and 06_evaluation (``dag.test()`` against the live API): a history load, then a run before its
previous day ranking every (method, window) from complete windows only; the backtest stored once per cutoff.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from tests.support.dag_runs import assert_succeeded, run, states
from tests.support.expected_runs import assert_same_ratings, expected_ratings

pytestmark = pytest.mark.usefixtures("airflow_db")


def test_history_then_a_run_before_its_previous_day_ranks_every_window(dags, dataset, workspace) -> None:
    from include.movielens import popularity
    from include.movielens.windows import select_window, window_label

    db = workspace["db"]
    history = dags["05_history"].test(
        execution_date=dt.datetime(2019, 1, 20, tzinfo=dt.UTC),
        run_conf={"history_start": "2018-01-01", "history_end": "2019-01-08"},
    )
    assert_succeeded(history)
    assert_same_ratings(db.ratings(), expected_ratings(dataset, dt.date(2019, 1, 1), days=7))

    last = dt.date(2019, 1, 9)
    # runs before the day it needs (2019-01-08) was loaded by its own run: it loads that day itself
    # (fill_history) and ranks every window, never from partial data
    assert_succeeded(run(dags["02_hook"], last))
    windows = db.ranking_windows()
    end = windows[windows["window_end"].astype(str) == "2019-01-10"]
    assert sorted(set(end["window_days"])) == [1, 7, 30, 365]
    ratings, movies = dataset
    rows = db.rankings()
    for days in (1, 7, 30, 365):
        window = select_window(ratings, "2019-01-10", window_label(days))
        counts = end[end["window_days"] == days]
        assert set(counts["n_ratings"]) == {len(window)}
        assert set(counts["n_movies"]) == {window["movieId"].nunique()}
        for method in popularity.METHODS:
            mine = rows[
                (rows["window_end"].astype(str) == "2019-01-10")
                & (rows["method"] == method)
                & (rows["window_days"] == days)
            ]
            expected = popularity.rank_window(
                ratings, end="2019-01-10", method=method, window=window_label(days)
            )
            assert len(mine) == len(expected) > 0, (method, days)
            assert mine["movieId"].tolist() == expected["movieId"].tolist(), (method, days)
            assert mine["n_ratings"].tolist() == expected["n_ratings"].tolist()
            assert mine["score"].to_numpy() == pytest.approx(expected["score"].to_numpy(), rel=1e-9)
            titles = movies.set_index("movieId").loc[mine["movieId"], "title"].tolist()
            assert mine["title"].tolist() == titles
            assert set(mine["window_start"].astype(str)) == {(last - dt.timedelta(days=days - 1)).isoformat()}
    before = (db.rankings(), db.ranking_windows(), db.ratings())
    assert_succeeded(run(dags["02_hook"], last))  # a rerun of a complete day changes nothing
    for old_rows, new_rows in zip(before, (db.rankings(), db.ranking_windows(), db.ratings()), strict=True):
        pd.testing.assert_frame_equal(new_rows, old_rows)


def test_evaluation_dag_stores_the_backtest_once_per_cutoff(dags, dataset, workspace) -> None:
    from include.movielens.backtest import EVAL_COLUMNS, RatingLog, evaluate

    db = workspace["db"]
    conf = {"history_start": "2019-01-01", "history_end": "2019-01-15"}
    assert_succeeded(
        dags["05_history"].test(execution_date=dt.datetime(2019, 2, 1, tzinfo=dt.UTC), run_conf=conf)
    )
    evaluation = dags["06_evaluation"]
    assert [dataset.uri for dataset in evaluation.timetable.dataset_condition.objects] == [
        "astro://movielens_results@?table=movie_rankings"
    ]
    conf = {"cutoffs": ["2019-01-08"], "horizon_days": 5, "k": 10}
    assert_succeeded(evaluation.test(execution_date=dt.datetime(2019, 2, 2, tzinfo=dt.UTC), run_conf=conf))
    stored = db.query(f'SELECT * FROM {db.schema_prefix}ranking_evaluation ORDER BY method, "window"')
    expected = evaluate(RatingLog.from_frame(dataset[0]), ["2019-01-08"], horizon_days=5, k=10)
    expected = expected.sort_values(["method", "window"]).reset_index(drop=True)
    assert len(stored) == len(expected) == 16  # 3 methods x 5 windows + random
    for column in ("method", "window", "users", "k", "horizon_days"):
        assert stored[column].tolist() == expected[column].tolist(), column
    for column in ("hr", "ndcg", "coverage"):
        assert stored[column].to_numpy() == pytest.approx(expected[column].to_numpy(), rel=1e-12)
    assert set(stored["cutoff"].astype(str)) == {"2019-01-08"}
    assert set(EVAL_COLUMNS) <= set(stored.columns)
    again = evaluation.test(execution_date=dt.datetime(2019, 2, 3, tzinfo=dt.UTC), run_conf=conf)
    # at most once per cutoff; the choice is made again (and changes nothing)
    assert states(again) == {"evaluate_rankings": "skipped", "choose_list": "success"}
    # a 5-day horizon is not the one the choice rests on (30 days): no decision yet
    assert db.query(f"SELECT * FROM {db.schema_prefix}ranking_choice").empty
    assert len(db.query(f"SELECT * FROM {db.schema_prefix}ranking_evaluation")) == 16


def test_a_users_list_is_the_list_the_backtest_scored(dags, workspace) -> None:
    """For every user of a backtest at a cutoff: the read path on that day returns the backtest's list."""
    from include.movielens.backtest import scored_lists
    from include.movielens.evaluation import read_rating_log
    from include.movielens.reader import PopularReader
    from include.movielens.served import read_served
    from include.movielens.windows import window_label

    conf = {"history_start": "2018-12-01", "history_end": "2019-01-12"}
    assert_succeeded(
        dags["05_history"].test(execution_date=dt.datetime(2019, 2, 1, tzinfo=dt.UTC), run_conf=conf)
    )
    cutoff = "2019-01-08"
    assert_succeeded(run(dags["02_hook"], dt.date(2019, 1, 7)))  # serves the list of 2019-01-08
    served = read_served(cutoff)
    method, days = served["method"].iloc[0], int(served["window_days"].iloc[0])
    # what 06_evaluation scores: the backtest over the loaded ratings, 4 days of them after the cutoff
    lists = scored_lists(
        read_rating_log(), cutoff, method=method, window=window_label(days), horizon_days=4, k=10
    )
    expected = lists.groupby("userId")["movieId"].apply(list).to_dict()
    reader = PopularReader.from_connection(history_start=conf["history_start"])
    served_top = served["movieId"].head(10).tolist()
    excluded = short = 0
    for user, backtest_list in expected.items():
        answer = reader.for_user(int(user), day=cutoff, k=10)
        got = answer.movies["movieId"].tolist()
        if answer.short:  # the stored depth ran out: what there is, in the backtest's order
            short += 1
            assert got == backtest_list[: len(got)], user
        else:
            assert got == backtest_list, user
        excluded += got != served_top
    # premise: users whose exclusion changes their list, and most lists complete at the stored depth
    counts = {"users": len(expected), "excluded": excluded, "short": short}
    assert counts["users"] > 50, counts
    assert counts["excluded"] > 10, counts
    assert counts["short"] < counts["users"] / 10, counts
