"""The Airflow 3 image (Dockerfile.airflow3) without a Docker engine: an Astro Runtime 3.x tag, hadolint, and
every package it installs pinned to the version the Airflow 3 suites run with (requirements/airflow3.lock)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.environment import REPO_ROOT, require
from tests.support.pins import pins

DOCKERFILE = REPO_ROOT / "Dockerfile.airflow3"
REQUIREMENTS = REPO_ROOT / "requirements" / "runtime3.txt"
LOCK = REPO_ROOT / "requirements" / "airflow3.lock"


def test_the_image_is_an_astro_runtime_3_tag() -> None:
    match = re.search(r"^FROM\s+quay\.io/astronomer/astro-runtime:(\S+)$", DOCKERFILE.read_text(), re.M)
    assert match, "Dockerfile.airflow3 has no FROM quay.io/astronomer/astro-runtime:<tag>"
    assert re.fullmatch(r"3\.\d+-\d+", match.group(1)), f"{match.group(1)} is not a Runtime 3.x tag (3.x-y)"


def test_every_requirement_is_pinned_to_the_airflow3_lock() -> None:
    lines = [line for line in REQUIREMENTS.read_text().splitlines() if line and not line.startswith("#")]
    wanted, lock = pins(REQUIREMENTS), pins(LOCK)
    assert len(wanted) == len(lines), "every requirement is pinned with =="
    assert {name: lock.get(name) for name in wanted} == wanted
    assert "astro-sdk-python" not in wanted


def test_the_image_installs_them_and_the_provider() -> None:
    text = DOCKERFILE.read_text()
    assert "-r /usr/local/airflow/requirements/runtime3.txt" in text
    assert "--no-build-isolation --no-index --no-deps /usr/local/airflow" in text


def test_hadolint_clean() -> None:
    hadolint = shutil.which("hadolint", path=f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin")
    require(hadolint is not None, "hadolint is not installed")
    proc = subprocess.run(
        [hadolint, "--no-color", DOCKERFILE.name], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
