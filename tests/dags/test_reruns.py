"""Reruns, consecutive intervals, params and intervals without ratings through the DAGs (``dag.test()``
against the live API), each on SQLite and on PostgreSQL; and the sensor timing out on an empty interval.

See tests/support/expected_runs.py for the expected rankings (plain pandas, no project code).
"""

from __future__ import annotations

import datetime as dt
import time

import pandas as pd
import pytest

from tests.results_db import sqlite_results
from tests.support.dag_runs import (
    SENSOR_POKE_INTERVAL,
    SENSOR_TIMEOUT,
    assert_succeeded,
    parse_dags,
    parsed_dags,
    pipeline_env,
    run,
    states,
)
from tests.support.expected_runs import (
    COLUMNS,
    DAY,
    EMPTY_DAY,
    assert_same_ranking,
    assert_same_ratings,
    daily_bayes,
    expected_ranking,
    expected_ratings,
    ranking_csv,
    result_tables,
    window_rows,
)

pytestmark = pytest.mark.usefixtures("airflow_db")


@pytest.mark.parametrize("dag_id", ["02_hook", "04_sensor"])
def test_consecutive_windows_and_reruns_are_idempotent(dags, dataset, workspace, dag_id: str) -> None:
    db, data_dir = workspace["db"], workspace["data_dir"]
    days = [dt.date(2019, 1, 2), dt.date(2019, 1, 3)]
    for day in days:
        assert_succeeded(run(dags[dag_id], day))
    ratings, rows = db.ratings(), db.rankings()
    csvs = {day: ranking_csv(data_dir, dag_id, day).read_bytes() for day in days}

    assert_succeeded(run(dags[dag_id], days[0]))  # rerun the first window after the second
    # the two days, and 2019-01-01 that the first run loaded as part of its windows (fill_history)
    assert_same_ratings(db.ratings(), expected_ratings(dataset, DAY, days=3))
    pd.testing.assert_frame_equal(db.ratings(), ratings)
    pd.testing.assert_frame_equal(db.rankings(), rows)
    for day in days:
        assert_same_ranking(window_rows(db, day), expected_ranking(dataset, day))
        assert ranking_csv(data_dir, dag_id, day).read_bytes() == csvs[day], f"{day} CSV changed on rerun"
    assert sorted(path.name for path in (data_dir / "rankings" / dag_id).iterdir()) == [
        "2019-01-02.csv",
        "2019-01-03.csv",
    ]  # no temporary files left
    assert db.tables() == result_tables(db)
    if db.kind == "postgres":
        key = db.query(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) "
            "WHERE i.indrelid = 'public.movie_rankings'::regclass AND i.indisprimary"
        )
        assert sorted(key["attname"]) == ["method", "rank", "window_days", "window_end"]


def test_params_override_and_shorter_rerun_leaves_no_stale_rows(movielens_api, dataset, workspace) -> None:
    # dag.test(run_conf=...) leaves the conf in the DAG object's params: use DAGs no other test shares
    dags = parse_dags()
    db = workspace["db"]
    assert_succeeded(run(dags["02_hook"], DAY))
    assert len(daily_bayes(db.rankings())) == 100
    assert_succeeded(run(dags["02_hook"], DAY, top_n=10, min_ratings=5, prior_weight=25))
    expected = expected_ranking(dataset, DAY, min_ratings=5, prior_weight=25, top_n=10)
    assert_same_ranking(daily_bayes(db.rankings()), expected)
    assert len(db.rankings()) == 120  # top 10 of each method and window


def test_interval_without_ratings_skips_ranking_and_clears_the_window(dags, dataset, workspace) -> None:
    db = workspace["db"]
    # old rows first: DAY's ratings, rankings (every method) and window totals, and copies of all three filed
    # under EMPTY_DAY (as if loaded and ranked before the API lost that day's ratings)
    assert_succeeded(run(dags["02_hook"], DAY))
    shift = (EMPTY_DAY - DAY).days * 86_400
    prefix = db.schema_prefix
    db.execute(
        f'INSERT INTO {prefix}ratings ("userId", "movieId", "rating", "timestamp") '
        f'SELECT "userId", "movieId", "rating", "timestamp" + ? FROM {prefix}ratings',
        (shift,),
    )
    date = "CAST(? AS DATE)" if db.kind == "postgres" else "?"  # SQLite stores the dates as ISO text
    old_end, new_end = (
        (DAY + dt.timedelta(days=1)).isoformat(),
        (EMPTY_DAY + dt.timedelta(days=1)).isoformat(),
    )
    db.execute(
        f'INSERT INTO {prefix}movie_rankings (window_end, method, window_days, "rank", window_start, '
        '"movieId", title, genres, n_ratings, mean_rating, score) '
        f'SELECT {date}, method, window_days, "rank", {date}, "movieId", title, genres, n_ratings, '
        f"mean_rating, score FROM {prefix}movie_rankings WHERE window_end = {date}",
        (new_end, EMPTY_DAY.isoformat(), old_end),
    )
    db.execute(
        f"INSERT INTO {prefix}ranking_windows (window_end, method, window_days, n_ratings, n_movies, "
        f"computed_at) SELECT {date}, method, window_days, n_ratings, n_movies, computed_at "
        f"FROM {prefix}ranking_windows WHERE window_end = {date}",
        (new_end, old_end),
    )
    before = db.rankings()
    day_rows = before[before["window_end"].astype(str) == old_end].reset_index(drop=True)
    assert len(window_rows(db, EMPTY_DAY)) == 100
    # 4 windows x 3 methods x top 100
    assert len(before[before["window_end"].astype(str) == new_end]) == len(day_rows) == 1200
    assert (db.ranking_windows()["n_ratings"] > 0).all()
    assert len(db.ratings()) == 2 * len(expected_ratings(dataset, DAY))

    dag_run = run(dags["02_hook"], EMPTY_DAY)
    assert dag_run.state == "success", states(dag_run)
    # the run loaded the days before it that were missing (January's ratings): its 30- and 365-day windows
    # hold them and are ranked; its 1- and 7-day windows are empty
    assert states(dag_run)["rank_movies"] == "success"
    assert states(dag_run)["publish_ranking"] == "success"
    csv = pd.read_csv(ranking_csv(workspace["data_dir"], "02_hook", EMPTY_DAY))
    assert set(csv.columns) == {*COLUMNS, "method", "window_days"}
    assert set(csv["window_days"]) == {30, 365}
    after = db.rankings()
    new_rows = after[after["window_end"].astype(str) == new_end]
    assert set(new_rows["window_days"]) == {30, 365}  # the window's old (1-day) rankings are gone
    old_rows = after[after["window_end"].astype(str) == old_end].reset_index(drop=True)
    pd.testing.assert_frame_equal(old_rows, day_rows)  # the other window's rows are untouched
    assert_same_ranking(window_rows(db, DAY), expected_ranking(dataset, DAY))
    windows = db.ranking_windows()
    emptied = windows[
        (windows["window_end"].astype(str) == new_end) & windows["window_days"].isin([1, 7])
    ].sort_values(["window_days", "method"])
    # computed, and empty: not the same as "not computed"
    assert emptied[["method", "window_days", "n_ratings", "n_movies"]].values.tolist() == [
        ["bayes", 1, 0, 0],
        ["count", 1, 0, 0],
        ["trending", 1, 0, 0],
        ["bayes", 7, 0, 0],
        ["count", 7, 0, 0],
        ["trending", 7, 0, 0],
    ]
    assert (windows[windows["window_end"].astype(str) == old_end]["n_ratings"] > 0).all()
    # the emptied day's copied ratings are gone; the dataset's days before it were loaded
    assert_same_ratings(db.ratings(), expected_ratings(dataset, DAY, days=14))


def test_sensor_times_out_on_an_interval_without_ratings(movielens_api, tmp_path) -> None:
    from airflow.models.taskreschedule import TaskReschedule
    from airflow.utils.session import create_session

    dag = parsed_dags("sqlite")["04_sensor"]
    sensor = dag.get_task("wait_for_ratings")
    assert sensor.mode == "reschedule"
    assert sensor.timeout == SENSOR_TIMEOUT
    db = sqlite_results(tmp_path / "results.db")
    with pipeline_env(db, tmp_path / "data"):
        started = time.perf_counter()
        dag_run = run(dag, EMPTY_DAY)
        elapsed = time.perf_counter() - started
    result = states(dag_run)
    assert dag_run.state == "failed", result
    assert result["wait_for_ratings"] == "failed"
    assert result["load_ratings"] == "upstream_failed"
    assert result["publish_ranking"] == "upstream_failed"
    assert elapsed >= SENSOR_TIMEOUT  # not before its timeout; how much later is the machine's load
    with create_session() as session:
        reschedules = (
            session.query(TaskReschedule)
            .filter(TaskReschedule.dag_id == dag.dag_id, TaskReschedule.run_id == dag_run.run_id)
            .count()
        )
    # it waited by rescheduling, not by holding a worker slot; at most one reschedule per poke_interval of its
    # timeout (load can only space them out)
    assert 2 <= reschedules <= SENSOR_TIMEOUT / SENSOR_POKE_INTERVAL + 1
    assert not db.path.exists() or db.tables() == []  # nothing was loaded
