"""b. `astro dev start`, c. `astro dev pytest`, h. `astro dev parse` and the checks of `astro deploy --parse
--pytest`, done the way the Astro CLI v1.45.0 does them (lab/astro_cli.py names each source file), on the
project image built from ./Dockerfile.

docs/operations.md "Astro CLI" on the defaults a user has: `astro dev start` (build, compose up, the CLI's
one-minute wait for the webserver, then airflow_settings.yaml loaded), no .env, nothing in the shell's
environment, so the API installs its venv and generates its default dataset (the 25M twin) on this first
start; then a DAG run through the scheduler, checked against the twin generated on the host.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from lab import airflow_runs as runs
from lab import astro_cli, images
from lab.conftest import ASTRO_PROJECT, REPORT, api_matches, astro_stack, exclusive, require_free_ports
from lab.first_start import API, FirstStart
from lab.stack import Stack, assert_down_leaves_nothing, owned
from tests.environment import OTHER_AIRFLOW

ROOT = Path(__file__).resolve().parents[1]
DAY = "2019-01-01"
#: The CLI adds this line to requirements.txt for the build of `astro dev start` (and removes it afterwards).
ASTRO_RUN_DAG = (
    "astro-run-dag # This package is needed for the astro run command. It will be removed before a deploy"
)


def _build(tmp: Path, *, for_start: bool) -> str:
    """The CLI's image build: ``docker build -t <project>/airflow:latest -f Dockerfile .`` in the project,
    with ``--pull`` when the runtime is a real (pullable) image, and the CLI's requirements.txt line for
    `astro dev start`."""
    ref = astro_cli.image_name(ROOT)
    runtime = images.dockerfile_from(ROOT / "Dockerfile")
    pull = astro_cli.build_pulls(ROOT / "Dockerfile") and images.standin_note(runtime) is None
    images.build_project(tmp, ref, pull=pull, line=ASTRO_RUN_DAG if for_start else "")
    return ref


@pytest.fixture(scope="module")
def astro(tmp_path_factory: pytest.TempPathFactory, shell_env: dict[str, str]) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("astro")
    require_free_ports(5000)
    with exclusive(ASTRO_PROJECT, "b/c/h"):
        yield from _astro(tmp, shell_env)


def _astro(tmp: Path, shell_env: dict[str, str]) -> Iterator[dict]:
    _build(tmp, for_start=True)
    stack, ports = astro_stack(
        tmp,
        lambda ports: astro_cli.render(
            ROOT, postgres_port=ports["postgres"], webserver_port=ports["airflow"]
        ),
        shell_env,
    )
    with owned(stack):
        yield {"stack": stack, "ports": ports, "tmp": tmp}


def test_b_astro_dev_start(astro: dict, twin: Path) -> None:
    stack: Stack = astro["stack"]
    port = astro["ports"]["airflow"]
    # compose Up without a build option: nothing of the override is built.
    stack.compose("up", "-d", "--no-build")
    start = FirstStart()
    # the CLI's checkWebserverHealth, then printStatus
    start.wait_webserver(port, within=astro_cli.DEFAULT_WAIT)
    added = astro_cli.load_settings(ROOT, port)
    start.mark("airflow_settings.yaml loaded")
    assert {"connection movielens", "connection movielens_results", "pool movielens_api"} <= set(added), added
    stored = runs.airflow_cli(stack, "scheduler", "connections list -o json")
    assert {"movielens", "movielens_results"} <= {c["conn_id"] for c in yaml.safe_load(stored)}
    health = start.wait_api(stack, within=1500)
    api_matches(twin, health)
    REPORT.append(f"astro dev start, first start on defaults: {start.summary()}")
    assert requests.get(f"{API}/", timeout=10).ok
    page = requests.get(
        f"{API}/ratings",
        params={"start_date": DAY, "end_date": "2019-01-02", "limit": 1},
        auth=("airflow", "airflow"),
        timeout=30,
    ).json()
    assert page["total"] == runs.ratings_in_window(twin, DAY)
    runs.wait_parsed(stack, ["02_hook"])
    runs.airflow_cli(stack, "scheduler", "dags unpause 02_hook")
    began = time.monotonic()
    runs.wait_success(stack, [("02_hook", DAY)], timeout=1200)
    runs.pause(stack, ["02_hook"])
    took = time.monotonic() - began
    REPORT.append(f"astro dev start: 02_hook {DAY} (its 365-day window loaded first) in {took:.0f} s")
    runs.assert_exact(stack, twin, [DAY])
    runs.assert_api_pool(stack, ["02_hook"])  # created from airflow_settings.yaml
    assert_down_leaves_nothing(stack)  # `astro dev kill`


def _deploy_image(astro: dict) -> str:
    """The image `astro dev pytest`, `astro dev parse` and `astro deploy` build (no astro-run-dag line): built
    once per session, from the project as it was then."""
    if "deploy_image" not in astro:
        astro["deploy_image"] = _build(astro["tmp"], for_start=False)
    return astro["deploy_image"]


def test_c_astro_dev_pytest(astro: dict) -> None:
    """`astro dev pytest`: tests/ in the image built from the Dockerfile, which holds what the Runtime holds
    plus requirements.txt (the stand-in has none of the project's locks)."""
    image = _deploy_image(astro)
    began = time.monotonic()
    code, output = astro_cli.pytest(ROOT, image)
    print(output[-6000:])
    REPORT.append(f"astro dev pytest: exit {code} in {time.monotonic() - began:.0f} s; {_summary(output)}")
    assert code == 0, output[-8000:]
    assert re.search(r"\d+ passed", output), output[-3000:]
    # Every skip says why: what only a local checkout has, or a test of the other Airflow's suite (the image
    # is Airflow 2 with the Astro SDK; the Airflow 3 path's tests run in .venv-af3).
    skips = re.findall(r"^SKIPPED \[\d+\] (\S+): (.*)$", output, flags=re.M)
    explained = ("not available inside the Astro image", OTHER_AIRFLOW)
    unexplained = [(where, why) for where, why in skips if not any(e in why for e in explained)]
    assert not unexplained, unexplained


def test_h_astro_dev_parse_and_the_deploy_checks(astro: dict) -> None:
    """`astro dev parse`, and what `astro deploy --parse --pytest` checks before it pushes: the parse, then
    tests/, both on the image built for the deploy (the Dockerfile without the CLI's astro-run-dag line). That
    image is test c's: its tests/ run is test c's; the parse runs here."""
    image = _deploy_image(astro)
    began = time.monotonic()
    code, output = astro_cli.pytest(ROOT, image, target=astro_cli.PARSE_TEST)
    print(output[-4000:])
    REPORT.append(f"astro dev parse: exit {code} in {time.monotonic() - began:.0f} s; {_summary(output)}")
    assert code == 0, output[-8000:]
    assert re.search(r"\d+ passed", output), output[-3000:]
    assert "skipped" not in _summary(output), output[-3000:]


def _summary(output: str) -> str:
    lines = [line for line in output.splitlines() if re.match(r"^=+ .*(passed|failed|error).* =+$", line)]
    return lines[-1].strip("= ") if lines else "no pytest summary"
