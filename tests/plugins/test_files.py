"""atomic_write_records / read_records: formats, determinism, atomicity."""

from __future__ import annotations

import codecs
import datetime as dt
import decimal
import json
import locale
import os
import stat
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from airflow_movielens.exceptions import MovielensArgumentError
from airflow_movielens.records import atomic_open, atomic_write_records, read_records, record_format

FRAME = pd.DataFrame(
    {
        "movieId": np.array([1, 2, 3], dtype="int64"),
        "title": ["Toy Story (1995)", "Amélie (2001)", 'Heat, "the" (1995)'],
        "score": [4.25, np.nan, 1 / 3],
    }
)


@pytest.mark.parametrize("suffix", [".json", ".jsonl", ".csv", ".parquet"])
def test_round_trip_and_same_bytes(tmp_path, suffix):
    path = tmp_path / "nested" / f"out{suffix}"
    assert atomic_write_records(path, FRAME) == 3
    first = path.read_bytes()
    assert atomic_write_records(path, FRAME.copy()) == 3
    assert path.read_bytes() == first
    pd.testing.assert_frame_equal(read_records(path), FRAME, check_dtype=False)
    assert os.listdir(path.parent) == [path.name]
    assert stat.S_IMODE(path.stat().st_mode) & 0o644 == 0o644


def test_json_nulls_and_exact_floats(tmp_path):
    path = tmp_path / "out.json"
    atomic_write_records(path, FRAME)
    rows = json.loads(path.read_text(encoding="utf-8"))
    assert rows[1] == {"movieId": 2, "title": "Amélie (2001)", "score": None}
    assert rows[2]["score"] == 1 / 3


def test_records_input_and_odd_values(tmp_path):
    records = [{"a": 1, "when": dt.date(2019, 1, 1)}, {"a": np.int64(2), "b": "late key"}]
    path = tmp_path / "out.jsonl"
    assert atomic_write_records(path, records) == 2
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines == [{"a": 1, "when": "2019-01-01", "b": None}, {"a": 2, "when": None, "b": "late key"}]


def test_values_json_cannot_encode_are_converted(tmp_path):
    """Cells a DataFrame keeps as Python/numpy objects: timestamps as ISO text, numpy arrays as lists,
    anything else as its text."""
    records = [
        {
            "at": pd.Timestamp("2019-01-01 00:00:01", tz="UTC"),
            "ids": np.array([3, 1]),
            "weight": decimal.Decimal("1.50"),
        }
    ]
    path = tmp_path / "out.json"
    atomic_write_records(path, records)
    assert json.loads(path.read_text()) == [
        {"at": "2019-01-01T00:00:01+00:00", "ids": [3, 1], "weight": "1.50"}
    ]


def test_empty_inputs(tmp_path):
    atomic_write_records(tmp_path / "e.json", [])
    assert (tmp_path / "e.json").read_text() == "[]\n"
    atomic_write_records(tmp_path / "e.csv", FRAME.iloc[:0])
    assert (tmp_path / "e.csv").read_text() == "movieId,title,score\n"
    assert read_records(tmp_path / "e.json").empty


def test_failure_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")

    def write_then_fail() -> None:
        with atomic_open(path, "w") as handle:
            handle.write("new")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        write_then_fail()
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_bad_open_arguments_leave_no_temporary_file(tmp_path):
    with pytest.raises(LookupError), atomic_open(tmp_path / "out.txt", "w", encoding="no-such-codec"):
        pass
    assert os.listdir(tmp_path) == []


def test_object_storage_paths_are_written_under_a_temporary_name_then_renamed():
    from upath import UPath

    folder = UPath(f"memory://atomic-{os.getpid()}/rankings")
    target = folder / "day.csv"
    with atomic_open(target, "w", encoding="utf-8", newline="") as handle:
        handle.write("a,b\n")
    assert target.read_text() == "a,b\n"

    def write_then_fail() -> None:
        with atomic_open(target, "w", encoding="utf-8") as handle:
            handle.write("new")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        write_then_fail()
    assert target.read_text() == "a,b\n"
    assert [path.name for path in folder.iterdir()] == ["day.csv"]


def test_a_file_url_path_is_written_locally(tmp_path):
    from upath import UPath

    target = UPath(f"file://{tmp_path}/sub/day.csv")
    with atomic_open(target, "w", encoding="utf-8") as handle:
        handle.write("x")
    assert (tmp_path / "sub" / "day.csv").read_text() == "x"
    assert os.listdir(tmp_path / "sub") == ["day.csv"]


def test_writing_a_file_imports_no_airflow(tmp_path):
    code = (
        "import sys, airflow_movielens.records as files\n"
        f"files.atomic_write_records({str(tmp_path / 'a.csv')!r}, [{{'a': 1}}])\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'airflow', 'airflow_movielens'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['airflow_movielens']"
    assert (tmp_path / "a.csv").read_text() == "a\n1\n"


def test_unknown_format():
    with pytest.raises(MovielensArgumentError, match="use one of the extensions"):
        record_format("ratings.xlsx")
    assert record_format("A.PARQUET") == ".parquet"


def test_unknown_format_lists_the_supported_extensions():
    with pytest.raises(MovielensArgumentError) as caught:
        record_format("ratings.xlsx")
    assert str(caught.value).endswith("use one of the extensions .json, .jsonl, .csv, .parquet")


def test_a_new_file_gets_the_umask_mode_and_a_replaced_file_keeps_its_mode(tmp_path):
    old_umask = os.umask(0o027)
    try:
        atomic_write_records(tmp_path / "new.csv", FRAME)
        kept = tmp_path / "kept.csv"
        kept.write_text("old")
        kept.chmod(0o604)
        atomic_write_records(kept, FRAME)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "new.csv").stat().st_mode) == 0o640
    assert stat.S_IMODE(kept.stat().st_mode) == 0o604
    assert sorted(os.listdir(tmp_path)) == ["kept.csv", "new.csv"]


def test_parquet_has_no_index_and_is_snappy_compressed(tmp_path):
    import pyarrow.parquet as pq

    path = tmp_path / "out.parquet"
    atomic_write_records(path, FRAME)
    assert pq.read_schema(path).names == list(FRAME.columns)
    assert json.loads(pq.read_schema(path).metadata[b"pandas"])["index_columns"] == []
    meta = pq.ParquetFile(path).metadata
    assert {meta.row_group(0).column(i).compression for i in range(meta.num_columns)} == {"SNAPPY"}


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_json_keeps_non_ascii_text_as_utf8(tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    atomic_write_records(path, FRAME)
    assert "Amélie (2001)" in path.read_text(encoding="utf-8")


def test_infinity_is_refused_for_json_and_nothing_is_written(tmp_path):
    path = tmp_path / "out.json"
    with pytest.raises(ValueError, match="not JSON compliant"):
        atomic_write_records(path, pd.DataFrame({"score": [1.0, np.inf]}))
    assert os.listdir(tmp_path) == []


def test_a_folder_that_cannot_be_fsynced_does_not_fail_the_write(tmp_path, monkeypatch):
    """Some file systems refuse to open a directory for fsync: the file is in place all the same."""
    real_open = os.open

    def no_directories(path, flags, *args):
        if os.path.isdir(path):
            raise PermissionError(13, "injected: directories cannot be opened here", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", no_directories)
    target = tmp_path / "out.jsonl"
    assert atomic_write_records(target, [{"a": 1}]) == 1
    assert target.read_text() == '{"a": 1}\n'


@pytest.fixture
def ascii_locale():
    """The C locale for this process: ``open()`` without an encoding now means ASCII (as on a worker with
    ``LANG=C`` and no UTF-8 mode).

    Where Python runs in UTF-8 mode (PEP 540: it turns itself on when no locale is set, as on a fresh
    machine or a bare container, or by ``PYTHONUTF8=1``), ``open()`` means UTF-8 whatever the locale says:
    the premise cannot be set up in this process, and no file of the project can be written as ASCII there."""
    if sys.flags.utf8_mode:
        pytest.skip(
            "Python runs in UTF-8 mode (no locale set, PEP 540): there is no ASCII default to guard against"
        )
    before = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")
    try:
        assert codecs.lookup(locale.getpreferredencoding(False)).name == "ascii"
        yield
    finally:
        locale.setlocale(locale.LC_CTYPE, before)


@pytest.mark.parametrize("suffix", [".json", ".jsonl", ".csv"])
def test_text_files_are_utf8_under_an_ascii_locale(tmp_path, ascii_locale, suffix):
    path = tmp_path / f"out{suffix}"
    atomic_write_records(path, FRAME[["title"]])
    assert read_records(path)["title"].tolist() == FRAME["title"].tolist()
    assert "Amélie (2001)" in path.read_bytes().decode("utf-8")
