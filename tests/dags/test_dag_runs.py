"""End-to-end ``dag.test()`` runs of the four DAGs against the live API (tests/conftest.py ``movielens_api``).

The expected ranking is computed here, independently of include/movielens/ranking.py, with plain pandas from
the dataset's ratings.csv/movies.csv; results are read back with plain drivers from the real results
database (a SQLite file named by the connection's host, or a throwaway PostgreSQL database: every test that
writes runs on both) and from the exported CSV files.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.results_db import ResultsDb, results_database, sqlite_results
from tests.support.dag_runs import (
    DAG_IDS,
    SENSOR_TIMEOUT,
    assert_succeeded,
    parse_dags,
    parsed_dags,
    pipeline_env,
    run,
    states,
)

DAY = dt.date(2019, 1, 1)
EMPTY_DAY = dt.date(2019, 2, 1)  # the test dataset has no ratings after 2019-01-14
COLUMNS = [
    "window_start",
    "window_end",
    "rank",
    "movieId",
    "title",
    "genres",
    "n_ratings",
    "mean_rating",
    "score",
]

pytestmark = pytest.mark.usefixtures("airflow_db")


# ------------------------------------------------------------------------------------------------------
# The expected ranking: plain pandas straight from the dataset files (no project code)
# ------------------------------------------------------------------------------------------------------
def expected_ranking(dataset, day: dt.date, min_ratings=3, prior_weight=10, top_n=100) -> pd.DataFrame:
    ratings, movies = dataset
    start = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())
    window = ratings[(ratings["timestamp"] >= start) & (ratings["timestamp"] < start + 86_400)]
    c = window["rating"].mean()
    per_movie = window.groupby("movieId")["rating"].agg(n_ratings="count", mean_rating="mean").reset_index()
    per_movie = per_movie[per_movie["n_ratings"] >= min_ratings].copy()
    v, r, m = per_movie["n_ratings"], per_movie["mean_rating"], prior_weight
    per_movie["score"] = v / (v + m) * r + m / (v + m) * c
    per_movie = per_movie.sort_values(["score", "n_ratings", "movieId"], ascending=[False, False, True])
    top = per_movie.head(top_n).merge(movies[["movieId", "title", "genres"]], on="movieId", how="left")
    top.insert(0, "rank", range(1, len(top) + 1))
    top.insert(0, "window_end", (day + dt.timedelta(days=1)).isoformat())
    top.insert(0, "window_start", day.isoformat())
    return top[COLUMNS].reset_index(drop=True)


def expected_ratings(dataset, first: dt.date, days: int = 1) -> pd.DataFrame:
    """The ratings of ``[first, first + days)`` as the ``ratings`` table must hold them."""
    ratings, _ = dataset
    start = int(dt.datetime(first.year, first.month, first.day, tzinfo=dt.UTC).timestamp())
    window = ratings[(ratings["timestamp"] >= start) & (ratings["timestamp"] < start + days * 86_400)]
    order = ["timestamp", "userId", "movieId"]
    return window[["userId", "movieId", "rating", "timestamp"]].sort_values(order).reset_index(drop=True)


def assert_same_ratings(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert len(actual) == len(expected)
    pd.testing.assert_frame_equal(actual.reset_index(drop=True), expected, check_dtype=False)


def daily_bayes(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of the 1-day ``bayes`` rankings (what the first schema held)."""
    return rows[(rows["method"] == "bayes") & (rows["window_days"] == 1)].reset_index(drop=True)


def assert_same_ranking(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    actual = actual[COLUMNS].reset_index(drop=True).copy()
    for col in ("window_start", "window_end"):
        actual[col] = actual[col].astype(str)
    assert len(actual) == len(expected) > 0
    exact = ["window_start", "window_end", "rank", "movieId", "title", "genres", "n_ratings"]
    pd.testing.assert_frame_equal(actual[exact], expected[exact], check_dtype=False)
    for col in ("mean_rating", "score"):
        assert actual[col].to_numpy() == pytest.approx(expected[col].to_numpy(), rel=1e-12, abs=1e-12)


def window_rows(db: ResultsDb, day: dt.date) -> pd.DataFrame:
    rows = db.rankings()
    return daily_bayes(rows[rows["window_start"].astype(str) == day.isoformat()])


def ranking_csv(data_dir: Path, dag_id: str, day: dt.date) -> Path:
    return data_dir / "rankings" / dag_id / f"{day.isoformat()}.csv"


def result_tables(db: ResultsDb) -> list[str]:
    names = [
        "genre_rankings",
        "loaded_days",
        "movie_rankings",
        "popular_movies",
        "ranking_windows",
        "ratings",
    ]
    return [f"public.{name}" for name in names] if db.kind == "postgres" else names


# ------------------------------------------------------------------------------------------------------
# One interval through each DAG, each into its own fresh database, on SQLite and on PostgreSQL
# ------------------------------------------------------------------------------------------------------
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


# ------------------------------------------------------------------------------------------------------
# Reruns, consecutive intervals, params, empty intervals (each on SQLite and PostgreSQL)
# ------------------------------------------------------------------------------------------------------
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
    assert SENSOR_TIMEOUT <= elapsed < SENSOR_TIMEOUT + 60
    with create_session() as session:
        reschedules = (
            session.query(TaskReschedule)
            .filter(TaskReschedule.dag_id == dag.dag_id, TaskReschedule.run_id == dag_run.run_id)
            .count()
        )
    assert reschedules >= 2  # it waited by rescheduling, not by holding a worker slot
    assert not db.path.exists() or db.tables() == []  # nothing was loaded


# ------------------------------------------------------------------------------------------------------
# History load, window completeness with runs finishing out of order, every (method, window) ranking
# ------------------------------------------------------------------------------------------------------
def test_history_then_a_run_before_its_previous_day_ranks_every_window(dags, dataset, workspace) -> None:
    from include.movielens import popularity

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
        window = popularity.select_window(ratings, "2019-01-10", f"{days}d")
        counts = end[end["window_days"] == days]
        assert set(counts["n_ratings"]) == {len(window)}
        assert set(counts["n_movies"]) == {window["movieId"].nunique()}
        for method in popularity.METHODS:
            mine = rows[
                (rows["window_end"].astype(str) == "2019-01-10")
                & (rows["method"] == method)
                & (rows["window_days"] == days)
            ]
            expected = popularity.rank_window(ratings, end="2019-01-10", method=method, window=f"{days}d")
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


# ------------------------------------------------------------------------------------------------------
# The demo helper (make demo): a range of days through 04_sensor, then the last day's top 10
# ------------------------------------------------------------------------------------------------------
def test_demo_runs_a_range_and_reads_the_top_10(
    movielens_api, dataset, tmp_path, monkeypatch, capsys
) -> None:
    from tools import demo_pipeline as demo

    # run_range widens the window through these variables; let monkeypatch restore them afterwards
    monkeypatch.setenv("MOVIELENS_START_DATE", "2019-01-01")
    monkeypatch.setenv("MOVIELENS_END_DATE", "2019-01-10")
    monkeypatch.setenv("MOVIELENS_SENSOR_TIMEOUT", str(SENSOR_TIMEOUT))
    db = sqlite_results(tmp_path / "results.db")
    with pipeline_env(db, tmp_path / "data"):
        chart = tmp_path / "data" / "top20.png"
        began = dt.datetime.now(dt.UTC)
        assert (
            demo.main(["--start", "2019-01-13", "--end", "2019-01-14", "--no-init-db", "--chart", str(chart)])
            == 0
        )
        assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        out = capsys.readouterr().out
        assert "04_sensor 2019-01-13: success" in out
        assert "04_sensor 2019-01-14: success" in out
        # the headline is the served list, with its reason (no evaluation here: the default)
        assert "Served list of 2019-01-15 (popular_movies: ratings before that day), top 10:" in out
        assert "count over 365 days: the default before any evaluation whose 30-day horizon has ended" in out
        served = out.split("Served list of 2019-01-15", 1)[1].splitlines()[3:13]
        expected = demo.read_ranking("2019-01-15", method="count", window_days=365, limit=10)
        assert [int(line.split()[1]) for line in served] == expected["movieId"].tolist()
        # the sensor's nested execute() warning of Airflow 2.10 is noise on a terminal
        assert "cannot be called outside TaskInstance" not in out
        # the runs say when they really ran (dag.test() records the logical date as their start)
        from airflow.models import DagRun

        runs = [r for r in DagRun.find(dag_id="04_sensor") if r.end_date and r.end_date >= began]
        assert len(runs) == 2
        spans = [(r.start_date, r.end_date) for r in runs]
        assert all(began <= start <= end for start, end in spans), spans
        top = demo.top_movies("2019-01-14", 10)
        assert_same_ranking(top, expected_ranking(dataset, dt.date(2019, 1, 14)).head(10))
        assert_same_ranking(demo.top_movies(n=10), expected_ranking(dataset, dt.date(2019, 1, 14)).head(10))
    ends = sorted(db.rankings()["window_end"].astype(str).unique())
    assert ends == ["2019-01-14", "2019-01-15"]


# ------------------------------------------------------------------------------------------------------
# Every task on its own "worker": own process, own empty working directory, own empty data directory
# ------------------------------------------------------------------------------------------------------
REPO_ROOT = Path(__file__).resolve().parents[2]


def task_order(dag) -> list[str]:
    """The DAG's task ids in an order that respects every dependency (ties broken by task id)."""
    upstream = {task_id: set(task.upstream_task_ids) for task_id, task in dag.task_dict.items()}
    order: list[str] = []
    while upstream:
        ready = sorted(task_id for task_id, ups in upstream.items() if not ups)
        order.append(ready[0])
        del upstream[ready[0]]
        for ups in upstream.values():
            ups.discard(ready[0])
    return order


def create_dag_run(dag, day: dt.date) -> str:
    """A running manual DagRun of ``[day, day + 1)`` in the metadata DB, as the scheduler would create it."""
    import uuid

    import pendulum
    from airflow.models import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunType

    start = pendulum.datetime(day.year, day.month, day.day, tz="UTC")
    run_id = f"workers__{dag.dag_id}__{uuid.uuid4().hex[:8]}"
    with create_session() as session:  # one run per logical date: drop the reference run's
        session.query(DagRun).filter_by(dag_id=dag.dag_id, execution_date=start.add(days=1)).delete()
    dag.create_dagrun(
        run_id=run_id,
        run_type=DagRunType.MANUAL,
        execution_date=start.add(days=1),
        data_interval=(start, start.add(days=1)),
        state=DagRunState.RUNNING,
        external_trigger=True,
        conf={},
    )
    return run_id


def queue(dag_id: str, task_id: str, run_id: str) -> None:
    """Mark a task instance queued, as the scheduler does before an executor hands it to a worker."""
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    with create_session() as session:
        ti = session.query(TaskInstance).filter_by(dag_id=dag_id, task_id=task_id, run_id=run_id).one()
        ti.state = TaskInstanceState.QUEUED


def run_task_as_worker(dag_id: str, task_id: str, run_id: str, worker: Path) -> float:
    """``airflow tasks run --local`` in a new process whose cwd, data dir and log dir are ``worker``'s own.

    What the processes share is what a deployment's workers share: the code (PYTHONPATH), the metadata
    database and the connections (environment), and nothing on a local disk.
    """
    import os
    import subprocess
    import sys

    for folder in ("cwd", "data", "logs"):
        (worker / folder).mkdir(parents=True)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "plugins")]),
        "MOVIELENS_DATA_DIR": str(worker / "data"),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(worker / "logs"),
        "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "1",  # the local task job notices the end sooner
    }
    command = [sys.executable, "-m", "airflow", "tasks", "run", dag_id, task_id, run_id, "--local"]
    command += ["--subdir", str(REPO_ROOT / "dags" / f"{dag_id}.py")]
    queue(dag_id, task_id, run_id)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=worker / "cwd", env=env, capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - started
    logs = "\n".join(path.read_text() for path in sorted((worker / "logs").rglob("*.log")))
    output = f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}\n{logs[-5000:]}"
    assert done.returncode == 0, f"{task_id} failed:\n{output}"
    return elapsed


# Each task process takes 6-20 s on this 2-core machine (Airflow's start-up and the DAG parse), so every DAG
# runs on one kind of results database: the deployment's PostgreSQL for 02_hook and 04_sensor.
WORKER_RUNS = [
    ("01_python", "sqlite"),
    ("02_hook", "postgres"),
    ("03_operator", "sqlite"),
    ("04_sensor", "postgres"),
]


@pytest.mark.parametrize(("dag_id", "kind"), WORKER_RUNS)
def test_every_task_on_its_own_worker_gives_the_same_ranking(
    request, movielens_api, dataset, tmp_path, dag_id: str, kind: str
) -> None:
    from airflow.models import DagRun

    server = request.getfixturevalue("postgres_server") if kind == "postgres" else None
    dag = parsed_dags(kind)[dag_id]
    # the reference: a normal in-process run into its own fresh database
    with (
        results_database(kind, tmp_path / "reference", server) as reference,
        pipeline_env(reference, tmp_path / "reference" / "data"),
    ):
        assert_succeeded(run(dag, DAY))
        normal = reference.rankings()
    assert_same_ranking(daily_bayes(normal), expected_ranking(dataset, DAY))

    with (
        results_database(kind, tmp_path, server) as results_db,
        pipeline_env(results_db, tmp_path / "unused"),
    ):
        run_id = create_dag_run(dag, DAY)
        order = task_order(dag)
        seconds = {
            task_id: run_task_as_worker(dag_id, task_id, run_id, tmp_path / "workers" / f"{i}-{task_id}")
            for i, task_id in enumerate(order)
        }
        print(f"{dag_id} on {len(order)} workers ({results_db.kind}): {seconds}")
        dag_run = DagRun.find(dag_id=dag_id, run_id=run_id)[0]
        assert states(dag_run) == dict.fromkeys(order, "success")
        pd.testing.assert_frame_equal(results_db.rankings(), normal)
        assert_same_ratings(results_db.ratings(), expected_ratings(dataset, DAY))
        assert results_db.tables() == result_tables(results_db)
        # nothing was left on a worker's disk but the export's own artifact (and nothing in any cwd)
        workers = tmp_path / "workers"
        left = sorted(str(path.relative_to(workers)) for path in workers.rglob("*") if path.is_file())
        left = [name for name in left if "/logs/" not in name]
        export = f"{order.index('export_ranking_csv')}-export_ranking_csv"
        assert left == [f"{export}/data/rankings/{dag_id}/2019-01-01.csv"]
