"""The real thing: gunicorn on an ephemeral port, queried with requests, checked against the source CSV."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import requests

from movielens_api.testing import SMALL_SYNTH_OPTIONS

API_DIR = Path(__file__).resolve().parents[1]
AUTH = ("airflow", "airflow")
pytestmark = pytest.mark.live


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Created exactly as the other suites do, through the CLI."""
    out = tmp_path_factory.mktemp("live") / "ds"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "movielens_api.dataset",
            "synth",
            "--out",
            str(out),
            *SMALL_SYNTH_OPTIONS,
        ],
        cwd=API_DIR,
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="module")
def server(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    env = {
        **os.environ,
        "MOVIELENS_DATA": str(dataset),
        "API_PORT": str(port),
        "MOVIELENS_CACHE_DIR": str(tmp_path_factory.mktemp("cache")),
    }
    log = (tmp_path_factory.mktemp("log") / "gunicorn.log").open("w+")
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "--config",
            "gunicorn.conf.py",
            "movielens_api:create_app()",
        ],
        cwd=API_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"gunicorn did not become healthy:\n{log.read()}")
            time.sleep(0.1)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


def test_greeting_and_health(server: str) -> None:
    r = requests.get(server + "/", timeout=5)
    assert (r.status_code, r.text) == (200, "Hello from the Movie Rating API!")
    health = requests.get(server + "/health", timeout=5).json()
    assert health["rows"] == 60_000
    assert (health["first_rating_date"], health["last_rating_date"]) == ("2019-01-01", "2019-01-14")


def test_auth_over_http(server: str) -> None:
    r = requests.get(server + "/ratings", timeout=5)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Basic realm="movielens"'
    assert requests.get(server + "/ratings", auth=("airflow", "nope"), timeout=5).status_code == 401


@pytest.mark.parametrize("limit", [100, 333, 1000, 10_000])
def test_paging_a_full_day_matches_the_csv(server: str, dataset: Path, limit: int) -> None:
    df = pd.read_csv(dataset / "ratings.csv")
    lo = pd.Timestamp("2019-01-09", tz="UTC").timestamp()
    hi = pd.Timestamp("2019-01-10", tz="UTC").timestamp()
    expected = df[(df["timestamp"] >= lo) & (df["timestamp"] < hi)]
    expected = expected.sort_values(["timestamp", "userId", "movieId"]).to_dict(orient="records")
    got: list[dict] = []
    offset, total = 0, None
    with requests.Session() as s:
        while total is None or offset < total:
            params = {"start_date": "2019-01-09", "end_date": "2019-01-10", "offset": offset, "limit": limit}
            body = s.get(server + "/ratings", params=params, auth=AUTH, timeout=10).json()
            assert total in (None, body["total"])
            total = body["total"]
            got += body["result"]
            offset += limit
    assert total == len(expected) > 1000
    assert len({(r["userId"], r["movieId"]) for r in got}) == total
    assert got == expected


def test_bad_input_over_http(server: str) -> None:
    r = requests.get(server + "/ratings", params={"limit": "lots"}, auth=AUTH, timeout=5)
    assert r.status_code == 400
    assert "limit" in r.json()["error"]
    assert requests.post(server + "/ratings", auth=AUTH, timeout=5).status_code == 405
    assert requests.get(server + "/missing", timeout=5).status_code == 404


def test_movies_over_http(server: str, dataset: Path) -> None:
    movies = pd.read_csv(dataset / "movies.csv")
    ids = movies["movieId"].sample(5, random_state=1).tolist()
    body = requests.get(
        server + "/movies", params={"movieId": ",".join(map(str, ids))}, auth=AUTH, timeout=5
    ).json()
    assert body["total"] == 5
    assert [m["movieId"] for m in body["result"]] == sorted(ids)
