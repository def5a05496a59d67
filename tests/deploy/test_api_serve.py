"""api/serve.sh, the API containers' entry script, run by sh on this machine: the venv it keeps in the data
volume for the stock-image service (docker-compose.override.yml), and the plain start of the built image.

A stand-in `gunicorn` wheel (served offline through pip's --find-links) reports which interpreter runs it and
with which arguments, so the script's real pip and venv steps run without a package index."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.environment import REPO_ROOT

REPORT = (
    "import json, os, sys\n"
    "print(json.dumps({'prefix': sys.prefix, 'argv': sys.argv[1:], 'cwd': os.getcwd()}))"
)


def _wheel(directory: Path, version: str) -> Path:
    """A minimal pure-Python wheel of a `gunicorn` whose ``python -m gunicorn`` prints a JSON report."""
    info = f"gunicorn-{version}.dist-info"
    files = {
        "gunicorn/__init__.py": "",
        "gunicorn/__main__.py": REPORT + "\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: gunicorn\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record_name = f"{info}/RECORD"
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    files[record_name] = "\n".join([*record, f"{record_name},,"]) + "\n"
    path = directory / f"gunicorn-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for name, text in files.items():
            wheel.writestr(name, text)
    return path


@pytest.fixture
def api_dir(tmp_path: Path) -> Path:
    """A copy of what the container mounts at /app: the script and a lock (here: the stand-in gunicorn)."""
    app = tmp_path / "app"
    app.mkdir()
    shutil.copy2(REPO_ROOT / "api" / "serve.sh", app / "serve.sh")
    (app / "requirements.lock").write_text("gunicorn==1.0\n")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels, "1.0")
    _wheel(wheels, "2.0")
    return app


def _serve(app: Path, tmp_path: Path, **env: str) -> tuple[dict, str]:
    bin_dir = tmp_path / "bin"
    if not bin_dir.exists():
        bin_dir.mkdir()
        (bin_dir / "python3").symlink_to(sys.executable)
    done = subprocess.run(
        ["sh", str(app / "serve.sh")],
        cwd=tmp_path,
        env={
            "PATH": f"{bin_dir}:/usr/bin:/bin",
            "HOME": str(tmp_path),
            "PIP_NO_INDEX": "1",
            "PIP_FIND_LINKS": str(tmp_path / "wheels"),
            "PIP_CONFIG_FILE": "/dev/null",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def _lock_key(app: Path) -> str:
    digest = hashlib.sha256((app / "requirements.lock").read_bytes()).hexdigest()[:16]
    return f"py{sys.version_info.major}{sys.version_info.minor}-{digest}"


@pytest.mark.slow
def test_venv_is_built_once_per_lock_and_reused(api_dir: Path, tmp_path: Path) -> None:
    venvs = tmp_path / "data" / ".venvs"
    report, log = _serve(api_dir, tmp_path, API_VENV_DIR=str(venvs))
    venv = venvs / _lock_key(api_dir)
    assert Path(report["prefix"]) == venv
    assert report["argv"] == ["--config", "gunicorn.conf.py", "movielens_api:create_app()"]
    assert Path(report["cwd"]) == api_dir
    assert "installing requirements.lock" in log
    assert sorted(p.name for p in venvs.iterdir()) == [venv.name]

    marker = venv / "kept"
    marker.touch()
    report, log = _serve(api_dir, tmp_path, API_VENV_DIR=str(venvs))
    assert Path(report["prefix"]) == venv
    assert "installing" not in log
    assert marker.exists(), "the venv was rebuilt although the lock did not change"


@pytest.mark.slow
def test_a_new_lock_gets_a_new_venv_and_leftovers_go(api_dir: Path, tmp_path: Path) -> None:
    venvs = tmp_path / "data" / ".venvs"
    _serve(api_dir, tmp_path, API_VENV_DIR=str(venvs))
    old = venvs / _lock_key(api_dir)
    # An install interrupted by a crash, and a venv directory without an interpreter.
    (venvs / ".partial-py312-0123456789abcdef" / "lib").mkdir(parents=True)
    (api_dir / "requirements.lock").write_text("gunicorn==2.0\n")
    (venvs / _lock_key(api_dir) / "bin").mkdir(parents=True)

    report, log = _serve(api_dir, tmp_path, API_VENV_DIR=str(venvs))
    new = venvs / _lock_key(api_dir)
    assert Path(report["prefix"]) == new
    assert (new / "bin" / "python").exists()
    assert "installing requirements.lock" in log
    assert sorted(p.name for p in venvs.iterdir()) == [new.name], "old venv and partial install removed"
    assert not old.exists()
    installed = subprocess.check_output(
        [new / "bin" / "python", "-c", "import importlib.metadata as m; print(m.version('gunicorn'))"],
        text=True,
    )
    assert installed.strip() == "2.0"


def test_without_venv_dir_it_starts_the_image_interpreter(api_dir: Path, tmp_path: Path) -> None:
    """The image built from api/Dockerfile: dependencies are installed there, nothing is installed here."""
    (api_dir / "gunicorn").mkdir()
    (api_dir / "gunicorn" / "__main__.py").write_text(REPORT + "\n")
    report, log = _serve(api_dir, tmp_path)
    # python3 on PATH (a link to this interpreter, outside its venv): no venv of the script's own.
    assert Path(report["prefix"]) == Path(sys.base_prefix)
    assert report["argv"] == ["--config", "gunicorn.conf.py", "movielens_api:create_app()"]
    assert log == ""
