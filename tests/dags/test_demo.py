"""The demo helper (``make demo``, tools/demo_pipeline.py): a range of days through 04_sensor against the live
API, then the last day's served list and top 10."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.results_db import sqlite_results
from tests.support.dag_runs import SENSOR_TIMEOUT, pipeline_env
from tests.support.expected_runs import assert_same_ranking, expected_ranking

pytestmark = pytest.mark.usefixtures("airflow_db")


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
