"""`make evaluate`'s command line (tools/evaluate.py) on small MovieLens folders and zips."""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from airflow_movielens.dates import as_midnight
from include.movielens.backtest import EVAL_COLUMNS
from include.movielens.popularity import METHODS
from include.movielens.windows import WINDOWS
from tools import evaluate as cli

DAY = 86_400
ROWS = len(METHODS) * len(WINDOWS) + 1


@pytest.fixture(scope="module")
def movielens(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A MovieLens-format folder: 200 users, 80 movies, 20,000 ratings over 2018-01-01 .. 2019-06-30."""
    folder = tmp_path_factory.mktemp("data") / "ml-tiny"
    folder.mkdir()
    rng = np.random.default_rng(5)
    n = 20_000
    ratings = pd.DataFrame(
        {
            "userId": rng.integers(1, 201, n),
            "movieId": rng.zipf(1.5, n) % 80 + 1,
            "rating": rng.integers(1, 11, n) / 2,
            "timestamp": as_midnight("2018-01-01") + rng.integers(0, 546 * DAY, n),
        }
    )
    ratings.to_csv(folder / "ratings.csv", index=False)
    movies = pd.DataFrame({"movieId": range(1, 81), "title": [f"M{i} (2000)" for i in range(1, 81)]})
    movies.assign(genres="Drama").to_csv(folder / "movies.csv", index=False)
    return folder


def test_folder_gives_table_csv_and_chart(movielens: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "eval" / "result.csv"
    args = ["--data", str(movielens), "--cutoffs", "2019-03-01,2019-05-01", "--k", "5", "--out", str(out)]
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    assert "Backtest of 2 cutoffs (2019-03-01 .. 2019-05-01), horizon 30 days, K = 5" in printed
    assert "nDCG@5" in printed
    assert "Best: " in printed
    results = pd.read_csv(out)
    assert list(results.columns) == EVAL_COLUMNS
    assert len(results) == 2 * ROWS
    assert set(results["k"]) == {5}
    assert set(results["horizon_days"]) == {30}
    assert results["hr"].between(0, 1).all()
    if importlib.util.find_spec("matplotlib"):
        assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert sorted(p.name for p in out.parent.iterdir()) == ["result.csv", "result.png"]  # no temporary
    else:  # e.g. `astro dev pytest` in an image without matplotlib: the CSV still comes, the chart is named
        assert "Chart: not drawn (matplotlib is not installed)" in printed
        assert sorted(p.name for p in out.parent.iterdir()) == ["result.csv"]


def test_zip_with_a_sub_folder_gives_the_same_numbers(movielens: Path, tmp_path: Path) -> None:
    archive = tmp_path / "ml-tiny.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in ("ratings.csv", "movies.csv"):
            zf.write(movielens / name, f"ml-tiny/{name}")
    from_zip, from_folder = tmp_path / "zip.csv", tmp_path / "folder.csv"
    common = ["--cutoffs", "2019-04-01", "--horizon", "45"]
    assert cli.main(["--data", str(archive), "--out", str(from_zip), *common]) == 0
    assert cli.main(["--data", str(movielens), "--out", str(from_folder), *common]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(from_zip), pd.read_csv(from_folder))


@pytest.mark.parametrize("release", ["ml-100k", "ml-1m"])
def test_every_release_format_gives_the_same_numbers(movielens: Path, tmp_path: Path, release: str) -> None:
    """The same ratings as ml-100k's u.data/u.item or ml-1m's ratings.dat/movies.dat (the API's reader)."""
    ratings, movies = pd.read_csv(movielens / "ratings.csv"), pd.read_csv(movielens / "movies.csv")
    folder = tmp_path / release
    folder.mkdir()
    if release == "ml-100k":
        ratings.to_csv(folder / "u.data", sep="\t", header=False, index=False)
        flags = "|".join(["0"] * 8 + ["1"] + ["0"] * 10)  # Drama
        items = "".join(
            f"{m}|{t}|01-Jan-2000||http://x|{flags}\n"
            for m, t in zip(movies["movieId"], movies["title"], strict=True)
        )
        (folder / "u.item").write_bytes(items.encode("latin-1"))
    else:
        rows = ratings.itertuples(index=False)
        (folder / "ratings.dat").write_text(
            "".join(f"{r.userId}::{r.movieId}::{r.rating:g}::{r.timestamp}\n" for r in rows)
        )
        titles = zip(movies["movieId"], movies["title"], strict=True)
        (folder / "movies.dat").write_text("".join(f"{m}::{t}::Drama\n" for m, t in titles))
    common = ["--cutoffs", "2019-04-01", "--horizon", "45"]
    assert cli.main(["--data", str(folder), "--out", str(tmp_path / "other.csv"), *common]) == 0
    assert cli.main(["--data", str(movielens), "--out", str(tmp_path / "csv.csv"), *common]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "other.csv"), pd.read_csv(tmp_path / "csv.csv"))


def test_default_cutoffs_are_the_last_twelve_month_starts(movielens: Path, tmp_path: Path) -> None:
    # Data end on 2019-06-30: the last month start with a whole 30-day horizon is 2019-06-01.
    out = tmp_path / "default.csv"
    assert cli.main(["--data", str(movielens), "--out", str(out)]) == 0
    cutoffs = sorted(set(pd.read_csv(out)["cutoff"]))
    assert cutoffs[0] == "2018-07-01"
    assert cutoffs[-1] == "2019-06-01"
    assert len(cutoffs) == 12


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cutoffs", "2019-02-31"], "cutoff '2019-02-31' is not a YYYY-MM-DD date"),
        (["--k", "0"], "must be >= 1, got 0"),
        (["--horizon", "ten"], "'ten' is not an integer"),
    ],
)
def test_bad_arguments_are_named(movielens: Path, args: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--data", str(movielens), *args])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def _bad_zip(tmp_path: Path) -> Path:
    archive = tmp_path / "no-ratings.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ml/movies.csv", "movieId,title,genres\n")
    return archive


def _bad_csv(tmp_path: Path) -> Path:
    (tmp_path / "ratings.csv").write_text("user,item\n1,2\n")
    (tmp_path / "movies.csv").write_text("movieId,title,genres\n1,A (1999),Drama\n")
    return tmp_path


@pytest.mark.parametrize(
    ("data", "extra", "message"),
    [
        (lambda tmp, ml: tmp / "missing", [], "does not exist"),
        (lambda tmp, ml: tmp, [], "is not a MovieLens release folder: expected ratings.csv and movies.csv"),
        (
            lambda tmp, ml: _bad_zip(tmp),
            [],
            "holds no MovieLens release: expected ratings.csv and movies.csv",
        ),
        (lambda tmp, ml: _bad_csv(tmp), [], "ratings.csv is not in MovieLens format"),
        (lambda tmp, ml: ml, ["--cutoffs", "2017-01-01"], "cutoff 2017-01-01 is not after the first rating"),
        (lambda tmp, ml: ml, ["--cutoffs", "2020-01-01"], "cutoff 2020-01-01: no evaluated users"),
    ],
)
def test_bad_data_fails_with_a_message_and_keeps_the_previous_csv(
    movielens: Path, tmp_path: Path, data, extra: list[str], message: str, capsys
) -> None:
    out = tmp_path / "kept.csv"
    out.write_text("previous\n")
    assert cli.main(["--data", str(data(tmp_path, movielens)), "--out", str(out), *extra]) == 1
    assert message in capsys.readouterr().err
    assert out.read_text() == "previous\n"
