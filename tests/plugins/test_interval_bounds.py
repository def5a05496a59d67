"""The provider's ``[interval_start, interval_end)`` at the exact second, against a live API with
hand-made ratings.

Ratings sit one second before, at and one second after midnight of the interval's first day and of the day
after its last one; a lone rating at midnight of 2019-01-07 is the only one of [01-07, 01-08) and sits exactly
at the end of [01-06, 01-07) (which closes that window). Every ``<`` / ``<=`` or off-by-one in a bound
changes an answer here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pandas as pd
import pytest

from airflow_movielens.exceptions import AirflowSkipException
from airflow_movielens.hooks import MovielensHook
from airflow_movielens.operators import MovielensFetchRatingsOperator
from airflow_movielens.sensors import MovielensRatingsSensor
from tests.environment import require
from tests.support.live_api import API_GUNICORN, LiveApi, run_api


def epoch(day: str) -> int:
    return int(dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC).timestamp())


START, END = epoch("2019-01-02"), epoch("2019-01-04")
LONE = epoch("2019-01-07")
STAMPS = [START - 1, START, START + 1, START + 86_400, END - 1, END, END + 1, LONE]
INSIDE = [START, START + 1, START + 86_400, END - 1]  # [2019-01-02, 2019-01-04)
CONN_ID = "movielens_bounds"


@pytest.fixture(scope="module")
def bounds_api(tmp_path_factory) -> Iterator[LiveApi]:
    require(API_GUNICORN.exists(), f"the API environment {API_GUNICORN.parent.parent} is missing")
    folder = tmp_path_factory.mktemp("bounds") / "ml-bounds"
    folder.mkdir()
    # one rating per stamp, each by its own user, all of movie 1
    rows = [f"{user},1,3.5,{stamp}" for user, stamp in enumerate(STAMPS, start=1)]
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n" + "\n".join(rows) + "\n")
    (folder / "movies.csv").write_text("movieId,title,genres\n1,Boundary (2019),Drama\n")
    with run_api(folder) as api:
        yield api


@pytest.fixture
def hook(bounds_api, add_connection) -> Iterator[MovielensHook]:
    add_connection(CONN_ID, **bounds_api.connection(max_retries=0))
    with MovielensHook(CONN_ID) as hook:
        yield hook


def test_the_api_serves_every_stamp(hook) -> None:
    assert hook.get_ratings()["timestamp"].tolist() == STAMPS


@pytest.mark.parametrize("batch_size", [1, 3, 100])
def test_hook_pages_exactly_the_interval(hook, batch_size: int) -> None:
    stamps = [r["timestamp"] for r in hook.iter_ratings("2019-01-02", "2019-01-04", batch_size=batch_size)]
    assert stamps == INSIDE
    frame = hook.get_ratings(
        dt.date(2019, 1, 2), dt.datetime(2019, 1, 4, tzinfo=dt.UTC), batch_size=batch_size
    )
    assert frame["timestamp"].tolist() == INSIDE


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("2019-01-02", None, [s for s in STAMPS if s >= START]),
        (None, "2019-01-04", [s for s in STAMPS if s < END]),
        ("2019-01-01", "2019-01-02", [START - 1]),
        ("2019-01-04", "2019-01-05", [END, END + 1]),
        ("2019-01-06", "2019-01-07", []),  # its only neighbour sits exactly at its end
        ("2019-01-07", "2019-01-08", [LONE]),  # its only rating sits exactly at its start
    ],
)
def test_hook_bounds(hook, start, end, expected: list[int]) -> None:
    assert hook.get_ratings(start, end)["timestamp"].tolist() == expected
    assert hook.count_ratings(start, end) == len(expected)
    assert hook.has_ratings(start, end) is bool(expected)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("2019-01-02", "2019-01-04", INSIDE),
        ("2019-01-06", "2019-01-07", []),
        ("2019-01-07", "2019-01-08", [LONE]),
    ],
)
def test_operator_writes_exactly_the_interval(
    bounds_api, add_connection, tmp_path, start, end, expected
) -> None:
    add_connection(CONN_ID, **bounds_api.connection(max_retries=0))
    path = tmp_path / "ratings.csv"
    op = MovielensFetchRatingsOperator(
        task_id="fetch",
        conn_id=CONN_ID,
        interval_start=start,
        interval_end=end,
        output_path=path,
        batch_size=2,
    )
    result = op.execute({})
    assert result["count"] == len(expected)
    assert pd.read_csv(path)["timestamp"].tolist() == expected


@pytest.mark.parametrize(
    ("start", "end", "state"),
    [
        ("2019-01-06", "2019-01-07", "closed"),  # empty, and the newest rating sits exactly at its end
        ("2019-01-07", "2019-01-08", "ready"),  # its only rating sits exactly at its start
        ("2019-01-08", "2019-01-09", "open"),  # after the newest rating: ratings may still come
    ],
)
def test_sensor_sees_only_its_interval(bounds_api, add_connection, start, end, state: str) -> None:
    add_connection(CONN_ID, **bounds_api.connection(max_retries=0))
    sensor = MovielensRatingsSensor(
        task_id="wait", conn_id=CONN_ID, interval_start=start, interval_end=end, on_empty="skip"
    )
    if state == "closed":
        with pytest.raises(AirflowSkipException, match="has no ratings and is closed"):
            sensor.poke({})
    else:
        assert sensor.poke({}) is (state == "ready")
