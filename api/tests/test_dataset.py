"""Dataset sources: synth shape, convert round trip, zip sources, download with MD5, the CLI."""

from __future__ import annotations

import csv
import hashlib
import http.server
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from movielens_api import cache
from movielens_api.dataset import DownloadError, resolve
from movielens_api.dataset.__main__ import main
from movielens_api.dataset.convert import ensure_cache
from movielens_api.dataset.download import download
from movielens_api.dataset.synth import RATING_COUNTS, SynthSpec, pack_zip, synthesize
from movielens_api.testing import SMALL_SYNTH_OPTIONS

SHAPE = SynthSpec(
    rows=200_000, users=4_000, movies=3_000, start=date(1995, 1, 9), end=date(2019, 11, 22), seed=11
)


@pytest.fixture(scope="module")
def shaped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthesize(tmp_path_factory.mktemp("shape") / "twin", SHAPE)


def test_synth_format(shaped: Path) -> None:
    with (shaped / "ratings.csv").open("rb") as fh:
        assert fh.readline() == b"userId,movieId,rating,timestamp\n"
        line = fh.readline().decode()
    user, movie, rating, ts = line.rstrip("\n").split(",")
    assert user.isdigit()
    assert movie.isdigit()
    assert ts.isdigit()
    assert rating in {f"{h / 2:.1f}" for h in range(1, 11)}
    with (shaped / "movies.csv").open(encoding="utf-8", newline="") as fh:
        assert fh.readline() == "movieId,title,genres\n"
        raw = fh.read()
    assert '"' in raw  # titles with commas are quoted, MovieLens style
    rows = list(csv.reader(raw.splitlines()))
    assert all(len(r) == 3 for r in rows)
    assert all(r[1][-6:-5] == "(" and r[1][-5:-1].isdigit() and r[1].endswith(")") for r in rows)
    assert all(r[2] == "(no genres listed)" or all(g.isascii() for g in r[2].split("|")) for r in rows)


def test_synth_shape(shaped: Path) -> None:
    df = pd.read_csv(shaped / "ratings.csv")
    movies = pd.read_csv(shaped / "movies.csv")
    assert len(df) == SHAPE.rows
    assert df["userId"].nunique() == SHAPE.users
    assert df["userId"].min() == 1
    assert df["userId"].max() == SHAPE.users
    assert len(movies) == SHAPE.movies
    assert movies["movieId"].is_unique
    assert df["movieId"].isin(movies["movieId"]).all()
    assert not df.duplicated(["userId", "movieId"]).any()
    assert df.groupby("userId").size().min() >= 20
    # File order is MovieLens's: by userId, then movieId.
    assert df[["userId", "movieId"]].apply(tuple, axis=1).is_monotonic_increasing
    # Real half-star histogram.
    hist = df["rating"].value_counts(normalize=True).sort_index().to_numpy()
    assert np.allclose(hist, RATING_COUNTS / RATING_COUNTS.sum(), atol=0.005)
    # Timestamps in [start, end), volume rising over the years.
    lo = datetime(1995, 1, 9, tzinfo=UTC).timestamp()
    hi = datetime(2019, 11, 22, tzinfo=UTC).timestamp()
    assert df["timestamp"].min() >= lo
    assert df["timestamp"].max() < hi
    years = pd.to_datetime(df["timestamp"], unit="s").dt.year.value_counts().sort_index()
    assert years.loc[2018] > 2 * years.loc[1996]
    # Zipf-like: the top 1% of movies gets far more than 1% of the ratings; activity is skewed too.
    per_movie = df["movieId"].value_counts()
    assert per_movie.head(len(movies) // 100).sum() > 0.15 * len(df)
    per_user = df["userId"].value_counts()
    assert per_user.max() > 10 * per_user.median()


def test_synth_is_deterministic(tmp_path: Path) -> None:
    spec = SynthSpec(rows=3_000, users=100, movies=200, seed=5)
    a = synthesize(tmp_path / "a", spec)
    b = synthesize(tmp_path / "b", spec)
    for f in ("ratings.csv", "movies.csv"):
        assert (a / f).read_bytes() == (b / f).read_bytes()


def test_synth_rejects_impossible_shapes() -> None:
    with pytest.raises(ValueError, match="rows"):
        SynthSpec(rows=1_000, users=10, movies=10).validate()
    with pytest.raises(ValueError, match="end date"):
        SynthSpec(rows=10, users=10, movies=10, start=date(2019, 1, 2), end=date(2019, 1, 1)).validate()


def test_cli_synth_exact_test_command(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    argv = ["synth", "--out", str(out), *SMALL_SYNTH_OPTIONS]
    assert main(argv) == 0
    df = pd.read_csv(out / "ratings.csv")
    assert len(df) == 60_000
    assert df["userId"].nunique() == 2000
    start = datetime(2019, 1, 1, tzinfo=UTC).timestamp()
    end = datetime(2019, 1, 15, tzinfo=UTC).timestamp()
    assert df["timestamp"].between(start, end - 1).all()


def _assert_round_trip(cache_dir: Path, folder: Path) -> None:
    data = cache.open_cache(cache_dir, None)
    df = pd.read_csv(folder / "ratings.csv").sort_values(["timestamp", "userId", "movieId"], kind="stable")
    assert np.array_equal(data.timestamp, df["timestamp"].to_numpy())
    assert np.array_equal(data.user, df["userId"].to_numpy())
    assert np.array_equal(data.movie, df["movieId"].to_numpy())
    assert np.array_equal(data.rating * data.rating_scale, df["rating"].to_numpy())
    movies = pd.read_csv(folder / "movies.csv").sort_values("movieId")
    assert np.array_equal(data.movie_ids, movies["movieId"].to_numpy())
    import orjson

    parsed = [orjson.loads(m) for m in data.movies]
    assert [m["title"] for m in parsed] == movies["title"].tolist()
    assert ["|".join(m["genres"]) or "(no genres listed)" for m in parsed] == movies["genres"].tolist()


def test_convert_round_trip(small_dir: Path, tmp_path: Path) -> None:
    target = ensure_cache(resolve(small_dir), tmp_path)
    _assert_round_trip(target, small_dir)


def test_convert_zip_round_trip(small_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "ml-zipped"
    folder.mkdir()
    for f in ("ratings.csv", "movies.csv"):
        (folder / f).write_bytes((small_dir / f).read_bytes())
    zipped = pack_zip(folder)
    source = resolve(zipped)
    assert source.is_zip
    assert source.name == "ml-zipped"
    target = ensure_cache(source, tmp_path / "root")
    assert target.parent == zipped.parent  # cached next to the zip
    _assert_round_trip(target, folder)


def test_convert_real_movielens_quirks(tmp_path: Path) -> None:
    """ml-latest-small style: CRLF-free CSV, quoted titles with quotes, unicode, no-genre movies."""
    src = tmp_path / "ml-mini"
    src.mkdir()
    (src / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.0,964981247\n2,3,0.5,964981247\n"
        "2,1,5.0,1445714835\n"
    )
    (src / "movies.csv").write_text(
        "movieId,title,genres\n1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\n"
        '3,"Grumpier Old Men, The ""Sequel"" (1995)",(no genres listed)\n'
        "7,Amélie (Fabuleux destin d'Amélie Poulain) (2001),Comedy|Romance\n",
        encoding="utf-8",
    )
    data = cache.open_cache(ensure_cache(resolve(src), tmp_path), None)
    assert data.timestamp.tolist() == [964981247, 964981247, 964982703, 1445714835]
    assert data.user.tolist() == [1, 2, 1, 2]
    assert (data.rating * data.rating_scale).tolist() == [4.0, 0.5, 4.0, 5.0]
    import orjson

    movies = [orjson.loads(m) for m in data.movies]
    assert movies[1] == {"movieId": 3, "title": 'Grumpier Old Men, The "Sequel" (1995)', "genres": []}
    assert movies[2]["title"].startswith("Amélie")


def test_convert_refuses_malformed(tmp_path: Path) -> None:
    src = tmp_path / "bad"
    src.mkdir()
    (src / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,four,964982703\n")
    (src / "movies.csv").write_text("movieId,title,genres\n1,A (1999),Drama\n")
    assert main(["convert", str(src)]) == 1
    assert main(["convert", str(tmp_path / "missing")]) == 1


# --- download -----------------------------------------------------------------------------------


@pytest.fixture
def served_zip(small_dir: Path, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A GroupLens-style zip served over HTTP on 127.0.0.1; yields (url, md5)."""
    root = tmp_path / "www"
    folder = root / "ml-test"
    folder.mkdir(parents=True)
    for f in ("ratings.csv", "movies.csv"):
        (folder / f).write_bytes((small_dir / f).read_bytes())
    zipped = pack_zip(folder)
    md5 = hashlib.md5(zipped.read_bytes()).hexdigest()
    (folder / "ml-test.zip.md5").write_text(f"{md5}  ml-test.zip\n")
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a, **k: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/ml-test.zip", md5
    finally:
        server.shutdown()
        server.server_close()


def test_download_verifies_md5(served_zip: tuple[str, str], tmp_path: Path) -> None:
    url, md5 = served_zip
    dest = tmp_path / "dl"
    got = download(dest, url, md5)
    assert got == dest / "ml-test.zip"
    assert hashlib.md5(got.read_bytes()).hexdigest() == md5
    assert sorted(p.name for p in dest.iterdir()) == ["ml-test.zip"]
    assert resolve(got).name == "ml-test"


def test_download_uses_published_md5(served_zip: tuple[str, str], tmp_path: Path) -> None:
    url, _ = served_zip
    assert main(["download", "--dest", str(tmp_path / "dl"), "--url", url]) == 0
    assert (tmp_path / "dl" / "ml-test.zip").is_file()


def test_download_refuses_wrong_md5(served_zip: tuple[str, str], tmp_path: Path) -> None:
    url, _ = served_zip
    dest = tmp_path / "dl"
    with pytest.raises(DownloadError, match="MD5 mismatch"):
        download(dest, url, "0" * 32)
    assert list(dest.iterdir()) == []  # nothing half-written, nothing unverified
    assert main(["download", "--dest", str(dest), "--url", url, "--md5", "f" * 32]) == 1
    assert list(dest.iterdir()) == []


def test_download_http_error_leaves_nothing(served_zip: tuple[str, str], tmp_path: Path) -> None:
    url, md5 = served_zip
    dest = tmp_path / "dl"
    with pytest.raises(DownloadError):
        download(dest, url.replace("ml-test.zip", "missing.zip"), md5)
    assert list(dest.iterdir()) == []
