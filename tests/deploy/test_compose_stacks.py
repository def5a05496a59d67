"""The compose stacks as Compose v2 merges them, without a Docker engine: plain `docker compose up`
(docker-compose.yml + override) and `astro dev start` (the Astro CLI's project + override). The container lab
(`make test-containers`) runs them for real."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet

from tests.deploy.compose import ASTRO_FILES, PLAIN_FILES, interpolated_variables, load_config, run_config
from tests.environment import REPO_ROOT

AIRFLOW_SERVICES = {"airflow-init", "webserver", "scheduler", "triggerer"}
# The image `astro dev start` builds from the Dockerfile before starting (see astro-cli-compose.yml).
ASTRO_PROJECT_IMAGE = re.compile(r"^movielens-popular-movies_[0-9a-f]{6}/airflow:latest$")


@pytest.fixture(scope="module")
def plain_stack() -> dict:
    return load_config(PLAIN_FILES)


@pytest.fixture(scope="module")
def astro_stack() -> dict:
    return load_config(ASTRO_FILES)


STACKS = ["plain_stack", "astro_stack"]


def _dockerfile_from(path: Path) -> str:
    return re.search(r"^FROM\s+(\S+)", path.read_text(), re.M).group(1)


def _dockerfile_env(name: str) -> str:
    return re.search(rf"^ENV\s+{name}=(\S+)", (REPO_ROOT / "Dockerfile").read_text(), re.M).group(1)


def _published(service: dict) -> list[tuple[str, int]]:
    return [(port.get("host_ip", "0.0.0.0"), int(port["published"])) for port in service.get("ports", [])]


def test_plain_stack_services(plain_stack: dict) -> None:
    assert set(plain_stack["services"]) == AIRFLOW_SERVICES | {"postgres", "movielens-api"}


def test_astro_stack_builds_nothing(astro_stack: dict) -> None:
    """`astro dev start` builds only the Dockerfile's image and never a service of the override."""
    services = astro_stack["services"]
    assert set(services) == {"postgres", "scheduler", "webserver", "triggerer", "movielens-api"}
    for name, service in services.items():
        assert "build" not in service, f"{name} needs a build that `astro dev start` never runs"
        image = service["image"]
        assert ASTRO_PROJECT_IMAGE.match(image) or re.match(r"^[\w./-]+:[\w.-]+$", image), (name, image)
    assert services["movielens-api"]["image"] == _dockerfile_from(REPO_ROOT / "api" / "Dockerfile")


def test_plain_stack_builds_only_the_airflow_image(plain_stack: dict) -> None:
    built = {name for name, service in plain_stack["services"].items() if "build" in service}
    assert built == AIRFLOW_SERVICES
    for name in built:
        build = plain_stack["services"][name]["build"]
        assert Path(build["context"]) == REPO_ROOT
        assert (REPO_ROOT / build.get("dockerfile", "Dockerfile")).is_file()


@pytest.mark.parametrize("stack", STACKS)
def test_api_runs_the_stock_image_with_api_mounted(request: pytest.FixtureRequest, stack: str) -> None:
    api = request.getfixturevalue(stack)["services"]["movielens-api"]
    assert api["image"] == _dockerfile_from(REPO_ROOT / "api" / "Dockerfile"), "one Python image for both"
    assert api["command"] == ["sh", "/app/serve.sh"]
    mounts = {volume["target"]: volume for volume in api["volumes"]}
    assert mounts["/app"]["type"] == "bind"
    assert Path(mounts["/app"]["source"]) == REPO_ROOT / "api"
    assert mounts["/app"]["read_only"] is True
    assert (mounts["/data"]["type"], mounts["/data"]["source"]) == ("volume", "movielens-data")
    env = api["environment"]
    assert env["API_VENV_DIR"].startswith("/data/")
    assert env["MOVIELENS_CACHE_DIR"] == "/data"
    assert (env["API_HOST"], env["API_PORT"]) == ("0.0.0.0", "5000")


@pytest.mark.parametrize("stack", STACKS)
def test_api_healthcheck_works_in_the_stock_image(request: pytest.FixtureRequest, stack: str) -> None:
    """python:*-slim has no curl or wget: the check is Python's urllib, against the port gunicorn binds."""
    test = request.getfixturevalue(stack)["services"]["movielens-api"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python3", "-c"]
    assert "urllib.request.urlopen('http://127.0.0.1:5000/health'" in test[3]
    compile(test[3], "healthcheck", "exec")


@pytest.mark.parametrize("stack", STACKS)
def test_wiring(request: pytest.FixtureRequest, stack: str) -> None:
    services = request.getfixturevalue(stack)["services"]
    # A first start prepares the API's data for minutes; nothing of Airflow may wait for it (`astro dev start`
    # gives the webserver one minute once `up` returns, and `up` would wait for a dependency's health first).
    waiting = {name for name, svc in services.items() if "movielens-api" in (svc.get("depends_on") or {})}
    assert waiting == set()
    # ...nor compete with it for the CPU on equal terms (Docker's default share is 1024).
    assert services["movielens-api"]["cpu_shares"] < 1024
    assert "airflow" in services["movielens-api"]["networks"]
    env = services["movielens-api"]["environment"]
    assert (env["API_USER"], env["API_PASSWORD"]) == ("airflow", "airflow")
    postgres_mounts = {volume["target"]: volume for volume in services["postgres"]["volumes"]}
    init = postgres_mounts["/docker-entrypoint-initdb.d"]
    assert (REPO_ROOT / "include" / "postgres-init" / "01-movielens.sql").samefile(
        Path(init["source"]) / "01-movielens.sql"
    )


@pytest.mark.parametrize("stack", STACKS)
def test_ports_are_published_on_loopback_only(request: pytest.FixtureRequest, stack: str) -> None:
    services = request.getfixturevalue(stack)["services"]
    for name, service in services.items():
        for host_ip, _ in _published(service):
            assert host_ip == "127.0.0.1", f"{name} is published on {host_ip}"
    assert _published(services["movielens-api"]) == [("127.0.0.1", 5000)]
    assert _published(services["webserver"]) == [("127.0.0.1", 8080)]


def test_host_ports_are_variables() -> None:
    env = {"MOVIELENS_API_PORT": "5055", "AIRFLOW_WEBSERVER_PORT": "8085"}
    plain = load_config(PLAIN_FILES, env)["services"]
    assert _published(plain["movielens-api"]) == [("127.0.0.1", 5055)]
    assert _published(plain["webserver"]) == [("127.0.0.1", 8085)]
    astro = load_config(ASTRO_FILES, env)["services"]
    assert _published(astro["movielens-api"]) == [("127.0.0.1", 5055)]


@pytest.mark.parametrize("path", ["docker-compose.override.yml", "docker-compose.yml"])
def test_every_variable_has_a_safe_default(path: str) -> None:
    """`astro dev start` fills ${...} from the shell only: unset, each must still give a working stack."""
    variables = interpolated_variables(REPO_ROOT / path)
    assert variables, f"{path} uses no variables?"
    assert {name for name, default in variables.items() if default is None} == set()


@pytest.mark.parametrize("files", [PLAIN_FILES, ASTRO_FILES], ids=["plain", "astro"])
def test_an_empty_environment_renders_without_warnings(files: tuple[Path, ...]) -> None:
    done = run_config(files)
    assert done.returncode == 0, done.stderr
    assert "is not set" not in done.stderr, done.stderr


def test_override_variables_are_documented_as_shell_exports() -> None:
    """The operations guide must not send the override's variables to .env, which `astro dev start` ignores
    for them."""
    readme = (REPO_ROOT / "docs" / "operations.md").read_text()
    for name in interpolated_variables(REPO_ROOT / "docker-compose.override.yml"):
        for line in readme.splitlines():
            if name in line and ".env" in line:
                assert "not" in line or "ignore" in line or "only" in line, (
                    f"README sends {name} to .env: {line}"
                )
    assert "export MOVIELENS_DATA=" in readme
    assert "export MOVIELENS_API_PORT=" in readme


def test_one_fernet_key_for_all_airflow_containers(plain_stack: dict) -> None:
    keys = {
        plain_stack["services"][name]["environment"]["AIRFLOW__CORE__FERNET_KEY"] for name in AIRFLOW_SERVICES
    }
    assert len(keys) == 1
    Fernet(keys.pop())  # a valid key, or this raises
    chosen = Fernet.generate_key().decode()
    services = load_config(PLAIN_FILES, {"AIRFLOW_FERNET_KEY": chosen})["services"]
    assert {services[name]["environment"]["AIRFLOW__CORE__FERNET_KEY"] for name in AIRFLOW_SERVICES} == {
        chosen
    }


def test_pipeline_files_stay_out_of_include(plain_stack: dict) -> None:
    data_dir = _dockerfile_env("MOVIELENS_DATA_DIR")
    assert not data_dir.startswith(("/usr/local/airflow/include", "/usr/local/airflow/dags"))
    for name in AIRFLOW_SERVICES:
        assert plain_stack["services"][name]["environment"]["MOVIELENS_DATA_DIR"] == data_dir


@pytest.mark.parametrize("stack", STACKS)
def test_bind_mount_sources_exist(request: pytest.FixtureRequest, stack: str) -> None:
    for name, service in request.getfixturevalue(stack)["services"].items():
        for volume in service.get("volumes", []):
            if volume["type"] == "bind":
                assert Path(volume["source"]).exists(), f"{name}: {volume['source']}"


def test_airflow_connections_in_compose_match_airflow_settings(plain_stack: dict) -> None:
    settings = yaml.safe_load((REPO_ROOT / "airflow_settings.yaml").read_text())
    by_id = {c["conn_id"]: c for c in settings["airflow"]["connections"]}
    env = plain_stack["services"]["scheduler"]["environment"]
    for conn_id in ("movielens", "movielens_results"):
        from_env = json.loads(env[f"AIRFLOW_CONN_{conn_id.upper()}"])
        expected = by_id[conn_id]
        assert from_env["conn_type"] == expected["conn_type"]
        assert from_env["host"] == expected["conn_host"]
        assert from_env["port"] == expected["conn_port"]
        assert from_env["schema"] == expected["conn_schema"]


def test_every_stack_creates_the_api_pool_the_dags_use(plain_stack: dict) -> None:
    """airflow_settings.yaml (`astro dev start`, `make up`) and the compose stack's airflow-init create the
    pool that include/movielens/settings.py names, with its default size; the DAG containers use that name."""
    from include.movielens import settings as movielens

    settings = yaml.safe_load((REPO_ROOT / "airflow_settings.yaml").read_text())
    assert [(p["pool_name"], p["pool_slot"]) for p in settings["airflow"]["pools"]] == [
        (movielens.API_POOL, movielens.API_POOL_SLOTS)
    ]
    init = " ".join(plain_stack["services"]["airflow-init"]["command"])
    assert f'airflow pools set "{movielens.API_POOL}" "{movielens.API_POOL_SLOTS}"' in init
    for name in AIRFLOW_SERVICES:
        assert plain_stack["services"][name]["environment"]["MOVIELENS_API_POOL"] == movielens.API_POOL
