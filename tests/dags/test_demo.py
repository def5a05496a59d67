"""The demo helper (``make demo``, tools/demo_pipeline.py): a range of days through 04_sensor against the live
API, then the last day's served list and top 10."""

from __future__ import annotations

import datetime as dt

import pytest

from airflow_movielens.dates import as_midnight
from tests.results_db import sqlite_results
from tests.support.dag_runs import SENSOR_TIMEOUT, pipeline_env
from tests.support.expected_runs import assert_same_ranking, expected_ranking

pytestmark = pytest.mark.usefixtures("airflow_db")


def test_demo_runs_a_range_and_reads_the_top_10(
    movielens_api, dataset, tmp_path, monkeypatch, capsys
) -> None:
    from tools import demo_pipeline as demo

    # run_days widens the window through these variables; let monkeypatch restore them afterwards
    monkeypatch.setenv("MOVIELENS_START_DATE", "2019-01-01")
    monkeypatch.setenv("MOVIELENS_END_DATE", "2019-01-10")
    monkeypatch.setenv("MOVIELENS_SENSOR_TIMEOUT", str(SENSOR_TIMEOUT))
    monkeypatch.setenv("MOVIELENS_HISTORY_START", "2019-01-13")  # the users' history: the days the demo loads
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
        assert_user_list(out, db, capsys)
    ends = sorted(db.rankings()["window_end"].astype(str).unique())
    assert ends == ["2019-01-14", "2019-01-15"]


def assert_user_list(out: str, db, capsys) -> None:
    """The demo's per-user list: the user of the demo's days who had rated the most of the served top 10 gets
    that list without what they rated before the served day; ``make recommend`` (tools/recommend.py) prints
    the same, and refuses a bad user id."""
    from include.movielens.results import read_ranking
    from tools import recommend

    shown = out.split("One user of 2019-01-13 .. 2019-01-14, the one who had rated most of this top", 1)[1]
    lines = shown.splitlines()
    header = lines[1]
    assert header.startswith("User "), header
    assert "the served list without the movies they rated since 2019-01-13" in header, header
    user = int(header.split()[1].rstrip(","))
    # what the runs loaded (more than the demo's days: the runs load the days their long windows need)
    before = as_midnight("2019-01-15")
    loaded = db.ratings()
    earlier = loaded[loaded["timestamp"] < before]
    active = set(earlier.loc[earlier["timestamp"] >= as_midnight("2019-01-13"), "userId"])
    served = read_ranking("2019-01-15", method="count", window_days=365)  # the served list (the default)
    top = set(served["movieId"].head(10))
    rated_top = earlier[earlier["userId"].isin(active) & earlier["movieId"].isin(top)]
    counts = rated_top.groupby("userId")["movieId"].nunique()
    assert user == min(counts.index[counts == counts.max()])
    seen = set(earlier.loc[earlier["userId"] == user, "movieId"])
    assert seen & top, "premise: the user rated a movie of the top 10"
    expected = [movie for movie in served["movieId"] if movie not in seen][:10]
    table = next(i for i, line in enumerate(lines) if line.split()[:1] == ["#"])
    listed = lines[table + 1 : lines.index("", table)]
    assert [int(line.split()[2]) for line in listed] == expected
    url = f"sqlite:///{db.path}"
    assert recommend.main(["--user-id", str(user), "--url", url]) == 0
    assert capsys.readouterr().out.strip() == "\n".join(lines[1 : table + 1 + len(listed)]).strip()
    assert recommend.main(["--user-id", "0", "--url", url]) == 2
    assert "recommend: user_id must be an integer >= 1, got 0" in capsys.readouterr().err
