"""``replace_windows`` on real SQLite and PostgreSQL: the plan's windows replaced, nothing else touched,
atomically; ``read_ranking`` and the table's key.

Every test starts from rows already in ``movie_rankings`` (two window ends, two window lengths, two methods),
so deleting too little or too much shows; the rankings are plain tables written with SQLAlchemy, as
``rank_movies`` leaves them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Callable, Iterator

import pandas as pd
import pytest
import sqlalchemy as sa

from airflow_movielens.dates import as_midnight
from include.movielens.ranking import WINDOW_RANKING_COLUMNS
from tests.support.timezone import local_time_zone

CONN_ID = "movielens_results_test"
OLD, OTHER = "2019-01-06", "2019-01-07"  # window ends


def ranking_frame(end: str, days: int, method: str, n: int, movie_offset: int = 0) -> pd.DataFrame:
    window_end = pd.Timestamp(end)
    return pd.DataFrame(
        {
            "window_end": [window_end.date()] * n,
            "method": [method] * n,
            "window_days": [days] * n,
            "rank": range(1, n + 1),
            "window_start": [(window_end - pd.Timedelta(days=days)).date()] * n,
            "movieId": [movie_offset + i for i in range(n)],
            "title": [f"Movie {movie_offset + i}" for i in range(n)],
            "genres": ["Drama"] * n,
            "n_ratings": [10 + i for i in range(n)],
            "mean_rating": [4.0] * n,
            "score": [4.0 - i / 100 for i in range(n)],
        }
    )[WINDOW_RANKING_COLUMNS]


def plan(end: str, complete: list[int]) -> dict:
    return {"window_end_ts": as_midnight(end), "complete": complete, "missing": {}}


@pytest.fixture(params=["sqlite", "postgres"])
def results_db(request, tmp_path, monkeypatch) -> Iterator[dict]:
    """``CONN_ID`` on a fresh SQLite file or a fresh PostgreSQL database; an engine to look inside."""
    from tests.results_db import forget_connection_types

    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            path = tmp_path / "results.db"
            conn, url, schema = {"conn_type": "sqlite", "host": str(path)}, f"sqlite:///{path}", None
        else:
            server = request.getfixturevalue("postgres_server")
            name = stack.enter_context(server.database())
            conn, schema = json.loads(server.connection_json(name)), "public"
            url = f"postgresql://{server.user}@{server.host}:{server.port}/{name}"
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
        forget_connection_types()
        stack.callback(forget_connection_types)
        engine = sa.create_engine(url)
        stack.callback(engine.dispose)
        yield {"engine": engine, "schema": schema}


@pytest.fixture
def make_ranking(results_db) -> Callable[[pd.DataFrame], object]:
    """Write a ranking frame as its own table (like ``rank_movies``' output); return it as the path's table
    (an Astro SDK Table on Airflow 2, a handle on Airflow 3: include/movielens/compat.py)."""
    from include.movielens.compat import table

    count = iter(range(1000))

    def make(frame: pd.DataFrame):
        name = f"ranking_{next(count)}"
        frame.to_sql(name, results_db["engine"], schema=results_db["schema"], index=False)
        return table(name, CONN_ID, results_db["schema"])

    return make


def stored(results_db, table: str = "movie_rankings") -> pd.DataFrame:
    name = table if results_db["schema"] is None else f"{results_db['schema']}.{table}"
    order = (
        'window_end, window_days, method, "rank"'
        if table == "movie_rankings"
        else "window_end, window_days, method"
    )
    with results_db["engine"].connect() as conn:
        frame = pd.read_sql(f"SELECT * FROM {name} ORDER BY {order}", conn)
    for column in ("window_end", "window_start"):
        if column in frame:
            frame[column] = frame[column].astype(str)
    return frame


def sizes(rows: pd.DataFrame) -> dict:
    return rows.groupby(["window_end", "window_days", "method"]).size().to_dict()


@pytest.fixture
def old_rows(make_ranking, results_db) -> pd.DataFrame:
    """movie_rankings already holding OLD's 1- and 7-day rankings (bayes, count) and OTHER's 1-day one."""
    from include.movielens.results import replace_windows

    old = pd.concat(
        [
            ranking_frame(OLD, 1, "bayes", 5),
            ranking_frame(OLD, 1, "count", 4, movie_offset=10),
            ranking_frame(OLD, 7, "bayes", 6, movie_offset=20),
        ],
        ignore_index=True,
    )
    replace_windows(make_ranking(old), None, plan(OLD, [1, 7]), CONN_ID)
    replace_windows(
        make_ranking(ranking_frame(OTHER, 1, "bayes", 3, movie_offset=100)), None, plan(OTHER, [1]), CONN_ID
    )
    rows = stored(results_db)
    assert sizes(rows) == {
        (OLD, 1, "bayes"): 5,
        (OLD, 1, "count"): 4,
        (OLD, 7, "bayes"): 6,
        (OTHER, 1, "bayes"): 3,
    }
    return rows


def test_no_ranking_clears_the_windows_and_only_them(old_rows, results_db) -> None:
    from include.movielens.results import replace_windows

    windows_before = stored(results_db, "ranking_windows")
    result = replace_windows(None, None, plan(OLD, [1]), CONN_ID)
    table = "movie_rankings" if results_db["schema"] is None else "public.movie_rankings"
    assert result == {
        "table": table,
        "window_end": OLD,
        "windows": [1],
        "deleted": 9,
        "inserted": 0,
        "missing": {},
    }
    after = stored(results_db)
    kept = (old_rows["window_end"] != OLD) | (old_rows["window_days"] != 1)
    pd.testing.assert_frame_equal(after, old_rows[kept].reset_index(drop=True))
    # the cleared window is recorded as computed and empty; the other windows' records are untouched
    windows = stored(results_db, "ranking_windows")
    mine = (windows["window_end"] == OLD) & (windows["window_days"] == 1)
    assert windows[mine][["method", "n_ratings", "n_movies"]].values.tolist() == [
        ["bayes", 0, 0],
        ["count", 0, 0],
        ["trending", 0, 0],
    ]
    untouched = (windows_before["window_end"] != OLD) | (windows_before["window_days"] != 1)
    pd.testing.assert_frame_equal(
        windows[~mine].reset_index(drop=True), windows_before[untouched].reset_index(drop=True)
    )


def test_a_shorter_ranking_replaces_every_old_row(old_rows, make_ranking, results_db) -> None:
    from include.movielens.results import replace_windows

    new = ranking_frame(OLD, 1, "bayes", 2, movie_offset=50)
    result = replace_windows(make_ranking(new), None, plan(OLD, [1]), CONN_ID)
    assert (result["deleted"], result["inserted"]) == (9, 2)
    after = stored(results_db)
    assert sizes(after) == {(OLD, 1, "bayes"): 2, (OLD, 7, "bayes"): 6, (OTHER, 1, "bayes"): 3}
    assert after[(after["window_end"] == OLD) & (after["window_days"] == 1)]["movieId"].tolist() == [50, 51]


def test_rerun_gives_the_same_rows_not_duplicates(old_rows, make_ranking, results_db) -> None:
    from include.movielens.results import replace_windows

    same = old_rows[old_rows["window_end"] == OLD].reset_index(drop=True)
    same["window_end"] = pd.to_datetime(same["window_end"]).dt.date
    same["window_start"] = pd.to_datetime(same["window_start"]).dt.date
    again = replace_windows(make_ranking(same), None, plan(OLD, [1, 7]), CONN_ID)
    assert (again["deleted"], again["inserted"]) == (15, 15)
    pd.testing.assert_frame_equal(stored(results_db), old_rows)


def test_rows_outside_the_windows_change_nothing(old_rows, make_ranking, results_db) -> None:
    from include.movielens.results import replace_windows

    mixed = pd.concat(
        [ranking_frame(OLD, 1, "bayes", 2), ranking_frame(OLD, 7, "bayes", 1)], ignore_index=True
    )
    with pytest.raises(ValueError, match=r"1 rows outside the windows \[1\] ending 2019-01-06"):
        replace_windows(make_ranking(mixed), None, plan(OLD, [1]), CONN_ID)
    pd.testing.assert_frame_equal(stored(results_db), old_rows)  # the delete was rolled back


def test_read_ranking_reads_one_window_best_first(old_rows, make_ranking) -> None:
    from include.movielens.results import read_ranking, replace_windows

    latest = read_ranking(method="bayes", window_days=1, conn_id=CONN_ID)  # the latest daily bayes ranking
    assert list(latest.columns) == WINDOW_RANKING_COLUMNS
    assert latest["window_end"].astype(str).unique().tolist() == [OTHER]
    assert latest["rank"].tolist() == [1, 2, 3]
    top2 = read_ranking(OLD, method="count", window_days=1, limit=2, conn_id=CONN_ID)
    assert top2["movieId"].tolist() == [10, 11]
    week = read_ranking(method="bayes", window_days=7, conn_id=CONN_ID)  # latest end of that window length
    assert week["window_end"].astype(str).unique().tolist() == [OLD]
    assert read_ranking(method="trending", window_days=1, conn_id=CONN_ID).empty
    assert read_ranking("2019-02-01", method="bayes", window_days=1, conn_id=CONN_ID).empty
    # stored worst first: the reader still returns rank order
    reversed_rows = ranking_frame(OLD, 1, "bayes", 5).iloc[::-1]
    replace_windows(make_ranking(reversed_rows), None, plan(OLD, [1]), CONN_ID)
    again = read_ranking(OLD, method="bayes", window_days=1, conn_id=CONN_ID)
    assert again["rank"].tolist() == [1, 2, 3, 4, 5]


def test_read_ranking_of_an_empty_table_has_the_columns(results_db) -> None:
    from include.movielens.results import read_ranking, replace_windows

    replace_windows(None, None, plan(OLD, [1]), CONN_ID)  # creates the table, stores nothing
    empty = read_ranking(method="bayes", window_days=1, conn_id=CONN_ID)
    assert empty.empty
    assert list(empty.columns) == WINDOW_RANKING_COLUMNS


def test_read_ranking_of_a_missing_table_is_empty(results_db) -> None:
    from include.movielens.results import read_ranking

    empty = read_ranking(method="bayes", window_days=1, conn_id=CONN_ID)
    assert empty.empty
    assert list(empty.columns) == WINDOW_RANKING_COLUMNS


def test_table_schema_keys_the_window_method_length_and_rank(results_db) -> None:
    from include.movielens.results import replace_windows

    replace_windows(None, None, plan(OLD, [1]), CONN_ID)  # creates the table
    inspector = sa.inspect(results_db["engine"])
    columns = {c["name"]: c for c in inspector.get_columns("movie_rankings", schema=results_db["schema"])}
    assert list(columns) == WINDOW_RANKING_COLUMNS
    assert {name for name, c in columns.items() if c["nullable"]} == {"title", "genres"}
    key = inspector.get_pk_constraint("movie_rankings", schema=results_db["schema"])["constrained_columns"]
    assert key == ["window_end", "method", "window_days", "rank"]
    windows = inspector.get_columns("ranking_windows", schema=results_db["schema"])
    nullable = [c["name"] for c in windows if c["nullable"]]
    assert nullable == ["n_ratings", "n_movies", "dag_id", "run_id", "params"]  # NULL: not counted, unknown
    key = inspector.get_pk_constraint("ranking_windows", schema=results_db["schema"])["constrained_columns"]
    assert key == ["window_end", "method", "window_days"]


def test_loaded_days_are_the_marked_days_inside_the_interval(results_db) -> None:
    """The days the loader marked in [start, end): none before a first load, then only marked days."""
    from airflow.hooks.base import BaseHook

    from airflow_movielens.ratings_table import replace_interval
    from include.movielens.results import loaded_days

    jan1, jan2, jan3, jan4 = (as_midnight(f"2019-01-0{day}") for day in (1, 2, 3, 4))
    assert loaded_days(CONN_ID, jan1, jan4) == []
    hook = BaseHook.get_connection(CONN_ID).get_hook()
    replace_interval(hook, "2019-01-01", "2019-01-02", [], schema=results_db["schema"])
    replace_interval(hook, "2019-01-03", "2019-01-04", [], schema=results_db["schema"])
    assert sorted(loaded_days(CONN_ID, jan1, jan4)) == [jan1, jan3]
    assert loaded_days(CONN_ID, jan2, jan3) == []
    assert loaded_days(CONN_ID, jan1, jan1 + 1) == [jan1]
    assert loaded_days(CONN_ID, jan1 + 1, jan3) == []  # start inclusive, end exclusive


def test_window_totals_come_from_the_aggregate_table(make_ranking, results_db) -> None:
    """ranking_windows gets each window's rating and movie counts from the aggregate (whatever the case of
    its column names), once per method; a window without aggregate rows counts 0."""
    from include.movielens.results import replace_windows

    end = "2019-01-09"
    stats = pd.DataFrame(
        {"Window_Days": [1, 1, 7, 7, 7], "movieId": [1, 2, 1, 2, 3], "N_Ratings": [3, 2, 5, 1, 4]}
    )
    ranking = pd.concat(
        [ranking_frame(end, 1, "bayes", 2), ranking_frame(end, 7, "count", 3)], ignore_index=True
    )
    the_plan = {**plan(end, [1, 7, 30]), "missing": {"365": ["2018-01-10"]}}
    result = replace_windows(make_ranking(ranking), make_ranking(stats), the_plan, CONN_ID)
    assert (result["window_end"], result["windows"], result["missing"]) == (
        end,
        [1, 7, 30],
        the_plan["missing"],
    )
    windows = stored(results_db, "ranking_windows")
    windows = windows[windows["window_end"] == end]
    counts = {(r.window_days, r.method): (r.n_ratings, r.n_movies) for r in windows.itertuples()}
    expected = {1: (5, 2), 7: (10, 3), 30: (0, 0)}
    assert counts == {
        (days, method): expected[days] for days in expected for method in ("bayes", "count", "trending")
    }


def test_a_non_default_schema_holds_every_result_table(postgres_server, monkeypatch) -> None:
    """MOVIELENS_RESULTS_SCHEMA on PostgreSQL: rankings, windows and loaded days live there, public stays
    empty."""
    from airflow_movielens.ratings_table import replace_interval
    from airflow_movielens.version_compat import BaseHook
    from include.movielens.compat import table as path_table
    from include.movielens.results import loaded_days, replace_windows
    from tests.results_db import forget_connection_types

    with postgres_server.database() as name:
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", postgres_server.connection_json(name))
        monkeypatch.setenv("MOVIELENS_RESULTS_SCHEMA", "recs")
        forget_connection_types()
        with contextlib.closing(postgres_server.connect(name)) as conn, conn, conn.cursor() as cur:
            cur.execute("CREATE SCHEMA recs")  # committed on exit
        hook = BaseHook.get_connection(CONN_ID).get_hook()
        replace_interval(hook, "2019-01-08", "2019-01-09", [], schema="recs")
        ranking = ranking_frame("2019-01-09", 1, "bayes", 2)
        ranking.to_sql("ranking_in_recs", hook.get_sqlalchemy_engine(), schema="recs", index=False)
        table = path_table("ranking_in_recs", CONN_ID, "recs")
        assert replace_windows(table, None, plan("2019-01-09", [1]), CONN_ID)["inserted"] == 2
        assert loaded_days(CONN_ID, as_midnight("2019-01-01"), as_midnight("2019-01-31")) == [
            as_midnight("2019-01-08")
        ]
        tables = postgres_server.query(
            name,
            "SELECT table_schema || '.' || table_name AS t FROM information_schema.tables "
            "WHERE table_schema IN ('recs', 'public') ORDER BY 1",
        )["t"].tolist()
        stored = postgres_server.query(
            name, 'SELECT window_end::text, method, "movieId" FROM recs.movie_rankings ORDER BY 1'
        ).values.tolist()
        forget_connection_types()
    assert tables == [
        "recs.genre_rankings",
        "recs.loaded_days",
        "recs.movie_rankings",
        "recs.ranking_in_recs",
        "recs.ranking_windows",
        "recs.ratings",
    ]
    assert stored == [["2019-01-09", "bayes", 0], ["2019-01-09", "bayes", 1]]


def test_the_window_end_is_the_utc_date_whatever_the_local_time_zone(results_db) -> None:
    from include.movielens.results import replace_windows

    before = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with local_time_zone("America/New_York"):  # 2019-01-09T00:00Z is still 01-08 there
        result = replace_windows(None, None, plan("2019-01-09", [1]), CONN_ID)
    after = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert result["window_end"] == "2019-01-09"
    windows = stored(results_db, "ranking_windows")
    assert windows["window_end"].unique().tolist() == ["2019-01-09"]
    assert pd.to_datetime(windows["computed_at"]).between(before, after).all()  # UTC, not New York time


def test_tables_from_before_the_run_columns_get_them_on_the_next_publish(results_db, make_ranking) -> None:
    """ranking_windows and popular_movies without dag_id/run_id(/params), as an older version left them: the
    next publish adds the columns in its transaction; the rows already there keep NULL (unknown)."""
    from include.movielens.results import replace_windows
    from include.movielens.served import publish_day

    run = {"dag_id": "04_sensor", "run_id": "scheduled__2019-01-06", "params": '{"top_n": 100}'}
    for end in (OLD, OTHER):
        ranking = make_ranking(ranking_frame(end, 365, "count", 3))
        replace_windows(ranking, None, plan(end, [365]), CONN_ID, also=publish_day, produced_by=run)
        if end == OLD:  # make the tables what an older version left: without the columns
            prefix = f"{results_db['schema']}." if results_db["schema"] else ""
            with results_db["engine"].begin() as conn:
                for table, columns in (("ranking_windows", run), ("popular_movies", ["dag_id", "run_id"])):
                    for column in columns:
                        conn.execute(sa.text(f"ALTER TABLE {prefix}{table} DROP COLUMN {column}"))

    def runs(table: str, columns: list[str]) -> list[list]:
        rows = stored(results_db, table)[["window_end", *columns]].drop_duplicates()
        return rows.astype(object).where(rows.notna(), None).values.tolist()  # NULL as None, any pandas

    assert runs("ranking_windows", list(run)) == [[OLD, None, None, None], [OTHER, *run.values()]]
    assert runs("popular_movies", ["dag_id", "run_id"]) == [
        [OLD, None, None],
        [OTHER, "04_sensor", "scheduled__2019-01-06"],
    ]


def test_a_first_write_creates_the_ranking_tables_and_their_key(results_db) -> None:
    """On an empty database the first write creates the three ranking tables, records its windows as computed
    (at a UTC time) and the key refuses a second row of one (window_end, method, window_days, rank)."""
    from include.movielens.results import replace_windows

    before = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with local_time_zone("Asia/Tokyo"):
        assert replace_windows(None, None, plan("2019-01-15", [1]), CONN_ID)["deleted"] == 0
    after = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    windows = stored(results_db, "ranking_windows")
    assert windows["window_end"].tolist() == ["2019-01-15"] * 3
    assert sorted(windows["n_ratings"]) == [0, 0, 0]  # computed: no ratings in that window
    assert pd.to_datetime(windows["computed_at"]).between(before, after).all()  # UTC, not Tokyo time
    prefix = f"{results_db['schema']}." if results_db["schema"] else ""
    row = (
        f"INSERT INTO {prefix}movie_rankings VALUES "
        "('2019-01-02', 'bayes', 1, 1, '2019-01-01', 9, 'x', 'y', 1, 1.0, 1.0)"
    )
    with results_db["engine"].begin() as conn:
        conn.execute(sa.text(row))
    with pytest.raises(Exception, match="(?i)unique|duplicate"), results_db["engine"].begin() as conn:
        conn.execute(sa.text(row))
    tables = sa.inspect(results_db["engine"]).get_table_names(schema=results_db["schema"])
    assert sorted(tables) == ["genre_rankings", "movie_rankings", "ranking_windows"]
