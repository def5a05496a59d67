"""Every line of the HTTP contract, through the Flask test client."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from flask import Flask
from flask.testing import FlaskClient

from movielens_api import create_app
from movielens_api.testing import basic


@pytest.fixture(scope="module")
def csv_ratings(small_dir: Path) -> pd.DataFrame:
    """The source CSV in the API's order."""
    df = pd.read_csv(small_dir / "ratings.csv")
    return df.sort_values(["timestamp", "userId", "movieId"], kind="stable").reset_index(drop=True)


def test_greeting(client: FlaskClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert r.mimetype == "text/plain"
    assert r.get_data(as_text=True) == "Hello from the Movie Rating API!"


def test_health(client: FlaskClient, csv_ratings: pd.DataFrame) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    body = r.get_json()
    assert body["status"] == "ok"
    assert body["dataset"] == "ml-small"
    assert body["rows"] == len(csv_ratings)
    assert body["first_rating_date"] == "2019-01-01"
    assert body["last_rating_date"] == "2019-01-07"
    assert body["last_rating_timestamp"] == int(csv_ratings["timestamp"].max())
    health_schema = client.get("/openapi.json").get_json()["components"]["schemas"]["Health"]
    assert set(body) == set(health_schema["required"]) == set(health_schema["properties"])


def test_health_503_while_loading(app: Flask) -> None:
    store = app.extensions["movielens_store"]
    ready = store._ready
    store._ready, store._next_poll = None, float("inf")
    try:
        client = app.test_client()
        r = client.get("/health")
        assert r.status_code == 503
        assert r.get_json()["status"] == "loading"
        r = client.get("/ratings", headers=basic("airflow", "airflow"))
        assert r.status_code == 503
        assert "loading" in r.get_json()["error"]
    finally:
        store._ready, store._next_poll = ready, 0.0


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic("airflow", "wrong"),
        basic("wrong", "airflow"),
        basic("", ""),
        {"Authorization": "Basic not-base64!"},
        {"Authorization": "Bearer airflow"},
    ],
)
@pytest.mark.parametrize("path", ["/ratings", "/movies"])
def test_auth_required(client: FlaskClient, headers: dict[str, str], path: str) -> None:
    r = client.get(path, headers=headers)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Basic realm="movielens"'
    assert r.is_json
    assert "error" in r.get_json()


def test_custom_credentials(small_dir: Path, tmp_path: Path) -> None:
    app = create_app(
        {
            "MOVIELENS_DATA": str(small_dir),
            "MOVIELENS_CACHE_DIR": str(tmp_path),
            "DATA_LOAD": "sync",
            "API_USER": "ana",
            "API_PASSWORD": "s3cret",
        }
    )
    client = app.test_client()
    assert client.get("/ratings", headers=basic("airflow", "airflow")).status_code == 401
    assert client.get("/ratings", headers=basic("ana", "s3cret")).status_code == 200


def test_ratings_default_page(client: FlaskClient, auth: dict, csv_ratings: pd.DataFrame) -> None:
    r = client.get("/ratings", headers=auth)
    assert r.status_code == 200
    body = r.get_json()
    assert list(body) == ["result", "limit", "offset", "total"]
    assert (body["limit"], body["offset"], body["total"]) == (100, 0, len(csv_ratings))
    expected = csv_ratings.head(100).to_dict(orient="records")
    assert body["result"] == expected
    first = body["result"][0]
    assert [type(first[k]) for k in ("userId", "movieId", "rating", "timestamp")] == [int, int, float, int]


@pytest.mark.parametrize(
    ("start", "end"),
    [("2019-01-02", "2019-01-03"), ("2019-01-03", None), (None, "2019-01-02"), ("2018-01-01", "2030-01-01")],
)
def test_ratings_date_range(client: FlaskClient, auth: dict, csv_ratings: pd.DataFrame, start, end) -> None:
    query = {"limit": 10_000}
    mask = np.ones(len(csv_ratings), bool)
    if start:
        query["start_date"] = start
        mask &= csv_ratings["timestamp"] >= pd.Timestamp(start, tz="UTC").timestamp()
    if end:
        query["end_date"] = end
        mask &= csv_ratings["timestamp"] < pd.Timestamp(end, tz="UTC").timestamp()
    body = client.get("/ratings", query_string=query, headers=auth).get_json()
    assert body["total"] == int(mask.sum())
    assert body["result"] == csv_ratings[mask].to_dict(orient="records")


def test_paging_never_skips_or_repeats(client: FlaskClient, auth: dict, csv_ratings: pd.DataFrame) -> None:
    seen = []
    offset = 0
    while True:
        body = client.get("/ratings", query_string={"offset": offset, "limit": 777}, headers=auth).get_json()
        seen += body["result"]
        offset += 777
        if offset >= body["total"]:
            break
    assert seen == csv_ratings.to_dict(orient="records")


@pytest.mark.parametrize(
    ("query", "total"),
    [
        ({"offset": 10**9}, 6000),
        ({"start_date": "2019-01-03", "end_date": "2019-01-03"}, 0),
        ({"start_date": "2030-01-01"}, 0),
        ({"end_date": "2000-01-01"}, 0),
    ],
)
def test_empty_pages(client: FlaskClient, auth: dict, query: dict, total: int) -> None:
    r = client.get("/ratings", query_string=query, headers=auth)
    assert r.status_code == 200
    body = r.get_json()
    assert body["result"] == []
    assert body["total"] == total


BAD_RATINGS = [
    ("limit=abc", "limit"),
    ("limit=1.5", "limit"),
    ("limit=", "limit"),
    ("limit=-1", "limit"),
    ("limit=0", "limit"),
    ("limit=10001", "limit"),
    ("limit=+5", "limit"),
    ("limit=%205", "limit"),
    ("limit=99999999999999999999999999", "limit"),
    ("offset=-1", "offset"),
    ("offset=x", "offset"),
    ("offset=1e3", "offset"),
    ("offset=9007199254740992", "offset"),
    ("offset=1&offset=2", "offset"),
    ("start_date=2019-13-01", "start_date"),
    ("start_date=2019-02-30", "start_date"),
    ("start_date=2019-1-1", "start_date"),
    ("start_date=20190101", "start_date"),
    ("start_date=0000-01-01", "start_date"),
    ("start_date=yesterday", "start_date"),
    ("end_date=2019-01-01T00:00", "end_date"),
    ("end_date=", "end_date"),
    ("start_date=2019-01-05&end_date=2019-01-04", "end_date"),
    ("foo=1", "foo"),
    ("movieId=1", "movieId"),
]


@pytest.mark.parametrize(("qs", "param"), BAD_RATINGS)
def test_ratings_bad_input(client: FlaskClient, auth: dict, qs: str, param: str) -> None:
    r = client.get(f"/ratings?{qs}", headers=auth)
    assert r.status_code == 400, r.data
    assert r.is_json
    assert param in r.get_json()["error"]


def test_movies(client: FlaskClient, auth: dict, small_dir: Path) -> None:
    movies = pd.read_csv(small_dir / "movies.csv").sort_values("movieId")
    body = client.get("/movies", query_string={"limit": 10_000}, headers=auth).get_json()
    assert body["total"] == len(movies) == 400
    assert [m["movieId"] for m in body["result"]] == movies["movieId"].tolist()
    assert [m["title"] for m in body["result"]] == movies["title"].tolist()
    for m, genres in zip(body["result"], movies["genres"], strict=True):
        assert isinstance(m["genres"], list)
        assert m["genres"] == ([] if genres == "(no genres listed)" else genres.split("|"))
    assert any("," in m["title"] for m in body["result"])


def test_movies_filter_and_paging(client: FlaskClient, auth: dict) -> None:
    ids = [m["movieId"] for m in client.get("/movies?limit=50", headers=auth).get_json()["result"]]
    pick = [ids[7], ids[3], ids[20], ids[3]]
    qs = f"movieId={pick[0]},{pick[1]}&movieId={pick[2]}&movieId={pick[3]}&movieId=2147483647"
    body = client.get(f"/movies?{qs}", headers=auth).get_json()
    assert body["total"] == 3
    assert [m["movieId"] for m in body["result"]] == sorted(set(pick))
    body = client.get(f"/movies?{qs}&limit=2&offset=1", headers=auth).get_json()
    assert [m["movieId"] for m in body["result"]] == sorted(set(pick))[1:3]
    assert (body["limit"], body["offset"], body["total"]) == (2, 1, 3)
    body = client.get("/movies?offset=400", headers=auth).get_json()
    assert (body["result"], body["total"]) == ([], 400)


@pytest.mark.parametrize(
    "qs",
    [
        "movieId=abc",
        "movieId=1,,2",
        "movieId=",
        "movieId=0",
        "movieId=-3",
        "movieId=2147483648",
        "limit=0",
        "offset=-1",
        "start_date=2019-01-01",
        "bogus=1",
    ],
)
def test_movies_bad_input(client: FlaskClient, auth: dict, qs: str) -> None:
    r = client.get(f"/movies?{qs}", headers=auth)
    assert r.status_code == 400
    assert qs.split("=")[0] in r.get_json()["error"]


def test_unknown_path_is_json_404(client: FlaskClient) -> None:
    r = client.get("/nope")
    assert r.status_code == 404
    assert r.is_json
    assert "error" in r.get_json()


@pytest.mark.parametrize("method", ["post", "put", "delete", "patch"])
def test_wrong_method_is_json_405(client: FlaskClient, auth: dict, method: str) -> None:
    r = getattr(client, method)("/ratings", headers=auth)
    assert r.status_code == 405
    assert r.is_json
    assert "GET" in r.headers["Allow"]


def test_openapi(client: FlaskClient) -> None:
    r = client.get("/openapi.json")
    assert r.status_code == 200
    doc = r.get_json()
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == {"/", "/health", "/ratings", "/movies", "/openapi.json"}
    limit = next(p for p in doc["paths"]["/ratings"]["get"]["parameters"] if p["name"] == "limit")
    assert limit["schema"]["maximum"] == 10_000


def test_max_limit_from_config(small_dir: Path, tmp_path: Path) -> None:
    app = create_app(
        {
            "MOVIELENS_DATA": str(small_dir),
            "MOVIELENS_CACHE_DIR": str(tmp_path),
            "DATA_LOAD": "sync",
            "API_MAX_LIMIT": 50,
        }
    )
    client = app.test_client()
    auth = basic("airflow", "airflow")
    assert client.get("/ratings?limit=50", headers=auth).status_code == 200
    assert client.get("/ratings?limit=51", headers=auth).status_code == 400
    # as many movie ids as the largest page, and not one more
    assert client.get(f"/movies?movieId={','.join(map(str, range(1, 51)))}", headers=auth).status_code == 200
    r = client.get(f"/movies?movieId={','.join(map(str, range(1, 52)))}", headers=auth)
    assert r.status_code == 400
    assert r.get_json()["error"] == "parameter 'movieId' lists 51 ids; at most 50 allowed"


def test_lowest_movie_id_is_accepted(client: FlaskClient, auth: dict) -> None:
    r = client.get("/movies?movieId=1", headers=auth)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["total"] in (0, 1)


def test_unknown_parameter_lists_the_allowed_ones(client: FlaskClient, auth: dict) -> None:
    r = client.get("/ratings?foo=1", headers=auth)
    assert r.get_json()["error"] == "unknown parameter 'foo'; allowed: start_date, end_date, offset, limit"
