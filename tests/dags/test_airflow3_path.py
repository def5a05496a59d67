"""The DAGs' Airflow 3 path (TaskFlow + common-sql, no Astro SDK): real ``dag.test()`` runs of the serialized
DAGs on SQLite and PostgreSQL, checked against :mod:`include.movielens.popularity` (the pure reference), and
the Astro SDK path's rows on the same data (the other environment's interpreter, in a subprocess).

On Airflow 2, tests/dags/test_one_interval.py and its neighbours run the daily DAGs through the Astro SDK;
the runs here are the Airflow 3 suite's.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess

import pandas as pd
import pytest

from include.movielens import popularity
from include.movielens.windows import WINDOW_DAYS, select_window, window_label
from tests.environment import REPO_ROOT, other_airflow, require
from tests.results_db import ResultsDb, results_database
from tests.support.compat import AIRFLOW_3, run_dag_test, serialized
from tests.support.dag_runs import DAG_IDS, assert_succeeded, run, states
from tests.support.expected_runs import RESULT_TABLES

pytestmark = pytest.mark.usefixtures("airflow_db")
airflow3_only = pytest.mark.skipif(
    not AIRFLOW_3, reason=other_airflow("Airflow 2 runs these DAGs (Astro SDK path) in test_one_interval.py")
)

DAY = dt.date(2019, 1, 3)


def assert_ranks_like_the_reference(db: ResultsDb, ratings: pd.DataFrame, day: dt.date) -> None:
    """Every (method, window) of ``day``'s run is the reference ranking of ``popularity.rank_window``."""
    end = (day + dt.timedelta(days=1)).isoformat()
    rows = db.rankings()
    rows = rows[rows["window_end"].astype(str) == end]
    windows = db.ranking_windows()
    windows = windows[windows["window_end"].astype(str) == end]
    assert sorted(zip(windows["method"], windows["window_days"], strict=True)) == sorted(
        (method, days) for method in popularity.METHODS for days in WINDOW_DAYS
    )
    for days in WINDOW_DAYS:
        counted = windows.loc[windows["window_days"] == days, "n_ratings"]
        assert set(counted) == {len(select_window(ratings, end, window_label(days)))}
        for method in popularity.METHODS:
            mine = rows[(rows["method"] == method) & (rows["window_days"] == days)].sort_values("rank")
            expected = popularity.rank_window(ratings, end=end, method=method, window=window_label(days))
            assert len(mine) > 0
            assert mine["movieId"].tolist() == expected["movieId"].tolist(), (method, days)
            assert mine["n_ratings"].tolist() == expected["n_ratings"].tolist(), (method, days)
            assert mine["score"].to_numpy() == pytest.approx(expected["score"].to_numpy(), rel=1e-9)


@airflow3_only
@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_daily_dag_ranks_every_window(dags, dataset, workspace, dag_id: str) -> None:
    db, data_dir = workspace["db"], workspace["data_dir"]
    dag_run = run(dags[dag_id], DAY)
    assert_succeeded(dag_run)
    ratings, _ = dataset
    assert_ranks_like_the_reference(db, ratings, DAY)
    # the interval and the year before it (fill_history) are loaded: every rating before the window's end
    before_end = ratings[ratings["timestamp"] < popularity.as_midnight(DAY + dt.timedelta(days=1))]
    assert len(db.ratings()) == len(before_end)
    exported = pd.read_csv(data_dir / "rankings" / dag_id / f"{DAY.isoformat()}.csv")
    assert len(exported) == len(db.rankings())
    prefix = db.schema_prefix
    assert db.tables() == [f"{prefix}{name}" for name in RESULT_TABLES]


@airflow3_only
def test_history_then_the_asset_scheduled_evaluation(dags, dataset, workspace) -> None:
    from include.movielens.backtest import RatingLog, evaluate

    db = workspace["db"]
    history = {"history_start": "2019-01-01", "history_end": "2019-01-15"}
    loaded = run_dag_test(dags["05_history"], dt.datetime(2019, 2, 1, tzinfo=dt.UTC), run_conf=history)
    assert_succeeded(loaded)
    assert len(db.ratings()) == len(dataset[0])
    evaluation = dags["06_evaluation"]
    condition = serialized(evaluation).timetable.asset_condition
    assert [asset.uri for asset in condition.objects] == ["astro://movielens_results@/?table=movie_rankings"]
    conf = {"cutoffs": ["2019-01-08"], "horizon_days": 5, "k": 10}
    assert_succeeded(run_dag_test(evaluation, dt.datetime(2019, 2, 2, tzinfo=dt.UTC), run_conf=conf))
    stored = db.query(f'SELECT * FROM {db.schema_prefix}ranking_evaluation ORDER BY method, "window"')
    expected = evaluate(RatingLog.from_frame(dataset[0]), ["2019-01-08"], horizon_days=5, k=10)
    expected = expected.sort_values(["method", "window"]).reset_index(drop=True)
    assert len(stored) == len(expected) == 16
    assert stored["method"].tolist() == expected["method"].tolist()
    assert stored["users"].tolist() == expected["users"].tolist()
    assert stored["ndcg"].to_numpy() == pytest.approx(expected["ndcg"].to_numpy(), rel=1e-12)
    again = run_dag_test(evaluation, dt.datetime(2019, 2, 3, tzinfo=dt.UTC), run_conf=conf)
    assert states(again) == {"evaluate_rankings": "skipped", "choose_list": "success"}


# ------------------------------------------------------------------------------------------------------
# The two paths on the same data: identical rows
# ------------------------------------------------------------------------------------------------------
SDK_PYTHON = REPO_ROOT / ".venv" / "bin" / "python"
COMPARED_DAG = "02_hook"


def snapshot(db: ResultsDb) -> dict[str, pd.DataFrame]:
    """Every result table's rows in a canonical order, without the columns that say when or by which run
    they were written (a ``dag.test()`` run's id is its start on Airflow 3)."""
    tables = {}
    for name in RESULT_TABLES:
        rows = db.query(f"SELECT * FROM {db.schema_prefix}{name}")
        rows = rows.drop(columns=[c for c in rows.columns if c.endswith("_at") or c == "run_id"])
        tables[name] = rows.sort_values(list(rows.columns), kind="mergesort").reset_index(drop=True)
    return tables


@pytest.mark.skipif(
    not AIRFLOW_3, reason=other_airflow("the Airflow 3 suite runs this comparison (this one in a subprocess)")
)
def test_the_astro_sdk_path_publishes_identical_rows(request, dags, workspace, tmp_path, monkeypatch) -> None:
    require(SDK_PYTHON.exists(), f"the Astro SDK environment {SDK_PYTHON.parent.parent} is missing")
    db = workspace["db"]
    assert_succeeded(run(dags[COMPARED_DAG], DAY))
    server = request.getfixturevalue("postgres_server") if db.kind == "postgres" else None
    with results_database(db.kind, tmp_path / "sdk", server) as sdk_db:
        # the child's own Airflow home and environment; the same live API (AIRFLOW_CONN_MOVIELENS)
        monkeypatch.delenv("PYTHONPATH", raising=False)
        command = [
            str(SDK_PYTHON), "-m", "tests.support.publish_day", "--dag", COMPARED_DAG,
            "--day", DAY.isoformat(), "--results", sdk_db.connection_json,
            "--home", str(tmp_path / "sdk-home"), "--data-dir", str(tmp_path / "sdk-data"),
        ]  # fmt: skip
        child = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
        assert child.returncode == 0, child.stdout[-3000:] + child.stderr[-3000:]
        outcome = json.loads(child.stdout.strip().splitlines()[-1])
        assert outcome["path"] == "astro-sdk", outcome
        assert outcome["airflow"].startswith("2."), outcome
        print(f"{COMPARED_DAG} {DAY} on Airflow {outcome['airflow']} (Astro SDK): {outcome['seconds']} s")
        theirs = snapshot(sdk_db)
    mine = snapshot(db)
    assert sorted(mine) == sorted(theirs)
    for name in RESULT_TABLES:
        assert len(mine[name]) > 0, name
        pd.testing.assert_frame_equal(mine[name], theirs[name], check_exact=True, obj=name)
    exported = workspace["data_dir"] / "rankings" / COMPARED_DAG / f"{DAY.isoformat()}.csv"
    sdk_exported = tmp_path / "sdk-data" / "rankings" / COMPARED_DAG / f"{DAY.isoformat()}.csv"
    assert exported.read_bytes() == sdk_exported.read_bytes()
