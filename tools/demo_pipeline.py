"""Run one of the DAGs over a range of days with ``dag.test()`` and print the last day's served list.

For ``make demo`` (tools/demo) and for trying the pipeline without a scheduler::

    python -m tools.demo_pipeline --dag 04_sensor --start 2019-01-01 --end 2019-01-03 --top 10 \
        --history-days 365 --evaluate

Prints the served list of the day after ``--end`` (``popular_movies``) and why it was chosen, one user's
list, the lists of :data:`PAIRS` side by side and, with ``--evaluate``, the backtest's best lists.

Needs the environment of tools/demo: ``AIRFLOW_HOME`` (its metadata database is created/migrated),
``AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES='airflow.* astro.*'``, the connections ``movielens`` and
``movielens_results`` (tools/local_connections.py), and the project root plus ``plugins/`` on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import time
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from airflow_movielens.dates import day_after, day_epoch
from include.movielens import settings
from include.movielens.choice import CHOICE_HORIZON_DAYS
from include.movielens.ranking import ALL_GENRES
from include.movielens.reader import PopularReader
from include.movielens.results import read_ranking
from include.movielens.served import read_decision, read_served
from include.movielens.windows import window_label
from tools.recommend import describe as describe_user
from tools.recommend import table

DAGS_FOLDER = settings.PROJECT_ROOT / "dags"
#: The (method, window_days) rankings printed side by side.
PAIRS = [("bayes", 1), ("count", 30), ("trending", 7)]


def load_dag(dag_id: str):
    """Parse the DAGs folder and return one DAG (raising on import errors or an unknown id)."""
    # dag.test() replaces an earlier run of the same date through the ORM, whose DagRunNote has a foreign
    # key to the FAB user table: import those models so a rerun works.
    import airflow.providers.fab.auth_manager.models  # noqa: F401
    from airflow.models import DagBag

    bag = DagBag(dag_folder=str(DAGS_FOLDER), include_examples=False, read_dags_from_db=False)
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    dag = bag.get_dag(dag_id)
    if dag is None:
        raise ValueError(f"no DAG {dag_id!r} in {DAGS_FOLDER} (found {sorted(bag.dag_ids)})")
    for task in dag.tasks:
        task.log.addFilter(_quiet_nested_execute)
    return dag


def _quiet_nested_execute(record: logging.LogRecord) -> bool:
    """Drop Airflow 2.10's "X.execute cannot be called outside TaskInstance!": its ExecutorSafeguard says so
    whenever an operator's ``execute`` calls its base class's (a sensor that may defer does), in every run."""
    return not record.getMessage().endswith("cannot be called outside TaskInstance!")


def run_dag_test(dag, label: str, logical_date: dt.datetime | None = None, conf: dict | None = None) -> str:
    """One ``dag.test()`` run, printed as ``<label>: <state> in <seconds>s``; its state. The run's real start
    is written back: ``dag.test()`` records the logical date, so ``make up``'s UI would show years."""
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    wall_start = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    dag_run = dag.test(execution_date=logical_date, run_conf=conf)
    state = str(dag_run.state)
    print(f"{label}: {state} in {time.perf_counter() - started:.1f}s", flush=True)
    with create_session() as session:
        session.query(DagRun).filter(DagRun.id == dag_run.id).update({DagRun.start_date: wall_start})
    return state


def run_days(dag_id: str, start: dt.date, end: dt.date) -> list[str]:
    """``dag.test()`` each day ``start`` .. ``end`` (inclusive); their states. The schedule window
    (``MOVIELENS_START_DATE``/``_END_DATE``) is widened to the range: outside it a DAG runs no task."""
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    window_start, window_end = settings.schedule_window()
    os.environ["MOVIELENS_START_DATE"] = min(window_start, start).isoformat()
    os.environ["MOVIELENS_END_DATE"] = max(window_end, day_after(end)).isoformat()
    dag = load_dag(dag_id)
    # A manual run covers the schedule interval that ends at its logical date: the next midnight.
    return [
        run_dag_test(dag, f"{dag_id} {day}", dt.datetime.combine(day_after(day), dt.time(), dt.UTC))
        for day in pd.date_range(start, end).date
    ]


def top_movies(
    last_day: str | dt.date | None = None, n: int = 10, *, method: str = "bayes", window_days: int = 1
) -> pd.DataFrame:
    """The ``n`` best of the (method, window) ranking in ``movie_rankings`` ending on ``last_day`` (default:
    the latest)."""
    end = None if last_day is None else day_after(last_day)
    return read_ranking(end, method=method, window_days=window_days, limit=n)


def side_by_side(last_day: str | dt.date, n: int = 10) -> str:
    """The top ``n`` of each ranking of :data:`PAIRS` ending after ``last_day``, one column per pair."""
    columns = {}
    for method, days in PAIRS:
        top = top_movies(last_day, n, method=method, window_days=days)
        cells = [f"{row.title or row.movieId} ({row.n_ratings})"[:38] for row in top.itertuples()]
        pad = ["(not computed)" if top.empty else ""] * (n - len(cells))
        columns[f"{method}, {window_label(days)}"] = cells + pad
    return pd.DataFrame(columns, index=pd.RangeIndex(1, n + 1, name="rank")).to_string()


def user_list(start: dt.date, served_end: dt.date, k: int) -> str:
    """The per-user list of ``served_end`` for a user who rated in ``[start, served_end)``: the one who had
    rated the most of the served top ``k`` (the exclusion shows), else the first."""
    reader = PopularReader.from_connection()
    rated, served = reader.db.ratings.c, reader.db.served.c
    before = day_epoch(served_end)
    active = sa.select(rated.userId).where((rated.timestamp >= day_epoch(start)) & (rated.timestamp < before))
    top = sa.select(served.movieId).where(
        (served.window_end == served_end) & (served.genre == ALL_GENRES) & (served["rank"] <= k)
    )
    most = (
        sa.select(rated.userId)
        .where(rated.userId.in_(active) & rated.movieId.in_(top) & (rated.timestamp < before))
        .group_by(rated.userId)
        .order_by(sa.func.count(sa.distinct(rated.movieId)).desc(), rated.userId)
    )
    with reader.engine.connect() as conn:
        first = active.order_by(rated.userId)
        user = conn.execute(most.limit(1)).scalar() or conn.execute(first.limit(1)).scalar()
    if user is None:
        return "(no ratings in the window)"
    try:
        return describe_user(reader.for_user(int(user), day=served_end, k=k))
    except ValueError as exc:  # e.g. a history not loaded from MOVIELENS_HISTORY_START
        return f"(no per-user list: {exc})"


def describe(served: pd.DataFrame) -> str:
    """``count over 365 days`` for a served list (empty: ``nothing served``)."""
    if served.empty:
        return "nothing served"
    return f"{served['method'].iloc[0]} over {int(served['window_days'].iloc[0])} days"


def explain(decision, served: pd.DataFrame) -> str:
    """Why this list is served: the decision in force and its evidence, or the default."""
    if decision.valid_from is None:
        why = (
            f"the default before any evaluation whose {CHOICE_HORIZON_DAYS}-day horizon has ended "
            f"({decision.method} over {decision.window_days} days)"
        )
    else:
        why = (
            f"chosen from {decision.valid_from}: mean {decision.metric} {decision.value:.4f} over the "
            f"cutoff(s) {', '.join(map(str, decision.cutoffs))} (at least {decision.users} users each)"
        )
        if decision.runner_up:
            method, days = decision.runner_up
            why += f"; runner-up {method} over {days} days, {decision.runner_up_value:.4f}"
        if decision.kept:
            why += " (kept: the runner-up is not better by the switching margin)"
    fallback = not served.empty and bool(served["fallback"].iloc[0])
    note = "; FALLBACK: the chosen list is not computed for this day" if fallback else ""
    return f"{describe(served)}: {why}{note}"


def save_chart(frame: pd.DataFrame, path: str | Path, title: str) -> Path:
    """A horizontal bar chart of the ranking's scores (best on top), written to ``path`` (PNG)."""
    from tools.evaluate import save_figure, subplots

    labels = [f"{row.rank}. {row.title or row.movieId} ({row.n_ratings})" for row in frame.itertuples()]
    fig, ax = subplots((10, 0.35 * max(len(frame), 1) + 1.2))
    ax.barh(labels[::-1], frame["score"].tolist()[::-1], color="#4c72b0")
    if len(frame):
        low, high = frame["score"].min(), frame["score"].max()
        ax.set_xlim(low - (high - low) * 0.5 - 0.05, high + (high - low) * 0.1 + 0.05)
    ax.set_xlabel("score of the list's method   (label: rank. title (ratings))")
    ax.set_title(title)
    return save_figure(fig, Path(path))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dag", default="04_sensor", help="DAG id (default 04_sensor)")
    parser.add_argument("--start", type=dt.date.fromisoformat, default=settings.DEFAULT_START_DATE)
    parser.add_argument("--end", type=dt.date.fromisoformat, default=None, help="last day (default: start)")
    parser.add_argument("--top", type=int, default=10, help="how many movies to print")
    parser.add_argument("--chart", type=Path, help="also save a PNG chart of the last day's top 20")
    parser.add_argument("--no-init-db", action="store_true", help="do not create/migrate the metadata DB")
    parser.add_argument("--history-days", type=int, default=0, help="first load N days before --start")
    parser.add_argument("--evaluate", action="store_true", help="run 06_evaluation and print its best pair")
    parser.add_argument("--eval-chart", type=Path, help="nDCG chart of 06_evaluation's table")
    args = parser.parse_args(argv)
    end = args.end or args.start
    if not args.no_init_db:
        from airflow.utils import db

        db.initdb(load_connections=False)
    states = []
    if args.history_days > 0:
        first, last = args.start - dt.timedelta(days=args.history_days), args.start - dt.timedelta(days=1)
        conf = {"history_start": first.isoformat(), "history_end": args.start.isoformat()}
        states.append(run_dag_test(load_dag("05_history"), f"05_history {first} .. {last}", conf=conf))
    states += run_days(args.dag, args.start, end)
    evaluation = pd.DataFrame()
    if args.evaluate:
        from include.movielens.evaluation import read_evaluation

        label = "06_evaluation (backtest, then the choice of the served list)"
        state = run_dag_test(load_dag("06_evaluation"), label)
        states.append("success" if state in ("success", "skipped") else state)
        evaluation = read_evaluation()
    served_end = day_after(end)
    served = read_served(served_end)
    print(f"\nServed list of {served_end} (popular_movies: ratings before that day), top {args.top}:")
    print(explain(read_decision(served_end), served))
    print("(no ranking stored for this window)" if served.empty else table(served.head(args.top)))
    if not served.empty:
        print(
            f"\nOne user of {args.start} .. {end}, the one who had rated most of this top (make recommend):"
        )
        print(user_list(args.start, served_end, args.top))
    print(f"\nThe other lists of {served_end}, side by side (top {args.top}, ratings):")
    print(side_by_side(end, args.top))
    if not evaluation.empty:
        from include.movielens.backtest import summarize
        from tools.evaluate import save_chart as save_eval_chart

        print("\nBacktest over the loaded ratings (ranking_evaluation), best first:")
        print(summarize(evaluation).head(5).to_string(index=False))
        if args.eval_chart:
            title = "06_evaluation: nDCG by method and window"
            print(f"Evaluation chart: {save_eval_chart(evaluation, args.eval_chart, title)}")
    if args.chart:
        top20 = served.head(20)
        title = f"{args.dag}: served list of {served_end} ({describe(served)}), top {len(top20)}"
        print(f"\nChart: {save_chart(top20, args.chart, title)}")
    return 0 if all(state == "success" for state in states) else 1


if __name__ == "__main__":
    sys.exit(main())
