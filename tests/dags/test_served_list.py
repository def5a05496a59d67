"""The served list ``popular_movies`` and its decisions ``ranking_choice`` through real daily runs, on SQLite
and PostgreSQL: the default, decisions in force from the end of their horizon only, republishing, fallback,
idempotent reruns."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from include.movielens.backtest import EVAL_COLUMNS
from include.movielens.choice import decide
from include.movielens.evaluation import read_evaluation, store_evaluation
from include.movielens.served import publish_served, read_decision, read_served, store_decisions
from tests.support.dag_runs import assert_succeeded, run

pytestmark = pytest.mark.usefixtures("airflow_db")
DAYS = [dt.date(2019, 1, 9), dt.date(2019, 1, 10)]
E1, E2 = dt.date(2019, 1, 10), dt.date(2019, 1, 11)  # the windows' ends (the days the lists are served)


def evaluations(cutoff: str, best: tuple[str, str], ndcg: float) -> list[dict]:
    rows = []
    for method in ("count", "bayes", "trending"):
        for window in ("1d", "7d", "30d", "365d", "all"):
            value = ndcg if (method, window) == best else 0.01
            rows.append(
                dict(zip(EVAL_COLUMNS, [cutoff, 30, 10, method, window, 800, value, value, 0.1], strict=True))
            )
    return rows


def ranking(db, end: dt.date, method: str, days: int) -> list[int]:
    rows = db.rankings()
    mine = rows[(rows["window_end"].astype(str) == end.isoformat()) & (rows["method"] == method)]
    return mine[mine["window_days"] == days].sort_values("rank")["movieId"].tolist()


def served(end: dt.date) -> pd.DataFrame:
    return read_served(end)


def test_the_served_list_follows_the_decision_in_force_on_each_day(dags, workspace) -> None:
    from include.movielens.database import ResultsDb

    db = workspace["db"]
    for day in DAYS:
        assert_succeeded(run(dags["02_hook"], day))
    for end in (E1, E2):  # before any evaluation: the default, count over 365 days
        assert served(end)["movieId"].tolist() == ranking(db, end, "count", 365)
        assert served(end)["choice_from"].isna().all()

    # A: trending/7 best at cutoff 2018-11-15, known from 2018-12-15; B: bayes/30 far better at cutoff
    # 2018-12-12, known only from 2019-01-11 -- after E1: E1 must not use it (no look-ahead)
    frame = pd.DataFrame(
        evaluations("2018-11-15", ("trending", "7d"), 0.3) + evaluations("2018-12-12", ("bayes", "30d"), 0.9)
    )
    frame["cutoff"] = pd.to_datetime(frame["cutoff"]).dt.date
    store_evaluation(frame)
    result = store_decisions(decide(read_evaluation()))
    assert result == {"decisions": 2, "changed_from": "2018-12-15", "republished": 2}
    assert served(E1)["movieId"].tolist() == ranking(db, E1, "trending", 7)
    assert set(served(E1)["choice_from"].astype(str)) == {"2018-12-15"}
    assert served(E2)["movieId"].tolist() == ranking(db, E2, "bayes", 30)
    assert set(served(E2)["choice_from"].astype(str)) == {"2019-01-11"}
    # the genre lists follow the same decision: each genre's list of the chosen method and window
    by_genre = db.query(
        f"SELECT window_end, genre, method, window_days, COUNT(*) AS n FROM {db.schema_prefix}popular_movies "
        "WHERE genre <> ? GROUP BY window_end, genre, method, window_days",
        ("(all genres)",),
    )
    assert len(set(by_genre["genre"])) > 5
    chosen = {
        str(end): pair for end, pair in (("2019-01-10", ("trending", 7)), ("2019-01-11", ("bayes", 30)))
    }
    assert all(chosen[str(r.window_end)] == (r.method, r.window_days) for r in by_genre.itertuples())
    decision = read_decision(E2)
    assert (decision.method, decision.window_days, decision.runner_up) == ("bayes", 30, ("trending", 7))
    choice = db.query(f"SELECT * FROM {db.schema_prefix}ranking_choice ORDER BY valid_from")
    assert choice[["method", "window_days"]].values.tolist() == [["trending", 7], ["bayes", 30]]
    assert choice["value"].tolist() == pytest.approx([0.3, (0.9 + 0.01) / 2])
    assert choice["cutoffs"].tolist() == ["2018-11-15", "2018-11-15,2018-12-12"]

    before = (
        db.query(f"SELECT * FROM {db.schema_prefix}popular_movies ORDER BY window_end, genre, rank"),
        choice,
    )
    assert store_decisions(decide(read_evaluation()))["republished"] == 0  # idempotent
    assert_succeeded(run(dags["02_hook"], DAYS[1]))  # a rerun of the day serves the same list
    after = db.query(f"SELECT * FROM {db.schema_prefix}popular_movies ORDER BY window_end, genre, rank")
    # the same rows; only the run that published them is the rerun (on Airflow 3 a dag.test() run's id is new)
    pd.testing.assert_frame_equal(after.drop(columns="run_id"), before[0].drop(columns="run_id"))

    # the chosen list missing for a day (not computed): the next list of the decision's order, flagged
    db.execute(
        f"DELETE FROM {db.schema_prefix}movie_rankings WHERE method = 'bayes' AND window_days = 30 "
        "AND window_end = " + ("CAST(? AS DATE)" if db.kind == "postgres" else "?"),
        (E2.isoformat(),),
    )
    tables = ResultsDb.connect("movielens_results")
    with tables.engine.begin() as conn:
        assert publish_served(conn, tables, [E2]) == {E2.isoformat(): "trending/7 (fallback)"}
    assert served(E2)["movieId"].tolist() == ranking(db, E2, "trending", 7)
    assert served(E2)["fallback"].astype(bool).all()
    assert_succeeded(run(dags["02_hook"], DAYS[1]))  # the day's run computes it again: served, no fallback
    again = db.query(f"SELECT * FROM {db.schema_prefix}popular_movies ORDER BY window_end, genre, rank")
    pd.testing.assert_frame_equal(again.drop(columns="run_id"), before[0].drop(columns="run_id"))
