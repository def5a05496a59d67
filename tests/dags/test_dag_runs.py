"""End-to-end ``dag.test()`` runs of the four DAGs against the live API (tests/conftest.py ``movielens_api``).

The expected ranking is computed here, independently of include/movielens/ranking.py, with plain pandas from
the dataset's ratings.csv/movies.csv; results are read back from the real results database (the SQLite file
named by the connection's host, or a throwaway PostgreSQL database) and from the CSV files.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"
DAG_IDS = ["01_python", "02_hook", "03_operator", "04_sensor"]
DAY = dt.date(2019, 1, 1)
EMPTY_DAY = dt.date(2019, 2, 1)  # the test dataset has no ratings after 2019-01-14
SENSOR_TIMEOUT = 4
SENSOR_POKE_INTERVAL = 1
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
@pytest.fixture(scope="module")
def dataset(movielens_api) -> tuple[pd.DataFrame, pd.DataFrame]:
    ratings = pd.read_csv(movielens_api.ratings_csv)
    movies = pd.read_csv(movielens_api.movies_csv, dtype={"title": str, "genres": str}, keep_default_na=False)
    return ratings, movies


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


def assert_same_ranking(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    actual = actual[COLUMNS].reset_index(drop=True).copy()
    for col in ("window_start", "window_end"):
        actual[col] = actual[col].astype(str)
    assert len(actual) == len(expected) > 0
    exact = ["window_start", "window_end", "rank", "movieId", "title", "genres", "n_ratings"]
    pd.testing.assert_frame_equal(actual[exact], expected[exact], check_dtype=False)
    for col in ("mean_rating", "score"):
        assert actual[col].to_numpy() == pytest.approx(expected[col].to_numpy(), rel=1e-12, abs=1e-12)


# ------------------------------------------------------------------------------------------------------
# Environment: data dir, results connection, DAGs parsed with a short sensor timeout
# ------------------------------------------------------------------------------------------------------
def sqlite_conn_json(path: Path) -> str:
    # JSON form with `host` = file path: the Astro SDK's SQLite database opens `host` (a URI would not).
    return json.dumps({"conn_type": "sqlite", "host": str(path)})


@pytest.fixture(scope="module")
def dags(movielens_api, tmp_path_factory) -> Iterator[dict]:
    # dag.test() deletes an existing run of the same date through the ORM, whose DagRunNote maps a foreign
    # key to the FAB user table: its models must be imported for a rerun to work.
    import airflow.providers.fab.auth_manager.models  # noqa: F401
    from airflow.models import DagBag

    with pytest.MonkeyPatch.context() as patch:
        # the window override of include/movielens/settings.py, so that 2019-02-01 is inside the DAGs' range
        patch.setenv("MOVIELENS_END_DATE", "2019-12-31")
        patch.setenv("MOVIELENS_SENSOR_TIMEOUT", str(SENSOR_TIMEOUT))
        patch.setenv("MOVIELENS_SENSOR_POKE_INTERVAL", str(SENSOR_POKE_INTERVAL))
        bag = DagBag(dag_folder=str(DAGS_FOLDER), include_examples=False)
        assert not bag.import_errors, bag.import_errors
        yield {dag_id: bag.get_dag(dag_id) for dag_id in DAG_IDS}


def fresh_dag(dag_id: str):
    """A newly parsed DAG, with the ``dags`` fixture's settings (request ``dags`` too).

    ``dag.test()`` runs the tasks in this process, and a run leaves state in the parsed task objects: its
    conf resolves their ``Param`` objects in place (a deep copy of the DAG still shares them), and the SDK
    stores the results database's schema in their ``Table`` objects. Runs with conf or another results
    database use their own DAG, so that they change nothing for the module's shared ones.
    """
    from airflow.models import DagBag

    bag = DagBag(dag_folder=str(DAGS_FOLDER / f"{dag_id}.py"), include_examples=False)
    assert not bag.import_errors, bag.import_errors
    return bag.dags[dag_id]


@pytest.fixture
def workspace(tmp_path, monkeypatch) -> dict:
    """A fresh data dir and a fresh SQLite results file for one test."""
    data_dir, results = tmp_path / "data", tmp_path / "results.db"
    monkeypatch.setenv("MOVIELENS_DATA_DIR", str(data_dir))
    monkeypatch.setenv("AIRFLOW_CONN_MOVIELENS_RESULTS", sqlite_conn_json(results))
    return {"data_dir": data_dir, "results": results}


def run(dag, day: dt.date, **conf):
    """``dag.test()`` of the interval ``[day, day + 1)``.

    A manual run's data interval is the schedule interval that *ends* at its logical date, so the logical
    date is the day after the window (a scheduled run of ``day`` covers the same window).
    """
    logical_date = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC) + dt.timedelta(days=1)
    started = time.perf_counter()
    dag_run = dag.test(execution_date=logical_date, run_conf=conf)
    elapsed = time.perf_counter() - started
    print(f"dag.test {dag.dag_id} {day}: {dag_run.state} in {elapsed:.1f}s")
    return dag_run


def states(dag_run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def assert_succeeded(dag_run) -> None:
    assert dag_run.state == "success", states(dag_run)
    assert set(states(dag_run).values()) == {"success"}, states(dag_run)


def sqlite_rows(path: Path, day: dt.date | None = None) -> pd.DataFrame:
    with sqlite3.connect(path) as conn:
        where, args = ("WHERE window_start = ?", (day.isoformat(),)) if day else ("", ())
        return pd.read_sql_query(
            f"SELECT * FROM movie_rankings {where} ORDER BY window_start, rank", conn, params=args
        )


def sqlite_tables(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return sorted(row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))


def ranking_csv(data_dir: Path, dag_id: str, day: dt.date) -> Path:
    return data_dir / "rankings" / dag_id / f"{day.isoformat()}.csv"


def ratings_json(data_dir: Path, dag_id: str, day: dt.date) -> Path:
    return data_dir / "ratings" / dag_id / f"{day.isoformat()}.json"


# ------------------------------------------------------------------------------------------------------
# One interval through each DAG, SQLite results
# ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sqlite_runs(dags, tmp_path_factory) -> Iterator[dict]:
    """Run every DAG once for DAY into one SQLite file; keep what each run left behind."""
    root = tmp_path_factory.mktemp("sqlite-runs")
    data_dir, results = root / "data", root / "results.db"
    outcome: dict = {"data_dir": data_dir, "results": results, "runs": {}}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOVIELENS_DATA_DIR", str(data_dir))
        patch.setenv("AIRFLOW_CONN_MOVIELENS_RESULTS", sqlite_conn_json(results))
        for dag_id in DAG_IDS:
            dag_run = run(dags[dag_id], DAY)
            outcome["runs"][dag_id] = {
                "dag_run": dag_run,
                "states": states(dag_run),
                "rows": sqlite_rows(results, DAY),
                "tables": sqlite_tables(results),
            }
        yield outcome


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_dag_ranks_one_interval_into_sqlite_and_csv(sqlite_runs, dataset, dag_id: str) -> None:
    result = sqlite_runs["runs"][dag_id]
    assert_succeeded(result["dag_run"])
    expected = expected_ranking(dataset, DAY)
    assert len(expected) == 100  # the day has ~4,000 ratings: a full top 100
    assert_same_ranking(result["rows"], expected)
    assert_same_ranking(pd.read_csv(ranking_csv(sqlite_runs["data_dir"], dag_id, DAY)), expected)
    # ratings travel as a file: every rating of the interval, and only those
    ratings = json.loads(ratings_json(sqlite_runs["data_dir"], dag_id, DAY).read_text())
    ratings_csv, _ = dataset
    start = int(dt.datetime(DAY.year, DAY.month, DAY.day, tzinfo=dt.UTC).timestamp())
    in_window = ratings_csv["timestamp"].between(start, start + 86_399)
    assert len(ratings) == int(in_window.sum())
    # one results table, temporary tables dropped by aql.cleanup
    assert result["tables"] == ["movie_rankings"]


def test_all_four_dags_give_identical_rankings(sqlite_runs) -> None:
    for dag_id in DAG_IDS:  # identical only counts if every one of them ran to success
        assert_succeeded(sqlite_runs["runs"][dag_id]["dag_run"])
    csvs = {dag_id: ranking_csv(sqlite_runs["data_dir"], dag_id, DAY).read_bytes() for dag_id in DAG_IDS}
    assert len(set(csvs.values())) == 1, "the DAGs' CSV files differ"
    first = sqlite_runs["runs"][DAG_IDS[0]]["rows"]
    for dag_id in DAG_IDS[1:]:
        pd.testing.assert_frame_equal(sqlite_runs["runs"][dag_id]["rows"], first)
    # all four wrote the same window: one set of rows, never duplicated
    assert len(sqlite_rows(sqlite_runs["results"])) == 100


def test_rerun_of_an_interval_is_idempotent(sqlite_runs, dags) -> None:
    data_dir, results = sqlite_runs["data_dir"], sqlite_runs["results"]
    before_rows = sqlite_rows(results)
    before_files = {
        path: path.read_bytes()
        for path in (ranking_csv(data_dir, "02_hook", DAY), ratings_json(data_dir, "02_hook", DAY))
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOVIELENS_DATA_DIR", str(data_dir))
        patch.setenv("AIRFLOW_CONN_MOVIELENS_RESULTS", sqlite_conn_json(results))
        assert_succeeded(run(dags["02_hook"], DAY))
    after_rows = sqlite_rows(results)
    assert len(after_rows) == len(before_rows) == 100
    pd.testing.assert_frame_equal(after_rows, before_rows)
    for path, content in before_files.items():
        assert path.read_bytes() == content, f"{path.name} changed on rerun"
    assert sqlite_tables(results) == ["movie_rankings"]


# ------------------------------------------------------------------------------------------------------
# Consecutive intervals, params, empty intervals
# ------------------------------------------------------------------------------------------------------
def test_two_consecutive_intervals(dags, dataset, workspace) -> None:
    days = [dt.date(2019, 1, 2), dt.date(2019, 1, 3)]
    for day in days:
        assert_succeeded(run(dags["03_operator"], day))
    rows = sqlite_rows(workspace["results"])
    assert sorted(rows["window_start"].unique()) == [day.isoformat() for day in days]
    for day in days:
        expected = expected_ranking(dataset, day)
        assert_same_ranking(rows[rows["window_start"] == day.isoformat()], expected)
        assert_same_ranking(pd.read_csv(ranking_csv(workspace["data_dir"], "03_operator", day)), expected)
    assert sorted(p.name for p in (workspace["data_dir"] / "rankings" / "03_operator").iterdir()) == [
        "2019-01-02.csv",
        "2019-01-03.csv",
    ]


def test_params_override_and_shorter_rerun_leaves_no_stale_rows(dags, dataset, workspace) -> None:
    dag = fresh_dag("02_hook")  # this run's conf must not leak into the module's shared DAGs
    assert_succeeded(run(dag, DAY))
    assert len(sqlite_rows(workspace["results"])) == 100
    assert_succeeded(run(dag, DAY, top_n=10, min_ratings=5, prior_weight=25))
    rows = sqlite_rows(workspace["results"])
    assert_same_ranking(rows, expected_ranking(dataset, DAY, min_ratings=5, prior_weight=25, top_n=10))


def test_interval_without_ratings_skips_ranking_and_clears_the_window(dags, workspace) -> None:
    # old rows first: DAY's ranking, and a copy of it filed under EMPTY_DAY (as if ranked before a fix)
    assert_succeeded(run(dags["02_hook"], DAY))
    with sqlite3.connect(workspace["results"]) as conn:
        conn.execute(
            "INSERT INTO movie_rankings SELECT ?, ?, rank, movieId, title, genres, n_ratings, mean_rating, "
            "score FROM movie_rankings WHERE window_start = ?",
            (EMPTY_DAY.isoformat(), (EMPTY_DAY + dt.timedelta(days=1)).isoformat(), DAY.isoformat()),
        )
    assert len(sqlite_rows(workspace["results"], EMPTY_DAY)) == 100

    dag_run = run(dags["02_hook"], EMPTY_DAY)
    assert dag_run.state == "success", states(dag_run)
    assert states(dag_run)["rank_movies"] == "skipped"
    assert states(dag_run)["publish_ranking"] == "success"
    csv = pd.read_csv(ranking_csv(workspace["data_dir"], "02_hook", EMPTY_DAY))
    assert list(csv.columns) == COLUMNS
    assert csv.empty
    assert sqlite_rows(workspace["results"], EMPTY_DAY).empty  # the window's old rows are gone
    assert len(sqlite_rows(workspace["results"], DAY)) == 100  # and only they


def test_sensor_times_out_on_an_interval_without_ratings(dags, workspace) -> None:
    from airflow.models.taskreschedule import TaskReschedule
    from airflow.utils.session import create_session

    dag = dags["04_sensor"]
    sensor = dag.get_task("wait_for_ratings")
    assert sensor.mode == "reschedule"
    assert sensor.timeout == SENSOR_TIMEOUT
    started = time.perf_counter()
    dag_run = run(dag, EMPTY_DAY)
    elapsed = time.perf_counter() - started
    result = states(dag_run)
    assert dag_run.state == "failed", result
    assert result["wait_for_ratings"] == "failed"
    assert result["fetch_ratings"] == "upstream_failed"
    assert result["publish_ranking"] == "upstream_failed"
    assert SENSOR_TIMEOUT <= elapsed < SENSOR_TIMEOUT + 60
    with create_session() as session:
        reschedules = (
            session.query(TaskReschedule)
            .filter(TaskReschedule.dag_id == dag.dag_id, TaskReschedule.run_id == dag_run.run_id)
            .count()
        )
    assert reschedules >= 2  # it waited by rescheduling, not by holding a worker slot
    assert not ratings_json(workspace["data_dir"], "04_sensor", EMPTY_DAY).exists()


# ------------------------------------------------------------------------------------------------------
# PostgreSQL results database
# ------------------------------------------------------------------------------------------------------
def forget_connection_types() -> None:
    """The Astro SDK caches each connection id's type for the life of the process; tests switch it."""
    from astro.databases import _get_conn

    _get_conn.cache_clear()


@pytest.fixture
def postgres_results(postgres_server, monkeypatch, tmp_path) -> Iterator[Callable[[str], pd.DataFrame]]:
    """A fresh database on the session's PostgreSQL as ``movielens_results``; yields its query function."""
    with postgres_server.database() as name:
        monkeypatch.setenv("MOVIELENS_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("AIRFLOW_CONN_MOVIELENS_RESULTS", postgres_server.connection_json(name))
        forget_connection_types()
        try:
            yield functools.partial(postgres_server.query, name)
        finally:
            forget_connection_types()


def test_postgres_results(dags, dataset, postgres_results, tmp_path) -> None:
    # the SDK writes the database's schema (PostgreSQL: tmp_astro) into the parsed tasks' Table objects:
    # a fresh DAG, so that the module's shared DAGs keep writing to SQLite, whatever the test order
    dag = fresh_dag("04_sensor")
    assert_succeeded(run(dag, DAY))
    rows = postgres_results('SELECT * FROM public.movie_rankings ORDER BY window_start, "rank"')
    expected = expected_ranking(dataset, DAY)
    assert_same_ranking(rows, expected)
    assert_same_ranking(pd.read_csv(ranking_csv(tmp_path / "data", "04_sensor", DAY)), expected)
    csv_bytes = ranking_csv(tmp_path / "data", "04_sensor", DAY).read_bytes()

    assert_succeeded(run(dag, DAY))  # rerun: same rows, same bytes
    again = postgres_results('SELECT * FROM public.movie_rankings ORDER BY window_start, "rank"')
    pd.testing.assert_frame_equal(again, rows)
    assert ranking_csv(tmp_path / "data", "04_sensor", DAY).read_bytes() == csv_bytes
    tables = postgres_results(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')",
    )
    assert tables.values.tolist() == [["public", "movie_rankings"]]  # the SDK's temp tables are gone
    key = postgres_results(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) "
        "WHERE i.indrelid = 'public.movie_rankings'::regclass AND i.indisprimary",
    )
    assert sorted(key["attname"]) == ["rank", "window_start"]


# ------------------------------------------------------------------------------------------------------
# The demo helper (make demo): a range of days through 04_sensor, then the last day's top 10
# ------------------------------------------------------------------------------------------------------
def test_demo_runs_a_range_and_reads_the_top_10(
    movielens_api, dataset, workspace, monkeypatch, capsys
) -> None:
    from include.movielens import demo

    # run_range widens the window through these variables; let monkeypatch restore them afterwards
    monkeypatch.setenv("MOVIELENS_START_DATE", "2019-01-01")
    monkeypatch.setenv("MOVIELENS_END_DATE", "2019-01-10")
    monkeypatch.setenv("MOVIELENS_SENSOR_TIMEOUT", str(SENSOR_TIMEOUT))
    chart = workspace["data_dir"] / "top20.png"
    assert (
        demo.main(["--start", "2019-01-13", "--end", "2019-01-14", "--no-init-db", "--chart", str(chart)])
        == 0
    )
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = capsys.readouterr().out
    assert "04_sensor 2019-01-13: success" in out
    assert "04_sensor 2019-01-14: success" in out
    top = demo.top_movies("2019-01-14", 10)
    assert_same_ranking(top, expected_ranking(dataset, dt.date(2019, 1, 14)).head(10))
    assert_same_ranking(demo.top_movies(n=10), expected_ranking(dataset, dt.date(2019, 1, 14)).head(10))
    assert sorted(sqlite_rows(workspace["results"])["window_start"].unique()) == ["2019-01-13", "2019-01-14"]
