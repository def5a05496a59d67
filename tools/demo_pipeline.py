"""Run one of the DAGs over a range of days with ``dag.test()`` and print the last day's served list.

For ``make demo`` (tools/demo) and for trying the pipeline without a scheduler; a command-line tool, so it
lives here and not on the workers' import path (include/)::

    python -m tools.demo_pipeline --dag 04_sensor --start 2019-01-01 --end 2019-01-03 --top 10 \
        --history-days 365 --evaluate

``--history-days N`` first loads the N days before ``--start`` in one run of 05_history. ``--evaluate`` then
runs 06_evaluation (the backtest over the loaded ratings, and the choice of the served list). The headline is
the served list of the day after ``--end`` (``popular_movies``) with the reason it was chosen and the
runner-up; the top 10 of :data:`PAIRS` follow side by side, then the backtest's best lists.

Needs the usual environment: ``AIRFLOW_HOME`` (a metadata database is created/migrated there),
``AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES='airflow.* astro.*'``, the connections ``movielens``
(the API) and ``movielens_results`` (e.g. ``AIRFLOW_CONN_MOVIELENS_RESULTS='{"conn_type": "sqlite",
"host": "/abs/path/results.db"}'``), and the project root plus ``plugins/`` on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from airflow_movielens.dates import day_after, day_epoch
from include.movielens import settings
from include.movielens.ranking import ALL_GENRES
from include.movielens.results import read_ranking
from include.movielens.served import read_decision, read_served
from include.movielens.windows import window_label

DAGS_FOLDER = settings.PROJECT_ROOT / "dags"
#: The (method, window_days) rankings printed side by side.
PAIRS = [("bayes", 1), ("count", 30), ("trending", 7)]


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def run_range(
    dag_id: str,
    start: dt.date,
    end: dt.date,
    *,
    conf: dict | None = None,
    dags_folder: Path = DAGS_FOLDER,
    init_db: bool = True,
    on_day: Callable[[dt.date, str, float], None] | None = None,
) -> list[tuple[dt.date, str, float]]:
    """``dag.test()`` the windows ``[day, day + 1)`` for every day from ``start`` to ``end`` (inclusive).

    The DAGs' schedule window is widened to the range when needed (``MOVIELENS_START_DATE``/``_END_DATE``),
    since a DAG has no task to run outside its start/end dates.

    :param on_day: called with ``(day, run state, seconds)`` as soon as each day's run ends.
    :return: ``(day, run state, seconds)`` per day.
    """
    days = _days(start, end)
    window_start, window_end = settings.schedule_window()
    os.environ["MOVIELENS_START_DATE"] = min(window_start, start).isoformat()
    os.environ["MOVIELENS_END_DATE"] = max(window_end, end + dt.timedelta(days=1)).isoformat()

    from airflow.utils import db

    if init_db:
        db.initdb(load_connections=False)
    dag = load_dag(dag_id, dags_folder)
    results = []
    for day in days:
        # A manual run covers the schedule interval that ends at its logical date: the next midnight.
        logical_date = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC) + dt.timedelta(days=1)
        results.append((day, *run_dag_test(dag, logical_date, conf)))
        if on_day is not None:
            on_day(*results[-1])
    return results


def load_dag(dag_id: str, dags_folder: Path = DAGS_FOLDER):
    """Parse the DAGs folder and return one DAG (raising on import errors or an unknown id)."""
    # dag.test() replaces an earlier run of the same date through the ORM, whose DagRunNote has a foreign
    # key to the FAB user table: import those models so a rerun works.
    import airflow.providers.fab.auth_manager.models  # noqa: F401
    from airflow.models import DagBag

    bag = DagBag(dag_folder=str(dags_folder), include_examples=False, read_dags_from_db=False)
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    dag = bag.get_dag(dag_id)
    if dag is None:
        raise ValueError(f"no DAG {dag_id!r} in {dags_folder} (found {sorted(bag.dag_ids)})")
    for task in dag.tasks:
        task.log.addFilter(_quiet_nested_execute)
    return dag


def _quiet_nested_execute(record: logging.LogRecord) -> bool:
    """Drop Airflow 2.10's "X.execute cannot be called outside TaskInstance!": its ExecutorSafeguard says so
    whenever an operator's ``execute`` calls its base class's (a sensor that may defer does), in every run."""
    return not record.getMessage().endswith("cannot be called outside TaskInstance!")


def run_dag_test(dag, logical_date: dt.datetime | None = None, conf: dict | None = None) -> tuple[str, float]:
    """One ``dag.test()`` run; ``(state, seconds)``.

    ``dag.test()`` records its run as started at the logical date, so the UI of ``make up`` would show a
    2019 run as lasting years: the run's real start is written back once it ends."""
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    wall_start = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    dag_run = dag.test(execution_date=logical_date, run_conf=conf)
    seconds = time.perf_counter() - started
    with create_session() as session:
        session.query(DagRun).filter(DagRun.id == dag_run.id).update({DagRun.start_date: wall_start})
    return str(dag_run.state), seconds


def run_once(dag_id: str, conf: dict | None = None) -> tuple[str, float]:
    """``dag.test()`` of an unscheduled DAG (05_history, 06_evaluation); ``(state, seconds)``."""
    return run_dag_test(load_dag(dag_id), conf=conf)


def side_by_side(last_day: str | dt.date, n: int = 10, pairs=PAIRS) -> str:
    """The top ``n`` of each (method, window) ranking ending after ``last_day``, one column per pair."""
    columns = {}
    for method, days in pairs:
        top = top_movies(last_day, n, method=method, window_days=days)
        cells = [f"{row.title or row.movieId} ({row.n_ratings})"[:38] for row in top.itertuples()]
        columns[f"{method}, {window_label(days)}"] = cells + ["(not computed)" if top.empty else ""] * (
            n - len(cells)
        )
    frame = pd.DataFrame(columns, index=pd.RangeIndex(1, n + 1, name="rank"))
    return frame.to_string()


def user_list(start: dt.date, served_end: dt.date, k: int) -> str:
    """The per-user list of ``served_end`` for a user who rated in ``[start, served_end)``: the one who had
    rated the most of the served top ``k`` (the exclusion shows), else the first."""
    import sqlalchemy as sa

    from include.movielens.reader import PopularReader
    from tools.recommend import describe

    reader = PopularReader.from_connection()
    ratings, served = reader.db.ratings, reader.db.served
    since, before = (day_epoch(day) for day in (start, served_end))
    stamp = ratings.c.timestamp
    active = sa.select(ratings.c.userId).where((stamp >= since) & (stamp < before))
    top = sa.select(served.c.movieId).where(
        (served.c.window_end == served_end) & (served.c.genre == ALL_GENRES) & (served.c["rank"] <= k)
    )
    query = (
        sa.select(ratings.c.userId)
        .where(ratings.c.userId.in_(active) & ratings.c.movieId.in_(top) & (stamp < before))
        .group_by(ratings.c.userId)
        .order_by(sa.func.count(sa.distinct(ratings.c.movieId)).desc(), ratings.c.userId)
        .limit(1)
    )
    with reader.engine.connect() as conn:
        user = (
            conn.execute(query).scalar() or conn.execute(active.order_by(ratings.c.userId).limit(1)).scalar()
        )
    if user is None:
        return "(no ratings in the window)"
    try:
        return describe(reader.for_user(int(user), day=served_end, k=k))
    except ValueError as exc:  # e.g. a history not loaded from MOVIELENS_HISTORY_START
        return f"(no per-user list: {exc})"


def best_pair(conn_id: str = settings.RESULTS_CONN_ID) -> pd.DataFrame:
    """``ranking_evaluation`` summarised per (method, window), best nDCG first (empty if none)."""
    from include.movielens.backtest import summarize
    from include.movielens.evaluation import read_evaluation

    results = read_evaluation(conn_id)
    return results if results.empty else summarize(results)


def top_movies(
    last_day: str | dt.date | None = None,
    n: int = 10,
    conn_id: str = settings.RESULTS_CONN_ID,
    *,
    method: str = "bayes",
    window_days: int = 1,
) -> pd.DataFrame:
    """The ``n`` best movies of the (method, window) ranking whose last day is ``last_day`` (default: the
    latest) from ``movie_rankings``."""
    end = None if last_day is None else day_after(last_day)
    return read_ranking(end, method=method, window_days=window_days, limit=n, conn_id=conn_id)


def describe(served: pd.DataFrame) -> str:
    """``count over 365 days`` for a served list (empty: ``nothing served``)."""
    if served.empty:
        return "nothing served"
    return f"{served['method'].iloc[0]} over {int(served['window_days'].iloc[0])} days"


def explain(decision, served: pd.DataFrame) -> str:
    """Why this list is served: the decision in force and its evidence, or the default."""
    from include.movielens.choice import CHOICE_HORIZON_DAYS

    if decision.valid_from is None:
        why = (
            f"the default before any evaluation whose {CHOICE_HORIZON_DAYS}-day horizon has ended "
            f"({decision.method} over {decision.window_days} days)"
        )
    else:
        cutoffs = ", ".join(day.isoformat() for day in decision.cutoffs)
        why = (
            f"chosen from {decision.valid_from}: mean {decision.metric} {decision.value:.4f} over the "
            f"cutoff(s) {cutoffs} (at least {decision.users} users each)"
        )
        if decision.runner_up:
            method, days = decision.runner_up
            why += f"; runner-up {method} over {days} days, {decision.runner_up_value:.4f}"
        if decision.kept:
            why += " (kept: the runner-up is not better by the switching margin)"
    fallback = not served.empty and bool(served["fallback"].iloc[0])
    note = "; FALLBACK: the chosen list is not computed for this day" if fallback else ""
    return f"{describe(served)}: {why}{note}"


def format_top(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "(no ranking stored for this window)"
    shown = frame[["rank", "movieId", "title", "n_ratings", "mean_rating", "score"]].copy()
    shown["mean_rating"] = shown["mean_rating"].map("{:.3f}".format)
    shown["score"] = shown["score"].map("{:.4f}".format)
    return shown.to_string(index=False)


def save_chart(frame: pd.DataFrame, path: str | Path, title: str) -> Path:
    """A horizontal bar chart of the ranking's scores (best on top), written to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    labels = [f"{row.rank}. {row.title or row.movieId} ({row.n_ratings})" for row in frame.itertuples()]
    fig, ax = plt.subplots(figsize=(10, 0.35 * max(len(frame), 1) + 1.2))
    ax.barh(labels[::-1], frame["score"].tolist()[::-1], color="#4c72b0")
    if len(frame):
        low, high = frame["score"].min(), frame["score"].max()
        ax.set_xlim(low - (high - low) * 0.5 - 0.05, high + (high - low) * 0.1 + 0.05)
    ax.set_xlabel("score of the list's method   (label: rank. title (ratings))")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dag", default="04_sensor", help="DAG id (default 04_sensor)")
    parser.add_argument("--start", type=dt.date.fromisoformat, default=settings.DEFAULT_START_DATE)
    parser.add_argument("--end", type=dt.date.fromisoformat, default=None, help="last day (default: start)")
    parser.add_argument("--top", type=int, default=10, help="how many movies to print")
    parser.add_argument(
        "--chart", type=Path, default=None, help="also save a PNG chart of the last day's top 20"
    )
    parser.add_argument("--no-init-db", action="store_true", help="do not create/migrate the metadata DB")
    parser.add_argument("--history-days", type=int, default=0, help="first load N days before --start")
    parser.add_argument("--evaluate", action="store_true", help="run 06_evaluation and print its best pair")
    parser.add_argument("--eval-chart", type=Path, default=None, help="nDCG chart of 06_evaluation's table")
    args = parser.parse_args(argv)
    end = args.end or args.start

    def report(day: dt.date, state: str, seconds: float) -> None:
        print(f"{args.dag} {day}: {state} in {seconds:.1f}s", flush=True)

    states = []
    if args.history_days > 0:
        first = args.start - dt.timedelta(days=args.history_days)
        if not args.no_init_db:
            from airflow.utils import db

            db.initdb(load_connections=False)
        conf = {"history_start": first.isoformat(), "history_end": args.start.isoformat()}
        state, seconds = run_once("05_history", conf)
        states.append(state)
        print(
            f"05_history {first} .. {args.start - dt.timedelta(days=1)}: {state} in {seconds:.1f}s",
            flush=True,
        )
    runs = run_range(args.dag, args.start, end, init_db=not args.no_init_db, on_day=report)
    states += [state for _, state, _ in runs]
    summary = pd.DataFrame()
    if args.evaluate:
        state, seconds = run_once("06_evaluation")
        states.append("success" if state in ("success", "skipped") else state)
        summary = best_pair()
        print(f"06_evaluation (backtest, then the choice of the served list): {state} in {seconds:.1f}s")
    served_end = day_after(end)
    served = read_served(served_end)
    print(f"\nServed list of {served_end} (popular_movies: ratings before that day), top {args.top}:")
    print(explain(read_decision(served_end), served))
    print(format_top(served.head(args.top)))
    if not served.empty:
        print(
            f"\nOne user of {args.start} .. {end}, the one who had rated most of this top (make recommend):"
        )
        print(user_list(args.start, served_end, args.top))
    print(f"\nThe other lists of {served_end}, side by side (top {args.top}, ratings):")
    print(side_by_side(end, args.top))
    if not summary.empty:
        print("\nBacktest over the loaded ratings (ranking_evaluation), best first:")
        print(summary.head(5).to_string(index=False))
        if args.eval_chart:
            from include.movielens.evaluation import read_evaluation
            from tools.evaluate import save_chart as save_eval_chart

            chart = save_eval_chart(
                read_evaluation(), args.eval_chart, "06_evaluation: nDCG by method and window"
            )
            print(f"Evaluation chart: {chart}")
    if args.chart:
        top20 = served.head(20)
        title = f"{args.dag}: served list of {served_end} ({describe(served)}), top {len(top20)}"
        chart = save_chart(top20, args.chart, title)
        print(f"\nChart: {chart}")
    return 0 if all(state == "success" for state in states) else 1


if __name__ == "__main__":
    sys.exit(main())
