"""The Astro Runtime image in the Dockerfile and the local lock carry the same Airflow and Astro SDK."""

from __future__ import annotations

import re
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from tests.support.pins import pins

ROOT = Path(__file__).resolve().parents[1]

# What each Astro Runtime tag carries, from Astronomer's Runtime release notes and its "Astro Runtime provider
# package reference" (standard image). Add a row before moving the Dockerfile to another tag.
ASTRO_RUNTIMES: dict[str, dict[str, str]] = {
    "12.8.0": {
        "python": "3.12",
        "apache-airflow": "2.10.5",
        "astro-sdk-python": "1.8.1",
        "apache-airflow-providers-common-sql": "1.25.0",
        "apache-airflow-providers-postgres": "5.14.0",
        "apache-airflow-providers-sqlite": "3.9.1",
        "apache-airflow-providers-http": "4.13.3",
    },
}


def _runtime_tag() -> str:
    dockerfile = (ROOT / "Dockerfile").read_text()
    match = re.search(r"^FROM\s+quay\.io/astronomer/astro-runtime:(\S+)", dockerfile, re.M)
    assert match, "Dockerfile has no FROM quay.io/astronomer/astro-runtime:<tag>"
    return match.group(1)


@pytest.fixture(scope="module")
def runtime() -> dict[str, str]:
    tag = _runtime_tag()
    base = tag.split("-python-")[0]
    assert base in ASTRO_RUNTIMES, f"Astro Runtime {tag} is not in the known-tags table of this test"
    info = dict(ASTRO_RUNTIMES[base])
    if "-python-" in tag:
        info["python"] = tag.split("-python-")[1]
    return info


def test_runtime_is_airflow_2_with_astro_sdk(runtime: dict[str, str]) -> None:
    assert runtime["apache-airflow"].startswith("2.10."), "astro-sdk-python needs Airflow 2 (< 2.11.1)"


@pytest.mark.parametrize("package", [p for p in ASTRO_RUNTIMES["12.8.0"] if p != "python"])
def test_lock_matches_runtime(runtime: dict[str, str], package: str) -> None:
    assert pins(ROOT / "requirements" / "airflow.lock").get(package) == runtime[package]


def same_release(installed: str, expected: str) -> bool:
    """Astro Runtime images report Airflow with a local label (``2.10.5+astro.3``): compare public parts."""
    return Version(installed).public == Version(expected).public


@pytest.mark.parametrize(
    ("installed", "expected", "same"),
    [
        ("2.10.5", "2.10.5", True),
        ("2.10.5+astro.3", "2.10.5", True),
        ("2.10.5+astro.12", "2.10.5", True),
        ("2.10.4+astro.3", "2.10.5", False),
        ("2.10.5.post1", "2.10.5", False),
        ("2.11.0", "2.10.5", False),
    ],
)
def test_same_release_ignores_only_the_local_label(installed: str, expected: str, same: bool) -> None:
    assert same_release(installed, expected) is same


@pytest.mark.parametrize("package", ["apache-airflow", "astro-sdk-python"])
def test_installed_env_matches_runtime(runtime: dict[str, str], package: str) -> None:
    """Locally the lock's versions; in the Astro image (`astro dev pytest`) the image's: 2.10.5+astro.N."""
    assert same_release(version(package), runtime[package]), f"{package} {version(package)}"


def test_local_python_is_supported(runtime: dict[str, str]) -> None:
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in {runtime["python"], "3.11"}


def test_requirements_txt_pins_agree_with_lock() -> None:
    lock = pins(ROOT / "requirements" / "airflow.lock")
    for package, pinned in pins(ROOT / "requirements.txt").items():
        assert lock.get(package) == pinned, f"requirements.txt {package}=={pinned} vs lock"


def test_requirements_txt_pins_everything() -> None:
    path = ROOT / "requirements.txt"
    lines = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    assert sorted(filter(None, lines)) == sorted(f"{name}=={pin}" for name, pin in pins(path).items())


def test_build_backend_is_pinned_in_requirements_txt() -> None:
    """The Dockerfile installs the provider without build isolation: requirements.txt brings its backend."""
    pinned = pins(ROOT / "requirements.txt")
    for line in tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]:
        requirement = Requirement(line)
        assert requirement.name in pinned, f"{requirement.name} (build backend) is not in requirements.txt"
        assert requirement.specifier.contains(pinned[requirement.name]), line
