"""The serving cache: built once, reused, and rebuilt (never served) when stale or corrupt."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import orjson
import pytest

from movielens_api import cache, create_app, store
from movielens_api.dataset import resolve
from movielens_api.dataset.convert import ensure_cache
from movielens_api.testing import basic


@pytest.fixture
def source_dir(small_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "ml-copy"
    shutil.copytree(small_dir, folder, ignore=shutil.ignore_patterns(".*"))
    return folder


def _build(folder: Path, root: Path) -> Path:
    return ensure_cache(resolve(folder), root)


def test_cache_is_beside_the_source_and_reused(source_dir: Path, tmp_path: Path) -> None:
    target = _build(source_dir, tmp_path / "root")
    assert target == source_dir / cache.CACHE_NAME
    stamp = (target / cache.MANIFEST).stat().st_mtime_ns
    assert _build(source_dir, tmp_path / "root") == target
    assert (target / cache.MANIFEST).stat().st_mtime_ns == stamp
    manifest = orjson.loads((target / cache.MANIFEST).read_bytes())
    assert manifest["version"] == cache.VERSION
    assert manifest["rows"] == 6_000


def _corrupt_byte(target: Path) -> None:
    f = target / "userId.npy"
    data = bytearray(f.read_bytes())
    data[-5] ^= 0xFF
    f.write_bytes(bytes(data))


def _truncate(target: Path) -> None:
    f = target / "timestamp.npy"
    f.write_bytes(f.read_bytes()[:-16])


def _bad_manifest(target: Path) -> None:
    (target / cache.MANIFEST).write_text("{not json")


def _old_version(target: Path) -> None:
    m = orjson.loads((target / cache.MANIFEST).read_bytes())
    m["version"] = cache.VERSION - 1
    (target / cache.MANIFEST).write_bytes(orjson.dumps(m))


def _missing_file(target: Path) -> None:
    (target / "movies.jsonl").unlink()


@pytest.mark.parametrize("damage", [_corrupt_byte, _truncate, _bad_manifest, _old_version, _missing_file])
def test_corrupt_cache_is_rebuilt(source_dir: Path, tmp_path: Path, damage) -> None:
    target = _build(source_dir, tmp_path / "root")
    damage(target)
    with pytest.raises(cache.CacheInvalid):
        cache.open_cache(target, resolve(source_dir))
    app = create_app(
        {
            "MOVIELENS_DATA": str(source_dir),
            "MOVIELENS_CACHE_DIR": str(tmp_path / "root"),
            "DATA_LOAD": "sync",
        }
    )
    assert app.test_client().get("/health").get_json()["rows"] == 6_000
    cache.open_cache(target, resolve(source_dir))  # valid again


def test_stale_cache_is_rebuilt(source_dir: Path, tmp_path: Path) -> None:
    target = _build(source_dir, tmp_path / "root")
    lines = (source_dir / "ratings.csv").read_text().splitlines(keepends=True)
    (source_dir / "ratings.csv").write_text("".join(lines[:-10]))
    with pytest.raises(cache.CacheInvalid, match="stale"):
        cache.open_cache(target, resolve(source_dir))
    data = cache.open_cache(_build(source_dir, tmp_path / "root"), resolve(source_dir))
    assert data.rows == 6_000 - 10


def test_read_only_source_uses_cache_dir(source_dir: Path, tmp_path: Path, monkeypatch) -> None:
    real = cache._writable
    monkeypatch.setattr(cache, "_writable", lambda d: False if Path(d) == source_dir else real(d))
    target = _build(source_dir, tmp_path / "root")
    assert target.is_relative_to(tmp_path / "root" / "serving")
    assert not (source_dir / cache.CACHE_NAME).exists()
    assert cache.find_valid(resolve(source_dir), tmp_path / "root") is not None


def test_no_temporary_leftovers(source_dir: Path, tmp_path: Path) -> None:
    _build(source_dir, tmp_path / "root")
    leftovers = [p.name for p in source_dir.iterdir() if ".tmp-" in p.name or ".old-" in p.name]
    assert leftovers == []
    assert os.listdir(source_dir / cache.CACHE_NAME)


def _wait_health(app, status: str, timeout: float = 120.0, seen: list | None = None) -> dict:
    client = app.test_client()
    deadline = time.monotonic() + timeout
    while True:
        r = client.get("/health")
        body = r.get_json()
        if seen is not None:
            seen.append((r.status_code, body["status"]))
        if body["status"] == status or time.monotonic() > deadline:
            return body
        assert r.status_code == 503
        time.sleep(0.2)


def test_background_build_serves_503_then_200(source_dir: Path, tmp_path: Path, monkeypatch) -> None:
    # Hold the builder process back until a request has been answered, so that the 503 phase is observed
    # whatever the machine's speed (the builder itself is the real one, started unchanged).
    held: list[tuple] = []
    real_popen = subprocess.Popen
    monkeypatch.setattr(store.subprocess, "Popen", lambda *args, **kwargs: held.append((args, kwargs)))
    app = create_app({"MOVIELENS_DATA": str(source_dir), "MOVIELENS_CACHE_DIR": str(tmp_path / "root")})
    seen: list[tuple[int, str]] = []
    client = app.test_client()
    r = client.get("/health")
    seen.append((r.status_code, r.get_json()["status"]))
    assert client.get("/ratings", headers=basic("airflow", "airflow")).status_code == 503
    [(args, kwargs)] = held
    app.extensions["movielens_store"]._builder = real_popen(*args, **kwargs)

    body = _wait_health(app, "ok", seen=seen)
    assert seen[0] == (503, "loading")
    assert seen[-1] == (200, "ok")
    assert body["rows"] == 6_000
    assert client.get("/ratings", headers=basic("airflow", "airflow")).status_code == 200


def test_background_build_failure_is_reported(tmp_path: Path) -> None:
    src = tmp_path / "broken"
    src.mkdir()
    (src / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,four,964982703\n")
    (src / "movies.csv").write_text("movieId,title,genres\n1,A (1999),Drama\n")
    app = create_app({"MOVIELENS_DATA": str(src), "MOVIELENS_CACHE_DIR": str(tmp_path / "root")})
    body = _wait_health(app, "error")
    assert body["status"] == "error"
    assert "ratings.csv" in body["detail"]
    r = app.test_client().get("/ratings", headers={"Authorization": "Basic YWlyZmxvdzphaXJmbG93"})
    assert r.status_code == 503
