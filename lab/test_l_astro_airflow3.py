"""l. The Airflow 3 image under `astro dev start`, as docs/operations.md "Airflow 3 image" says to run it:
``docker build -f Dockerfile.airflow3 -t movielens-airflow3 .`` then ``astro dev start --image-name
movielens-airflow3``, done the way Astro CLI v1.45.0 does it (lab/astro_cli3.py names each source file).

The CLI tags the named image as the project image, reads its Runtime label (3.3-2: Airflow 3), renders the
Airflow 3 compose project (api-server, dag-processor, scheduler, triggerer, db-migration, postgres) plus
docker-compose.override.yml, starts it without building, waits its default minute for the api-server's health
and loads airflow_settings.yaml through REST API v2 with a token of the simple auth manager. Then ``02_hook``
runs 2019-01-01 through the real scheduler and its rankings are checked exact against the dataset file.

What this stack serves and runs is narrowed as a user narrows it: the API serves the lab's small dataset
through ``MOVIELENS_DATA`` (copied into the API's volume between create and start, with the venv an earlier
stack's API installed, as in the Celery test), and a project ``.env`` (the CLI hands it to the Airflow
services) sets the DAGs' catch-up window to that one day.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import airflow_runs as runs
from lab import astro_cli, astro_cli3, images
from lab.conftest import (
    ASTRO_PROJECT,
    DATASET_IN_VOLUME,
    REPORT,
    ApiVolume,
    api_matches,
    astro_stack,
    exclusive,
    free_port,
)
from lab.first_start import FirstStart
from lab.stack import Stack, assert_down_leaves_nothing, docker, owned

ROOT = Path(__file__).resolve().parents[1]
DAY = "2019-01-01"
DAG = "02_hook"
#: The name docs/operations.md builds the Airflow 3 image under and passes to `astro dev start --image-name`.
IMAGE = "movielens-airflow3"
CONNECTIONS = ("movielens", "movielens_results")


@pytest.fixture(scope="module")
def astro3(
    tmp_path_factory: pytest.TempPathFactory, shell_env: dict[str, str], api_volume: ApiVolume
) -> Iterator[dict]:
    with exclusive(ASTRO_PROJECT, "l"):
        yield from _astro3(tmp_path_factory.mktemp("astro3"), shell_env, api_volume)


def _astro3(tmp: Path, shell_env: dict[str, str], api_volume: ApiVolume) -> Iterator[dict]:
    api_port = free_port()  # beside the defaults lane, which holds 5000
    began = time.monotonic()
    images.build_project(tmp, IMAGE, "Dockerfile.airflow3")  # as documented: no --pull, no CLI line
    built = time.monotonic() - began
    # --image-name: no build; the image is tagged as the project image (TagLocalImage) and its Runtime label
    # picks the template (generateConfig).
    project_image = astro_cli.image_name(ROOT)
    docker("tag", IMAGE, project_image)
    label = docker(
        "image",
        "inspect",
        "--format",
        f'{{{{index .Config.Labels "{astro_cli.RUNTIME_VERSION_LABEL}"}}}}',
        IMAGE,
    ).stdout.strip()
    assert astro_cli.airflow_major(label) == "3", f"{IMAGE}: runtime label {label!r}"
    dotenv = tmp / ".env"  # the project's .env as a user writes it: one day of catch-up
    dotenv.write_text(f"MOVIELENS_START_DATE={DAY}\nMOVIELENS_END_DATE={DAY}\n")
    stack, ports = astro_stack(
        tmp,
        lambda ports: astro_cli3.render(
            ROOT, postgres_port=ports["postgres"], api_server_port=ports["airflow"], env_file=dotenv
        ),
        {**shell_env, "MOVIELENS_DATA": DATASET_IN_VOLUME, "MOVIELENS_API_PORT": str(api_port)},
        airflow_major="3",
    )
    with owned(stack):
        yield {
            "stack": stack,
            "ports": {**ports, "api": api_port},
            "built": built,
            "label": label,
            "volume": api_volume,
        }


def test_l_astro_dev_start_airflow3_runs_02_hook_exact(astro3: dict, dataset: Path) -> None:
    stack: Stack = astro3["stack"]
    port = astro3["ports"]["airflow"]
    stack.compose("up", "--no-build", "--no-start")
    astro3["volume"].seed(stack, venvs=True)
    stack.compose("up", "-d", "--no-build")
    start = FirstStart(api=f"http://127.0.0.1:{astro3['ports']['api']}")
    start.wait_webserver(port, within=astro_cli.DEFAULT_WAIT, path=astro_cli3.HEALTH_PATH, name="api-server")
    began = time.monotonic()
    added = astro_cli.load_settings(ROOT, port, major="3")
    settings = time.monotonic() - began
    start.mark("airflow_settings.yaml loaded")
    restarts = _restarts(stack)
    assert {f"connection {c}" for c in CONNECTIONS} | {"pool movielens_api"} <= set(added), added
    client, base = astro_cli.api_client(port, major="3")
    stored = {c: client.get(f"{base}/connections/{c}", timeout=30).json() for c in CONNECTIONS}
    assert stored["movielens"]["host"] == "movielens-api", stored
    assert stored["movielens_results"]["conn_type"] == "postgres", stored
    api_matches(dataset, start.wait_api(stack, within=900))
    astro3["volume"].keep_venvs(stack)
    REPORT.append(
        f"astro dev start --image-name {IMAGE} (Runtime {astro3['label']}, Airflow 3): image build "
        f"{astro3['built']:.0f} s; api-server healthy {start.seen['api-server healthy']:.1f} s after `up` "
        f"(the CLI waits {astro_cli.DEFAULT_WAIT} s; restarts until then: {restarts}); settings loaded in "
        f"{settings:.1f} s; {start.summary()}"
    )
    runs.wait_parsed(stack, [DAG])
    resp = client.patch(f"{base}/dags/{DAG}", json={"is_paused": False}, timeout=30)  # the UI's toggle
    assert resp.ok, resp.text
    began = time.monotonic()
    runs.wait_success(stack, [(DAG, DAY)], timeout=1200)
    runs.pause(stack, [DAG])
    took = time.monotonic() - began
    REPORT.append(f"astro dev start, Airflow 3: {DAG} {DAY} in {took:.0f} s after the unpause")
    assert set(runs.run_states(stack, [DAG])) == {(DAG, DAY)}, "the .env window allows one run only"
    runs.assert_exact(stack, dataset, [DAY])
    runs.assert_api_pool(stack, [DAG])  # created from airflow_settings.yaml
    assert_down_leaves_nothing(stack)  # `astro dev kill`


def _restarts(stack: Stack) -> str:
    """How often each Airflow container restarted: the template starts them as soon as db-migration has
    started, so one that needs the migrated schema before it is there exits and Docker restarts it."""
    services = ("db-migration", "api-server", "dag-processor", "scheduler", "triggerer")
    counts = {
        s: docker("inspect", "--format", "{{.RestartCount}}", stack.container(s)).stdout.strip()
        for s in services
    }
    return ", ".join(f"{s} {n}" for s, n in counts.items())
