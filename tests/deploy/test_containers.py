"""Static checks of the container setup: no Docker engine runs here, so the compose files are validated and
merged by a real Compose client (`docker compose` or Debian's `docker-compose`), and both Dockerfiles are
linted with hadolint."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.environment import require

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
DOCKERFILES = ["Dockerfile", "api/Dockerfile"]


def _compose_cli() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        return ["docker", "compose"]
    require(False, "no Compose client (docker compose or docker-compose)")
    return []


def _config(*files: Path) -> dict:
    args = [arg for f in files for arg in ("-f", str(f))]
    proc = subprocess.run(
        [*_compose_cli(), "--project-directory", str(ROOT), *args, "config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    return yaml.safe_load(proc.stdout)


@pytest.fixture(scope="module")
def plain_stack() -> dict:
    """docker-compose.yml merged with the override, as plain `docker compose up` does."""
    return _config(ROOT / "docker-compose.yml", ROOT / "docker-compose.override.yml")


@pytest.fixture(scope="module")
def astro_stack() -> dict:
    """The override merged into an Astro-CLI-shaped project, as `astro dev start` does."""
    return _config(HERE / "astro-cli-compose.yml", ROOT / "docker-compose.override.yml")


def _published(service: dict) -> set[int]:
    return {int(p["published"]) for p in service.get("ports", [])}


def _bind_sources(service: dict) -> list[str]:
    """Host paths of a service's bind mounts (Compose v2 prints the long form, v1 "source:target[:mode]")."""
    sources = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source = volume.split(":", 1)[0]
            if source.startswith(("/", ".")):
                sources.append(source)
        elif volume["type"] == "bind":
            sources.append(volume["source"])
    return sources


def test_plain_stack_services(plain_stack: dict) -> None:
    assert set(plain_stack["services"]) == {
        "postgres",
        "airflow-init",
        "webserver",
        "scheduler",
        "triggerer",
        "movielens-api",
    }


@pytest.mark.parametrize("stack", ["plain_stack", "astro_stack"])
def test_ports_and_wiring(request: pytest.FixtureRequest, stack: str) -> None:
    services = request.getfixturevalue(stack)["services"]
    assert _published(services["movielens-api"]) == {5000}
    assert _published(services["webserver"]) == {8080}
    assert services["scheduler"]["depends_on"]["movielens-api"]["condition"] == "service_healthy"
    assert "airflow" in services["movielens-api"]["networks"]
    env = services["movielens-api"]["environment"]
    assert (env["API_USER"], env["API_PASSWORD"]) == ("airflow", "airflow")


@pytest.mark.parametrize("stack", ["plain_stack", "astro_stack"])
def test_build_contexts_and_bind_mounts_exist(request: pytest.FixtureRequest, stack: str) -> None:
    for name, service in request.getfixturevalue(stack)["services"].items():
        if "build" in service:
            context = Path(service["build"]["context"])
            assert (context / service["build"].get("dockerfile", "Dockerfile")).is_file(), name
        for source in _bind_sources(service):
            assert Path(source).exists(), f"{name}: {source}"


def test_airflow_connections_in_compose_match_airflow_settings(plain_stack: dict) -> None:
    settings = yaml.safe_load((ROOT / "airflow_settings.yaml").read_text())
    by_id = {c["conn_id"]: c for c in settings["airflow"]["connections"]}
    env = plain_stack["services"]["scheduler"]["environment"]
    for conn_id in ("movielens", "movielens_results"):
        from_env = json.loads(env[f"AIRFLOW_CONN_{conn_id.upper()}"])
        expected = by_id[conn_id]
        assert from_env["conn_type"] == expected["conn_type"]
        assert from_env["host"] == expected["conn_host"]
        assert from_env["port"] == expected["conn_port"]
        assert from_env["schema"] == expected["conn_schema"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_hadolint_clean(dockerfile: str) -> None:
    hadolint = shutil.which("hadolint", path=f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin")
    require(hadolint is not None, "hadolint is not installed")
    proc = subprocess.run([hadolint, "--no-color", dockerfile], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_api_image_has_healthcheck_and_port() -> None:
    text = (ROOT / "api" / "Dockerfile").read_text()
    assert "HEALTHCHECK" in text
    assert "/health" in text
    assert "EXPOSE 5000" in text


@pytest.mark.parametrize("pattern", [".venv", "api/.venv", ".local", "api/.data", "include/data"])
def test_dockerignore_keeps_local_state_out_of_images(pattern: str) -> None:
    assert pattern in (ROOT / ".dockerignore").read_text().split()


def test_api_dockerignore_keeps_venv_and_data_out() -> None:
    lines = (ROOT / "api" / ".dockerignore").read_text().split()
    assert ".venv" in lines
    assert ".data" in lines
