"""b. `astro dev start` and c. `astro dev pytest`, done the way the Astro CLI v1.45.0 does them
(lab/astro_cli.py names each source file), on the project image built from ./Dockerfile.

docs/operations.md "Astro CLI" steps: `astro dev start` (build, start, load airflow_settings.yaml), then the
API on http://localhost:5000; a DAG run through the scheduler. As in test a, the API serves the lab's small
dataset (`MOVIELENS_DATA` in the shell environment, the folder copied into the API's data volume between
create and start, which together are the CLI's compose ``Up``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from lab import airflow_runs as runs
from lab import astro_cli, images
from lab.conftest import DATASET_IN_VOLUME, TUNING_ENV, ApiVolume, free_port, port_free, require_free_ports
from lab.stack import Stack, assert_down_leaves_nothing, purge

ROOT = Path(__file__).resolve().parents[1]
API = "http://127.0.0.1:5000"
DAY = "2019-01-01"
#: The CLI adds this line to requirements.txt for the build of `astro dev start` (and removes it afterwards).
ASTRO_RUN_DAG = (
    "astro-run-dag # This package is needed for the astro run command. It will be removed before a deploy"
)


def _build(tmp: Path, *, for_start: bool) -> str:
    """The CLI's image build: ``docker build -t <project>/airflow:latest -f Dockerfile .`` in the project,
    with ``--pull`` when the runtime is a real (pullable) image. Built from a copy of the project so that the
    requirements.txt line the CLI adds for `astro dev start` never touches the working tree."""
    context = tmp / "build-context"
    ignore = shutil.ignore_patterns(".git", ".venv", ".local", "__pycache__", ".pytest_cache", ".ruff_cache")
    shutil.copytree(ROOT, context, ignore=ignore, dirs_exist_ok=True)
    if for_start:
        with (context / "requirements.txt").open("a") as f:
            f.write(f"\n{ASTRO_RUN_DAG}\n")
    ref = astro_cli.image_name(ROOT)
    runtime = images.dockerfile_from(ROOT / "Dockerfile")
    pull = (
        ["--pull"]
        if astro_cli.build_pulls(ROOT / "Dockerfile") and images.standin_note(runtime) is None
        else []
    )
    proc = subprocess.run(
        ["docker", "build", *pull, "-t", ref, "-f", "Dockerfile", "."],
        cwd=context,
        capture_output=True,
        text=True,
        env={**os.environ, "DOCKER_BUILDKIT": "0"},
        timeout=1200,
    )
    assert proc.returncode == 0, f"image build failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    return ref


@pytest.fixture(scope="module")
def astro(
    tmp_path_factory: pytest.TempPathFactory, dataset: Path, shell_env: dict[str, str]
) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("astro")
    require_free_ports(5000)
    _build(tmp, for_start=True)
    # The CLI's proxy keeps the default ports unless they are taken (5432 usually is: a local PostgreSQL).
    ports = {
        "postgres": 5432 if port_free(5432) else free_port(),
        "webserver": 8080 if port_free(8080) else free_port(),
    }
    rendered = tmp / "compose.yaml"
    rendered.write_text(
        yaml.safe_dump(
            astro_cli.render(
                ROOT, postgres_port=ports["postgres"], webserver_port=ports["webserver"], env_file=TUNING_ENV
            )
        )
    )
    no_dotenv = tmp / "no.env"  # the CLI interpolates from the process environment only, never from .env
    no_dotenv.write_text("")
    stack = Stack(
        name=astro_cli.compose_project_name(ROOT),
        cwd=ROOT,
        files=[rendered, ROOT / "docker-compose.override.yml"],
        env={**shell_env, "MOVIELENS_DATA": DATASET_IN_VOLUME},
        env_file=no_dotenv,
        project_dir=ROOT,
    )
    purge(stack.name)
    try:
        yield {"stack": stack, "ports": ports, "tmp": tmp}
    finally:
        stack.down()
        purge(stack.name)


def test_b_astro_dev_start(astro: dict, dataset: Path, api_volume: ApiVolume) -> None:
    stack: Stack = astro["stack"]
    port = astro["ports"]["webserver"]
    # compose Up without a build option: nothing of the override is built.
    stack.compose("up", "-d", "--no-build", "--no-start")
    api_volume.seed(stack, venvs=True)
    stack.compose("up", "-d", "--no-build")
    deadline = time.monotonic() + 300
    while True:  # the CLI's checkWebserverHealth
        try:
            if requests.get(f"http://localhost:{port}/health", timeout=5).ok:
                break
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, stack.logs("webserver") + stack.logs("scheduler")
        time.sleep(3)
    added = astro_cli.load_settings(ROOT, port)
    assert {"connection movielens", "connection movielens_results"} <= set(added)
    stack.wait(["movielens-api"], timeout=300)
    assert requests.get(f"{API}/", timeout=10).ok
    page = requests.get(
        f"{API}/ratings",
        params={"start_date": DAY, "end_date": "2019-01-02", "limit": 1},
        auth=("airflow", "airflow"),
        timeout=30,
    ).json()
    assert page["total"] == runs.ratings_in_window(dataset, DAY)
    runs.wait_parsed(stack, ["02_hook"])
    runs.airflow_cli(stack, "scheduler", "dags unpause 02_hook")
    runs.wait_success(stack, [("02_hook", DAY)], timeout=420)
    runs.airflow_cli(stack, "scheduler", "dags pause 02_hook")
    runs.assert_exact(stack, dataset, [DAY])
    assert_down_leaves_nothing(stack)  # `astro dev kill`


def test_c_astro_dev_pytest(astro: dict) -> None:
    image = _build(astro["tmp"], for_start=False)
    code, output = astro_cli.pytest(ROOT, image)
    print(output[-6000:])
    assert code == 0, output[-8000:]
    assert re.search(r"\d+ passed", output), output[-3000:]
    skips = re.findall(r"^SKIPPED \[\d+\] (\S+): (.*)$", output, flags=re.M)
    unexplained = [(where, why) for where, why in skips if "not available inside the Astro image" not in why]
    assert not unexplained, unexplained
