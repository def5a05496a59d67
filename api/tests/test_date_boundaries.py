"""/ratings date bounds at the exact second: ``start_date`` inclusive, ``end_date`` exclusive.

A hand-made dataset puts ratings one second before, at and one second after midnight of the start day and of
the end day (plus one inside), so every ``<`` / ``<=`` and every off-by-one in a bound changes the answer.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient

from movielens_api.testing import serving_app

START = int(datetime(2019, 1, 2, tzinfo=UTC).timestamp())  # 2019-01-02T00:00:00Z
END = int(datetime(2019, 1, 4, tzinfo=UTC).timestamp())  # 2019-01-04T00:00:00Z
STAMPS = [START - 1, START, START + 1, START + 86_400, END - 1, END, END + 1]


@pytest.fixture(scope="module")
def boundary_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    folder = tmp_path_factory.mktemp("boundaries") / "ml-bounds"
    folder.mkdir()
    # one rating per stamp, each by its own user, so that the result identifies exactly which stamps came back
    rows = [f"{user},1,4.0,{stamp}" for user, stamp in enumerate(STAMPS, start=1)]
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n" + "\n".join(rows) + "\n")
    (folder / "movies.csv").write_text("movieId,title,genres\n1,Boundary (2019),Drama\n")
    return serving_app(folder, tmp_path_factory.mktemp("boundaries-cache"))


@pytest.fixture
def boundary_client(boundary_app: Flask) -> FlaskClient:
    return boundary_app.test_client()


def stamps(client: FlaskClient, auth: dict, **query: str) -> list[int]:
    r = client.get("/ratings", query_string={**query, "limit": 100}, headers=auth)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["total"] == len(body["result"])
    return [row["timestamp"] for row in body["result"]]


def test_dataset_holds_every_stamp(boundary_client: FlaskClient, auth: dict) -> None:
    assert stamps(boundary_client, auth) == STAMPS


def test_start_and_end(boundary_client: FlaskClient, auth: dict) -> None:
    got = stamps(boundary_client, auth, start_date="2019-01-02", end_date="2019-01-04")
    assert got == [START, START + 1, START + 86_400, END - 1]


def test_start_date_includes_its_midnight(boundary_client: FlaskClient, auth: dict) -> None:
    assert stamps(boundary_client, auth, start_date="2019-01-02") == [s for s in STAMPS if s >= START]


def test_end_date_excludes_its_midnight(boundary_client: FlaskClient, auth: dict) -> None:
    assert stamps(boundary_client, auth, end_date="2019-01-04") == [s for s in STAMPS if s < END]


def test_consecutive_days_split_at_midnight(boundary_client: FlaskClient, auth: dict) -> None:
    first = stamps(boundary_client, auth, start_date="2019-01-01", end_date="2019-01-02")
    second = stamps(boundary_client, auth, start_date="2019-01-02", end_date="2019-01-03")
    assert first == [START - 1]
    assert second == [START, START + 1]


def test_same_start_and_end_is_empty(boundary_client: FlaskClient, auth: dict) -> None:
    assert stamps(boundary_client, auth, start_date="2019-01-02", end_date="2019-01-02") == []


def test_paging_across_a_bound_keeps_the_bound(boundary_client: FlaskClient, auth: dict) -> None:
    query = {"start_date": "2019-01-02", "end_date": "2019-01-04", "limit": 1}
    pages = [
        boundary_client.get("/ratings", query_string={**query, "offset": o}, headers=auth).get_json()
        for o in range(5)
    ]
    assert [p["total"] for p in pages] == [4] * 5
    got = [row["timestamp"] for p in pages for row in p["result"]]
    assert got == [START, START + 1, START + 86_400, END - 1]
