"""Every MovieLens release format (movielens_api.dataset.formats) into the same serving cache: small twins of
the csv (ml-20m .. ml-32m, ml-latest), dat (ml-1m in Latin-1, ml-10m in UTF-8) and ml-100k layouts, as folders
and as GroupLens-style zips, each read back equal to the data it was written from."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest

from movielens_api import cache
from movielens_api.dataset import SourceError, resolve
from movielens_api.dataset.convert import ensure_cache
from movielens_api.dataset.formats import EXPECTED, GENRES_100K, LAYOUTS

ROW = "{u}::{m}::{r:g}::{t}"


def write_csv(data: dict, folder: Path) -> None:
    data["ratings"].to_csv(folder / "ratings.csv", index=False)
    movies = data["movies"].assign(
        genres=lambda f: f["genres"].map(lambda g: "|".join(g) or "(no genres listed)")
    )
    movies.to_csv(folder / "movies.csv", index=False)


def write_dat(encoding: str):
    def write(data: dict, folder: Path) -> None:
        rows = data["ratings"].itertuples(index=False)
        lines = [ROW.format(u=r.userId, m=r.movieId, r=r.rating, t=r.timestamp) for r in rows]
        (folder / "ratings.dat").write_text("\n".join(lines) + "\n")
        movies = [
            f"{m.movieId}::{m.title}::{'|'.join(m.genres)}" for m in data["movies"].itertuples(index=False)
        ]
        (folder / "movies.dat").write_bytes(("\n".join(movies) + "\n").encode(encoding))

    return write


def write_100k(data: dict, folder: Path) -> None:
    rows = data["ratings"].itertuples(index=False)
    (folder / "u.data").write_text(
        "".join(f"{r.userId}\t{r.movieId}\t{r.rating:g}\t{r.timestamp}\n" for r in rows)
    )
    items = []
    for m in data["movies"].itertuples(index=False):
        flags = "|".join("1" if name in m.genres else "0" for name in GENRES_100K)
        items.append(f"{m.movieId}|{m.title}|01-Jan-1995||http://us.imdb.com/x|{flags}\n")
    (folder / "u.item").write_bytes("".join(items).encode("latin-1"))


FORMATS = {
    "csv": (write_csv, ["ratings.csv", "movies.csv"]),
    "dat-latin-1": (write_dat("latin-1"), ["ratings.dat", "movies.dat"]),
    "dat-utf-8": (write_dat("utf-8"), ["ratings.dat", "movies.dat"]),
    "100k": (write_100k, ["u.data", "u.item"]),
}


@pytest.fixture(scope="module")
def data() -> dict:
    """What every twin holds: 3,000 ratings (half stars included), 120 movies with accented titles, genres
    from ml-100k's list, one movie without a genre."""
    rng = np.random.default_rng(7)
    n = 3_000
    ratings = pd.DataFrame(
        {
            "userId": rng.integers(1, 200, n),
            "movieId": rng.integers(1, 121, n),
            "rating": rng.integers(1, 11, n) / 2,
            "timestamp": 1_546_300_800 + rng.integers(0, 30 * 86_400, n),
        }
    )
    names = ["Café", "Noël", "Señor", "Amélie", "Night", "Ghost"]
    movies = pd.DataFrame(
        {
            "movieId": range(1, 121),
            "title": [f"{names[i % len(names)]} {i}, The (19{50 + i % 50})" for i in range(120)],
            "genres": [
                [] if i == 0 else [GENRES_100K[1 + i % 18], GENRES_100K[1 + (i * 7) % 18]] for i in range(120)
            ],
        }
    )
    movies["genres"] = movies["genres"].map(lambda g: sorted(set(g), key=GENRES_100K.index))
    return {"ratings": ratings, "movies": movies}


def release(data: dict, tmp_path: Path, fmt: str, *, zipped: bool) -> Path:
    write, members = FORMATS[fmt]
    folder = tmp_path / f"ml-{fmt}"
    folder.mkdir()
    write(data, folder)
    if not zipped:
        return folder
    target = tmp_path / f"ml-{fmt}.zip"
    with zipfile.ZipFile(target, "w") as zf:
        for member in members:
            zf.write(folder / member, f"ml-{fmt}/{member}")
        zf.writestr(f"ml-{fmt}/README.txt", "not data")
    return target


@pytest.mark.parametrize("zipped", [False, True], ids=["folder", "zip"])
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_format_reads_into_the_same_cache(data: dict, tmp_path: Path, fmt: str, zipped: bool) -> None:
    source = resolve(release(data, tmp_path, fmt, zipped=zipped))
    assert source.layout.name == fmt.split("-")[0]
    assert source.name == f"ml-{fmt}"
    served = cache.open_cache(ensure_cache(source, tmp_path / "cache"), None)
    ratings = data["ratings"].sort_values(["timestamp", "userId", "movieId"], kind="stable")
    assert np.array_equal(served.timestamp, ratings["timestamp"].to_numpy())
    assert np.array_equal(served.user, ratings["userId"].to_numpy())
    assert np.array_equal(served.movie, ratings["movieId"].to_numpy())
    assert np.array_equal(served.rating * served.rating_scale, ratings["rating"].to_numpy())
    assert served.movie_ids.tolist() == data["movies"]["movieId"].tolist()
    movies = [orjson.loads(m) for m in served.movies]
    assert [m["title"] for m in movies] == data["movies"]["title"].tolist()
    assert [m["genres"] for m in movies] == data["movies"]["genres"].tolist()


def test_a_separator_split_across_reads_is_still_one_separator() -> None:
    class Trickle(io.RawIOBase):
        """Hands out at most 3 bytes a read: every '::' is split across two reads somewhere."""

        def __init__(self, data: bytes) -> None:
            self.data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, b) -> int:
            chunk = self.data.read(min(len(b), 3))
            b[: len(chunk)] = chunk
            return len(chunk)

    text = b"".join(
        b"%d::%d::%g::%d\n" % (u, u * 7, (u % 10 + 1) / 2, 964_982_703 + u) for u in range(1, 500)
    )
    dat = next(layout for layout in LAYOUTS if layout.name == "dat")
    frame = pd.concat(dat.read_ratings(Trickle(text), 97))
    assert frame["userId"].tolist() == list(range(1, 500))
    assert frame["movieId"].tolist() == [u * 7 for u in range(1, 500)]
    assert frame["rating"].tolist() == [(u % 10 + 1) / 2 for u in range(1, 500)]


def test_anything_else_is_refused_naming_what_was_expected(tmp_path: Path) -> None:
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4,964982703\n")  # no movies
    with pytest.raises(SourceError) as caught:
        resolve(tmp_path)
    assert str(caught.value) == f"{tmp_path} is not a MovieLens release folder: expected {EXPECTED}"
    assert "u.data and u.item (ml-100k)" in EXPECTED
    assert "ratings.dat and movies.dat (ml-1m, ml-10m)" in EXPECTED
    zipped = tmp_path / "x.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("x/u.data", "1\t1\t4\t964982703\n")
    with pytest.raises(SourceError, match=r"x\.zip holds no MovieLens release: expected ratings\.csv and"):
        resolve(zipped)


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"ratings.dat": "1::2::x::964982703\n", "movies.dat": "2::A (1999)::Drama\n"},
            "ratings.dat is not in",
        ),
        (
            {"ratings.dat": "1::2::4::964982703\n", "movies.dat": "2|A (1999)|Drama\n"},
            "movies.dat: line 1 is not",
        ),
        (
            {"u.data": "1\t2\t4\t964982703\n", "u.item": "2|A (1999)|x|y|z|0|1\n"},
            "u.item: line 1 does not end",
        ),
    ],
)
def test_malformed_files_are_refused_with_their_name(tmp_path: Path, files: dict, message: str) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    with pytest.raises(SourceError, match=f"^{message}"):
        ensure_cache(resolve(folder), tmp_path / "cache")
