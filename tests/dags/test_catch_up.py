"""A catch-up whose runs finish in any order, on a fresh results database: every (day, method, window) is
ranked, exactly, without a human clearing a task (SQLite and PostgreSQL, real ``dag.test()`` runs)."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from airflow_movielens.dates import as_midnight
from include.movielens import popularity
from include.movielens.windows import WINDOW_DAYS, select_window, window_label
from tests.support.dag_runs import assert_succeeded, run

pytestmark = pytest.mark.usefixtures("airflow_db")
DAYS = [dt.date(2019, 1, 1) + dt.timedelta(days=i) for i in range(10)]


def test_a_shuffled_ten_day_catch_up_ranks_every_window(dags, dataset, workspace) -> None:
    db = workspace["db"]
    order = random.Random(19).sample(DAYS, len(DAYS))
    assert order != DAYS
    for day in order:
        assert_succeeded(run(dags["04_sensor"], day))

    windows = db.ranking_windows()
    ends = [(day + dt.timedelta(days=1)).isoformat() for day in DAYS]
    computed = {(str(r.window_end), r.method, int(r.window_days)) for r in windows.itertuples()}
    assert computed == {(end, m, d) for end in ends for m in popularity.METHODS for d in WINDOW_DAYS}
    ratings, _ = dataset
    rows = db.rankings()
    rows["window_end"] = rows["window_end"].astype(str)
    for end in ends:
        for days in WINDOW_DAYS:
            counts = windows[(windows["window_end"].astype(str) == end) & (windows["window_days"] == days)]
            assert set(counts["n_ratings"]) == {len(select_window(ratings, end, window_label(days)))}
            for method in popularity.METHODS:
                mine = rows[
                    (rows["window_end"] == end) & (rows["method"] == method) & (rows["window_days"] == days)
                ]
                expected = popularity.rank_window(ratings, end=end, method=method, window=window_label(days))
                assert mine["movieId"].tolist() == expected["movieId"].tolist(), (end, method, days)
    # each day's ratings once: the runs that loaded a day before its own run, and that run, replaced it
    assert len(db.ratings()) == len(ratings[ratings["timestamp"] < as_midnight("2019-01-11")])
