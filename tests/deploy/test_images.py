"""The two Dockerfiles without a Docker engine: hadolint, what they promise, and the Airflow image's provider
install run the same way (pip, no build isolation) with the package index switched off."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.environment import REPO_ROOT, require

DOCKERFILES = ["Dockerfile", "api/Dockerfile"]
AIRFLOW_HOME_IN_IMAGE = "/usr/local/airflow"


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_hadolint_clean(dockerfile: str) -> None:
    hadolint = shutil.which("hadolint", path=f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin")
    require(hadolint is not None, "hadolint is not installed")
    proc = subprocess.run([hadolint, "--no-color", dockerfile], cwd=REPO_ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_api_image_starts_through_the_shared_entry_script() -> None:
    text = (REPO_ROOT / "api" / "Dockerfile").read_text()
    assert re.search(r"^COPY .*\bserve\.sh\b", text, re.M)
    assert re.search(r'^CMD \["/app/serve\.sh"\]$', text, re.M)
    assert "HEALTHCHECK" in text
    assert "/health" in text
    assert "EXPOSE 5000" in text
    assert os.access(REPO_ROOT / "api" / "serve.sh", os.X_OK)


def _provider_install_command() -> list[str]:
    match = re.search(r"^RUN (pip install .*)$", (REPO_ROOT / "Dockerfile").read_text(), re.M)
    assert match, "the Dockerfile no longer installs the provider with pip"
    args = match.group(1).split()
    assert {"--no-build-isolation", "--no-index", "--no-deps"} <= set(args)
    assert args[-1] == AIRFLOW_HOME_IN_IMAGE
    return args


def _venv(path: Path, borrow_dot_venv: bool) -> tuple[Path, Path]:
    """A fresh venv (with pip); optionally seeing .venv's packages after its own. Returns python, purelib."""
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=120)
    python = path / "bin" / "python"
    purelib = Path(
        subprocess.check_output(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    if borrow_dot_venv:
        (purelib / "_borrow_dot_venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python, purelib


def _install_as_the_dockerfile_does(python: Path, project: Path, home: Path) -> subprocess.CompletedProcess:
    pip_args = _provider_install_command()[2:-1]
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "PIP_NO_INDEX": "1", "PIP_CONFIG_FILE": os.devnull}
    return subprocess.run(
        [python, "-m", "pip", "install", *pip_args, str(project)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_provider_installs_offline_as_the_dockerfile_does(tmp_path: Path) -> None:
    """The Dockerfile's pip command, in a fresh venv that sees .venv's packages (the backend pinned in
    requirements.txt among them, as in the image after its requirements step), with every index disabled;
    and, as the control, in one without the backend, where the same command must fail."""
    project = tmp_path / "project"
    project.mkdir()
    for part in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / part, project / part)
    shutil.copytree(REPO_ROOT / "plugins", project / "plugins", ignore=shutil.ignore_patterns("__pycache__"))

    python, purelib = _venv(tmp_path / "venv", borrow_dot_venv=True)
    done = _install_as_the_dockerfile_does(python, project, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    probe = (
        "import importlib.metadata as m; d = m.distribution('airflow-movielens');"
        "print(d.locate_file(''));"
        "print([e.value for e in d.entry_points if e.group == 'apache_airflow_provider'])"
    )
    location, entry_points = subprocess.check_output([python, "-c", probe], text=True).splitlines()
    assert Path(location) == purelib
    assert entry_points == "['airflow_movielens:get_provider_info']"

    bare_python, _ = _venv(tmp_path / "bare", borrow_dot_venv=False)
    control = _install_as_the_dockerfile_does(bare_python, project, tmp_path)
    assert control.returncode != 0
    assert "hatchling" in control.stdout + control.stderr


@pytest.mark.parametrize("pattern", [".venv", "api/.venv", ".local", "api/.data", "include/data"])
def test_dockerignore_keeps_local_state_out_of_images(pattern: str) -> None:
    assert pattern in (REPO_ROOT / ".dockerignore").read_text().split()


def test_api_dockerignore_keeps_venv_and_data_out() -> None:
    lines = (REPO_ROOT / "api" / ".dockerignore").read_text().split()
    assert ".venv" in lines
    assert ".data" in lines
    assert "serve.sh" not in lines
