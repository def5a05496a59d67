"""The per-user read path (include/movielens/reader.py) on real SQLite and PostgreSQL: the served list without
what the user rated before the day, the documented query, the fallback and every refusal.

The tables are written by the project's own writers: ``replace_windows`` publishing the served list
(``publish_day``) and the ratings loader (``replace_interval``), as the DAGs write them.
"""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest
import sqlalchemy as sa

from airflow_movielens.dates import as_midnight
from include.movielens.ranking import WINDOW_RANKING_COLUMNS
from tests.environment import REPO_ROOT

CONN_ID = "movielens_results"
DAY, EARLIER = "2019-01-10", "2019-01-09"
ORDER = [10, 20, 30, 40, 50, 60]  # count over 365 days: the default served list
COMEDY = [20, 40, 60]
HOUR = 3600


def ranking(end: str, movies: list[int], genre: str | None = None) -> pd.DataFrame:
    window_end = dt.date.fromisoformat(end)
    frame = pd.DataFrame(
        {
            "window_end": window_end,
            "method": "count",
            "window_days": 365,
            "rank": range(1, len(movies) + 1),
            "window_start": window_end - dt.timedelta(days=365),
            "movieId": movies,
            "title": [f"Movie {m}" for m in movies],
            "genres": ["Comedy" if m in COMEDY else "Drama" for m in movies],
            "n_ratings": [100 - m for m in movies],
            "mean_rating": 4.0,
            "score": [100.0 - m for m in movies],
        }
    )[WINDOW_RANKING_COLUMNS]
    return frame if genre is None else frame.assign(genre=genre)


def at(day: str, hours: int = 12) -> int:
    return as_midnight(day) + hours * HOUR


# user 7 rated 10 and 30 before DAY, and 20 on DAY itself (not before it: still shown);
# user 8 rated five of the six movies before DAY; user 9 rated only after the first served day
RATINGS = [
    (7, 10, at("2019-01-02")),
    (7, 30, at("2019-01-09", 23)),
    (7, 20, at(DAY)),
    *[(8, movie, at("2019-01-03")) for movie in ORDER[:5]],
    (9, 40, at(DAY, 1)),
]


@pytest.fixture
def served(results_db) -> dict:
    """DAY's and EARLIER's served lists (overall and Comedy), and the ratings of [2019-01-01, DAY + 1)."""
    from airflow_movielens.ratings_table import replace_interval
    from airflow_movielens.version_compat import BaseHook
    from include.movielens.compat import table
    from include.movielens.results import replace_windows
    from include.movielens.served import publish_day

    engine = sa.create_engine(_url(results_db))
    schema = None if results_db.kind == "sqlite" else "public"
    for i, end in enumerate((EARLIER, DAY)):
        name = f"ranking_{i}"
        ranking(end, ORDER).to_sql(name, engine, schema=schema, index=False)
        plan = {"window_end_ts": as_midnight(end), "complete": [365], "missing": {}}
        genres = ranking(end, COMEDY, genre="Comedy")
        replace_windows(table(name, CONN_ID, schema), None, plan, CONN_ID, genres=genres, also=publish_day)
    engine.dispose()
    records = [{"userId": u, "movieId": m, "rating": 4.0, "timestamp": t} for u, m, t in RATINGS]
    hook = BaseHook.get_connection(CONN_ID).get_hook()
    replace_interval(hook, "2019-01-01", "2019-01-11", records, schema=schema)
    return {"db": results_db, "schema": schema}


def _url(db) -> str:
    if db.kind == "sqlite":
        return f"sqlite:///{db.path}"
    return f"postgresql://{db.server.user}@{db.server.host}:{db.server.port}/{db.dbname}"


def reader(**kwargs):
    from include.movielens.reader import PopularReader

    return PopularReader.from_connection(CONN_ID, **{"history_start": "2019-01-01", **kwargs})


def movies(answer) -> list[int]:
    return answer.movies["movieId"].tolist()


def test_the_served_list_without_what_the_user_rated_before_the_day(served) -> None:
    answer = reader().for_user(7, day=DAY, k=3)
    assert movies(answer) == [20, 40, 50]  # 10 and 30 rated before DAY; 20 on DAY itself
    assert answer.movies["rank"].tolist() == [2, 4, 5]  # served order, the served ranks
    assert answer.movies["title"].tolist() == ["Movie 20", "Movie 40", "Movie 50"]
    assert (answer.known, answer.short, answer.day, answer.k) == (True, False, dt.date(2019, 1, 10), 3)
    assert movies(reader().for_user(7, day=EARLIER, k=3)) == [20, 30, 40]  # 30 was rated on EARLIER
    assert movies(reader().for_user(7, k=10)) == [20, 40, 50, 60]  # the newest served day by default
    assert movies(reader().for_user(7, day=DAY, genre="Comedy")) == [20, 40, 60]


def test_a_heavy_user_gets_what_the_stored_depth_leaves(served) -> None:
    answer = reader().for_user(8, day=DAY, k=3)
    assert (movies(answer), answer.short, answer.known) == ([60], True, True)


def test_a_user_never_seen_gets_the_served_list_itself(served) -> None:
    for user in (9, 123_456):  # 9 rated only on DAY; 123456 never
        answer = reader().for_user(user, day=DAY, k=4)
        assert (movies(answer), answer.known) == (ORDER[:4], False)


def test_the_documented_query_runs_unchanged_and_gives_the_same_lists(served) -> None:
    from include.movielens.reader import USER_LIST_SQL

    documented = (REPO_ROOT / "docs" / "evaluation.md").read_text()
    section = documented.split("## One user's list", 1)[1]
    sql = re.search(r"```sql\n(.*?)\n```", section, re.S).group(1)
    assert sql == USER_LIST_SQL
    engine = sa.create_engine(_url(served["db"]))
    try:
        with engine.connect() as conn:
            for user, genre in ((7, "(all genres)"), (8, "(all genres)"), (7, "Comedy"), (555, "Comedy")):
                params = {"day": DAY, "genre": genre, "user_id": user, "before": as_midnight(DAY), "k": 10}
                rows = [row[1] for row in conn.execute(sa.text(sql), params)]
                assert rows == movies(reader().for_user(user, day=DAY, genre=genre)), (user, genre)
    finally:
        engine.dispose()


SERVED_FROM = "lists are served from 2019-01-09 to 2019-01-10"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ({"user_id": 0}, "user_id must be an integer >= 1, got 0"),
        ({"user_id": "7"}, "user_id must be an integer >= 1, got '7'"),
        ({"user_id": True}, "user_id must be an integer >= 1, got True"),
        ({"k": 0}, "K must be an integer >= 1, got 0"),
        (
            {"day": "2019-01-08"},
            f"no list served on 2019-01-08: {SERVED_FROM} (a day before the first ranking)",
        ),
        ({"day": "2019-01-11"}, f"no list served on 2019-01-11: {SERVED_FROM}"),
        ({"day": "10/01/2019"}, "day must be a date in YYYY-MM-DD form, got '10/01/2019'"),
        ({"genre": "Horror"}, "genre 'Horror' is not served on 2019-01-10; served: (all genres), Comedy"),
    ],
)
def test_bad_input_names_the_bad_value(served, call: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        reader().for_user(**{"user_id": 7, **call})


def test_a_history_with_a_missing_day_is_refused(served) -> None:
    with pytest.raises(
        ValueError, match=r"the ratings of 2018-12-01 to 2018-12-31 are not loaded: .* since 2018-12-01"
    ):
        reader(history_start="2018-12-01").for_user(7, day=DAY)
    db = served["db"]
    db.execute(f"DELETE FROM {db.schema_prefix}loaded_days WHERE day_start = ?", (as_midnight("2019-01-05"),))
    with pytest.raises(ValueError, match=r"the ratings of 2019-01-05 are not loaded"):
        reader().for_user(7, day=DAY)
    # a history that starts on the day itself needs nothing before it
    assert movies(reader(history_start=DAY).for_user(7, day=DAY, k=1)) == [20]


def test_nothing_served_yet_is_an_error_not_an_empty_list(results_db) -> None:
    with pytest.raises(ValueError, match="no served list yet"):
        reader().for_user(7)
    assert reader().served_days() is None
