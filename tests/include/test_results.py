"""``replace_window`` on real SQLite and PostgreSQL: one window replaced, nothing else touched, atomically.

Every test starts from rows already in ``movie_rankings`` (two windows), so deleting too little or too much
shows; the rankings are plain tables written with SQLAlchemy, as ``rank_movies`` leaves them.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator

import pandas as pd
import pytest
import sqlalchemy as sa

from include.movielens.ranking import RANKING_COLUMNS

CONN_ID = "movielens_results_test"
OLD, OTHER = "2019-01-05", "2019-01-06"


def ranking_frame(window_start: str, n: int, movie_offset: int = 0) -> pd.DataFrame:
    start = pd.Timestamp(window_start)
    return pd.DataFrame(
        {
            "window_start": [start.date()] * n,
            "window_end": [(start + pd.Timedelta(days=1)).date()] * n,
            "rank": range(1, n + 1),
            "movieId": [movie_offset + i for i in range(n)],
            "title": [f"Movie {movie_offset + i}" for i in range(n)],
            "genres": ["Drama"] * n,
            "n_ratings": [10 + i for i in range(n)],
            "mean_rating": [4.0] * n,
            "score": [4.0 - i / 100 for i in range(n)],
        }
    )[RANKING_COLUMNS]


@pytest.fixture(params=["sqlite", "postgres"])
def results_db(request, tmp_path, monkeypatch) -> Iterator[dict]:
    """``CONN_ID`` on a fresh SQLite file or a fresh PostgreSQL database; an engine to look inside."""
    from astro.databases import _get_conn

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
        _get_conn.cache_clear()  # the SDK caches each connection id's type
        stack.callback(_get_conn.cache_clear)
        engine = sa.create_engine(url)
        stack.callback(engine.dispose)
        yield {"engine": engine, "schema": schema}


@pytest.fixture
def make_ranking(results_db) -> Callable[[pd.DataFrame], object]:
    """Write a ranking frame as its own table (like ``rank_movies``' output); return it as an SDK Table."""
    from astro.table import Metadata, Table

    count = iter(range(1000))

    def make(frame: pd.DataFrame):
        name = f"ranking_{next(count)}"
        frame.to_sql(name, results_db["engine"], schema=results_db["schema"], index=False)
        return Table(name=name, conn_id=CONN_ID, metadata=Metadata(schema=results_db["schema"]))

    return make


def stored(results_db) -> pd.DataFrame:
    table = "movie_rankings" if results_db["schema"] is None else f"{results_db['schema']}.movie_rankings"
    with results_db["engine"].connect() as conn:
        frame = pd.read_sql(f'SELECT * FROM {table} ORDER BY window_start, "rank"', conn)
    frame["window_start"] = frame["window_start"].astype(str)
    return frame


@pytest.fixture
def old_rows(make_ranking, results_db) -> pd.DataFrame:
    """movie_rankings already holding 5 rows of OLD and 3 of OTHER."""
    from include.movielens.results import replace_window

    replace_window(make_ranking(ranking_frame(OLD, 5)), OLD, CONN_ID)
    replace_window(make_ranking(ranking_frame(OTHER, 3, movie_offset=100)), OTHER, CONN_ID)
    rows = stored(results_db)
    assert rows.groupby("window_start").size().to_dict() == {OLD: 5, OTHER: 3}
    return rows


def test_no_ranking_clears_the_window_and_only_it(old_rows, results_db) -> None:
    from include.movielens.results import replace_window

    result = replace_window(None, OLD, CONN_ID)
    table = "movie_rankings" if results_db["schema"] is None else "public.movie_rankings"
    assert result == {"table": table, "window_start": OLD, "deleted": 5, "inserted": 0}
    after = stored(results_db)
    pd.testing.assert_frame_equal(after, old_rows[old_rows["window_start"] == OTHER].reset_index(drop=True))


def test_a_shorter_ranking_replaces_every_old_row(old_rows, make_ranking, results_db) -> None:
    from include.movielens.results import replace_window

    result = replace_window(make_ranking(ranking_frame(OLD, 2, movie_offset=50)), OLD, CONN_ID)
    assert (result["deleted"], result["inserted"]) == (5, 2)
    after = stored(results_db)
    assert after.groupby("window_start").size().to_dict() == {OLD: 2, OTHER: 3}
    assert after[after["window_start"] == OLD]["movieId"].tolist() == [50, 51]


def test_rerun_gives_the_same_rows_not_duplicates(old_rows, make_ranking, results_db) -> None:
    from include.movielens.results import replace_window

    again = replace_window(make_ranking(ranking_frame(OLD, 5)), OLD, CONN_ID)
    assert (again["deleted"], again["inserted"]) == (5, 5)
    pd.testing.assert_frame_equal(stored(results_db), old_rows)


def test_rows_outside_the_window_change_nothing(old_rows, make_ranking, results_db) -> None:
    from include.movielens.results import replace_window

    mixed = pd.concat([ranking_frame(OLD, 2), ranking_frame(OTHER, 1)], ignore_index=True)
    with pytest.raises(ValueError, match="1 rows outside the window 2019-01-05"):
        replace_window(make_ranking(mixed), OLD, CONN_ID)
    pd.testing.assert_frame_equal(stored(results_db), old_rows)  # the delete was rolled back


def test_read_ranking_reads_one_window_best_first(old_rows, make_ranking) -> None:
    from include.movielens.results import read_ranking, replace_window

    latest = read_ranking(conn_id=CONN_ID)
    assert list(latest.columns) == RANKING_COLUMNS
    assert latest["window_start"].astype(str).unique().tolist() == [OTHER]
    assert latest["rank"].tolist() == [1, 2, 3]
    top2 = read_ranking(OLD, limit=2, conn_id=CONN_ID)
    assert top2["movieId"].tolist() == [0, 1]
    assert read_ranking("2019-02-01", conn_id=CONN_ID).empty
    # stored worst first: the reader still returns rank order
    replace_window(make_ranking(ranking_frame(OLD, 5).iloc[::-1]), OLD, CONN_ID)
    assert read_ranking(OLD, conn_id=CONN_ID)["rank"].tolist() == [1, 2, 3, 4, 5]


def test_read_ranking_of_an_empty_table_has_the_columns(results_db) -> None:
    from include.movielens.results import read_ranking, replace_window

    replace_window(None, OLD, CONN_ID)  # creates the table, stores nothing
    empty = read_ranking(conn_id=CONN_ID)
    assert empty.empty
    assert list(empty.columns) == RANKING_COLUMNS


def test_read_ranking_of_a_missing_table_is_empty(results_db) -> None:
    from include.movielens.results import read_ranking

    empty = read_ranking(conn_id=CONN_ID)
    assert empty.empty
    assert list(empty.columns) == RANKING_COLUMNS


def test_table_schema_keys_the_window_and_rank(results_db) -> None:
    from include.movielens.results import replace_window

    replace_window(None, OLD, CONN_ID)  # creates the table
    inspector = sa.inspect(results_db["engine"])
    columns = {c["name"]: c for c in inspector.get_columns("movie_rankings", schema=results_db["schema"])}
    assert list(columns) == RANKING_COLUMNS
    assert {name for name, c in columns.items() if c["nullable"]} == {"title", "genres"}
    key = inspector.get_pk_constraint("movie_rankings", schema=results_db["schema"])["constrained_columns"]
    assert key == ["window_start", "rank"]
