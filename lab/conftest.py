"""Fixtures of the container lab (`make test-containers`, lab/run): the private engine, the images (real or
stand-in), a small MovieLens dataset every stack serves, and the environment compose commands run with.

Not collected by `make test` (testpaths = tests) nor by `astro dev pytest` (pytest tests/)."""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from lab import airflow_runs as runs
from lab import astro_cli, images
from lab.fresh_machine import FreshMachine
from lab.stack import Stack
from tests.support.live_api import API_PYTHON, synthesize

ROOT = Path(__file__).resolve().parents[1]
#: Where the lab puts its small dataset in the API's data volume (MOVIELENS_DATA in the shell environment).
DATASET_IN_VOLUME = "/data/ml-lab"
PLAIN_FILES = [ROOT / "docker-compose.yml", ROOT / "docker-compose.override.yml"]
#: The small dataset of the lab: 2019-01-01 .. 2019-01-14, ~14k ratings a day (several API pages per fetch).
LAB_DATASET = {
    "rows": 200_000,
    "users": 3_000,
    "movies": 2_000,
    "start_date": "2019-01-01",
    "end_date": "2019-01-15",
    "seed": 11,
}


def pytest_sessionstart(session: pytest.Session) -> None:
    host = os.environ.get("DOCKER_HOST", "")
    if "movielens-lab" not in host:
        raise pytest.UsageError(
            "run the lab through `make test-containers` (lab/run): DOCKER_HOST must be the lab engine"
        )


#: What the tests measured (durations, outcomes), printed after the run whatever the outcome.
REPORT: list[str] = []


def pytest_terminal_summary(terminalreporter) -> None:
    terminalreporter.section("container lab images")
    for ref in images.required():
        note = images.standin_note(ref) if images.exists(ref) else "missing"
        terminalreporter.write_line(f"{ref:55} {'STAND-IN: ' + note if note else 'real image'}")
    if REPORT:
        terminalreporter.section("container lab measurements")
        for line in REPORT:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lab's small synthetic MovieLens folder (ratings.csv, movies.csv), readable and writable by any
    container user: what the Celery stack serves through the documented ``MOVIELENS_DATA`` knob."""
    folder = synthesize(tmp_path_factory.mktemp("lab-dataset") / "ml-lab", **LAB_DATASET)
    folder.chmod(0o777)
    for f in folder.iterdir():
        f.chmod(0o666)
    return folder


@pytest.fixture(scope="session")
def twin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The API's default dataset, generated here as the API generates it on a first start without
    ``MOVIELENS_DATA`` (the synth CLI's defaults are the ml-25m twin's, seed included): the reference the
    stacks that start on defaults are checked against. About a minute and 0.7 GB."""
    folder = tmp_path_factory.mktemp("twin") / "ml-25m-synth"
    cmd = [str(API_PYTHON), "-m", "movielens_api.dataset", "synth", "--out", str(folder)]
    subprocess.run(cmd, cwd=ROOT / "api", check=True, capture_output=True, timeout=900)
    return folder


def api_matches(folder: Path, health: dict) -> None:
    """The API serves the same dataset as ``folder``: its /health rows and newest timestamp."""
    ratings = runs.ratings_frame(folder)
    assert health["rows"] == len(ratings), (health, len(ratings))
    assert health["last_rating_timestamp"] == int(ratings["timestamp"].max()), health


@pytest.fixture(scope="session")
def shell_env() -> dict[str, str]:
    """What a user's shell hands to `docker compose` / the CLI: PATH, HOME, the lab engine; nothing else."""
    keep = ("PATH", "HOME", "DOCKER_HOST", "DOCKER_CONFIG", "LANG")
    return {k: os.environ[k] for k in keep if k in os.environ}


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require_free_ports(*ports: int) -> None:
    """Fail (not skip) when a host port the stack publishes on 127.0.0.1 is taken."""
    busy = [p for p in ports if not port_free(p)]
    if busy:
        pytest.fail(
            f"host ports {busy} are taken on 127.0.0.1; the stack publishes them (stop what uses them)"
        )


#: Where the lanes of lab/run keep their locks.
LOCKS = Path(os.environ.get("LAB_RUN", "/run/movielens-lab")) / "locks"
#: What the two lanes of lab/run would otherwise both use at once: the Astro project's compose project name
#: and image tag, which `astro dev start` derives from the project folder (b/c/h on Airflow 2, l on Airflow
#: 3), and the compose stacks' image ``movielens-airflow:local``, which `docker compose up --build` builds (a
#: and d).
ASTRO_PROJECT = "astro-project"
COMPOSE_IMAGE = "compose-image"


@contextmanager
def exclusive(resource: str, holder: str) -> Iterator[None]:
    """Exclusive use of a shared ``resource`` of the lab engine for the ``with`` block, across the lanes; a
    wait longer than a second is reported under "container lab measurements"."""
    LOCKS.mkdir(parents=True, exist_ok=True)
    with (LOCKS / f"{resource}.lock").open("w") as lock:
        began = time.monotonic()
        fcntl.flock(lock, fcntl.LOCK_EX)
        waited = time.monotonic() - began
        if waited > 1:
            REPORT.append(f"{holder}: waited {waited:.0f} s for {resource} (the other lane held it)")
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def astro_stack(
    tmp: Path,
    render: Callable[[dict[str, int]], dict[str, Any]],
    env: dict[str, str],
    airflow_major: str = "2",
) -> tuple[Stack, dict[str, int]]:
    """The stack `astro dev start` brings up (airflow/docker.go ``Start``): the CLI's compose project,
    ``render(ports)``, plus docker-compose.override.yml under the CLI's project name, ``${...}`` interpolated
    from the process environment only (never from .env), on the CLI's ports: the proxy keeps the defaults
    unless they are taken (5432 usually is: a local PostgreSQL). ``ports["airflow"]`` is the webserver's
    (Airflow 2) or the api-server's (Airflow 3). The caller holds it with :func:`lab.stack.owned`."""
    ports = {
        "postgres": 5432 if port_free(5432) else free_port(),
        "airflow": 8080 if port_free(8080) else free_port(),
    }
    rendered = tmp / "compose.yaml"
    rendered.write_text(yaml.safe_dump(render(ports)))
    no_dotenv = tmp / "no.env"
    no_dotenv.write_text("")
    stack = Stack(
        name=astro_cli.compose_project_name(ROOT),
        cwd=ROOT,
        files=[rendered, ROOT / "docker-compose.override.yml"],
        env=env,
        env_file=no_dotenv,
        project_dir=ROOT,
        airflow_major=airflow_major,
    )
    return stack, ports


class ApiVolume:
    """What the lab puts into the Celery stack's API data volume before it starts: the small dataset, and the
    venv that an earlier stack's API installed on its first start (docker-compose.override.yml's serve.sh
    keeps it under /data/.venvs); the Airflow 3 Astro stack likewise. The Compose and Airflow 2 Astro stacks
    start on defaults: they install for real."""

    def __init__(self, dataset: Path, cache: Path) -> None:
        self.dataset = dataset
        self.cache = cache

    def seed(self, stack: Stack, *, venvs: bool) -> None:
        stack.compose("cp", str(self.dataset), f"movielens-api:{DATASET_IN_VOLUME}")
        if venvs and (self.cache / ".venvs").is_dir():
            stack.compose("cp", str(self.cache / ".venvs"), "movielens-api:/data/.venvs")

    def keep_venvs(self, stack: Stack) -> None:
        probe = stack.compose("exec", "-T", "movielens-api", "test", "-d", "/data/.venvs", check=False)
        if probe.returncode == 0 and not (self.cache / ".venvs").exists():
            stack.compose("cp", "movielens-api:/data/.venvs", str(self.cache / ".venvs"))


@pytest.fixture(scope="session")
def api_volume(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> ApiVolume:
    return ApiVolume(dataset, tmp_path_factory.mktemp("api-volume"))


@pytest.fixture(scope="session")
def fresh_machine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FreshMachine]:
    """Test f's container, started when first asked for (test d asks, to run beside it) and left to finish."""
    machine = FreshMachine(tmp_path_factory.mktemp("fresh-machine") / "fresh-machine.log")
    try:
        yield machine
    finally:
        machine.stop()
