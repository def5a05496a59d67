"""What the Astro CLI does for `astro dev start` and `astro dev pytest`, reproduced step by step for the lab.

Source: astronomer/astro-cli **v1.45.0** (the latest release when this was written):
- ``airflow/include/airflow2/composeyml.go.tmpl`` — the compose project for Airflow 2 runtimes, rendered by
  ``generateConfig`` (airflow/container.go) with the config defaults of config/config.go: postgres image
  ``docker.io/postgres:12.6``, user/password ``postgres``, user ``astro``, mount label ``z``, duplicate
  volumes, ports bound to 127.0.0.1, ``env_file: .env`` only when .env exists, the settings file mounted when
  present;
- ``airflow/docker.go`` ``Start``: build the project image ``<project>/airflow:latest`` from the Dockerfile
  (``--pull`` when every FROM is an Astro Runtime image), load the rendered file plus
  docker-compose.override.yml under the project name ``<name>_<md5(project dir)[:6]>`` interpolating
  ``${...}`` from the *process environment only* (.env is not read), then compose ``Up`` with no build
  option; the proxy keeps the default ports unless they are taken; wait for ``/health``; load
  airflow_settings.yaml;
- ``settings/settings.go``: pools, variables and connections upserted through the REST API
  (``POST <api>/<kind>``, ``PATCH`` on 409); airflow/docker.go ``airflowAPIURL`` and ``airflowAuthHeader``:
  ``/api/v1`` with basic auth admin:admin on Airflow 2, ``/api/v2`` on the api-server with the bearer token
  ``POST /auth/token`` returns (``{"username": "admin", "password": "admin"}``) on Airflow 3;
- airflow/container.go ``generateConfig`` and airflow_versions/runtime_versions.go: the template follows the
  Airflow major of the image's ``io.astronomer.docker.runtime.version`` label (``12.8.0``: 2, ``3.3-2``: 3);
  lab/astro_cli3.py renders the Airflow 3 one;
- ``airflow/docker_image.go`` ``Pytest``: ``docker create -i --name astro-pytest [--env-file .env] <image>
  pytest tests/``, ``docker cp`` of dags, tests, plugins, include and .astro into /usr/local/airflow,
  ``docker start -a``, exit code from ``docker inspect``, ``docker rm``; ``Parse`` (`astro dev parse`) is the
  same with ``.astro/test_dag_integrity_default.py`` instead of ``tests/``;
- ``cloud/deploy/deploy.go``: `astro deploy --parse` runs that parse, ``--pytest`` the tests, both flags
  parse then tests, on the image built for the deploy (the Dockerfile, without the ``astro-run-dag`` line);
- ``cmd/airflow.go``: `astro dev start` waits ``--wait`` (default 1 minute) for the webserver's ``/health``
  once compose ``Up`` has returned, and returns an error before loading airflow_settings.yaml when it does
  not answer in time.
The template itself is not copied here; :func:`render` builds the same services from those rules.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import requests
import yaml

ASTRO_CLI_VERSION = "v1.45.0"
POSTGRES_IMAGE = "docker.io/postgres:12.6"
POSTGRES_USER = POSTGRES_PASSWORD = "postgres"
#: The fixed Fernet key of the CLI's Airflow 2 template (every local Astro project shares it).
FERNET_KEY = "d6Vefz3G9U_ynXB3cr7y_Ak35tAHkEGAVxuz_B-jzWw="
SETTINGS_FILE = "airflow_settings.yaml"
PYTEST_CONTAINER = "astro-pytest"
PYTEST_COPY_DIRS = ("dags", "tests", "plugins", "include", ".astro")
RUNTIME_IMAGE_PREFIXES = (
    "quay.io/astronomer/astro-runtime",
    "images.astronomer.cloud/baseimages/astro-runtime",
)
ADMIN = ("admin", "admin")
#: `astro dev start`'s default ``--wait`` in seconds (cmd/airflow.go ``defaultWaitTime``), for the webserver
#: (Airflow 2) and the api-server (Airflow 3) alike.
DEFAULT_WAIT = 60
RUNTIME_VERSION_LABEL = "io.astronomer.docker.runtime.version"


def airflow_major(runtime_version: str) -> str:
    """``AirflowMajorVersionForRuntimeVersion``: Runtime 3 and later tags are ``<major>.<minor>-<patch>``
    (``3.3-2``, also with a ``-python-3.x`` suffix) and name the Airflow major; semver tags (``12.8.0``) are
    Airflow 2."""
    if match := re.match(r"v?(\d+)\.\d+-\d+", runtime_version):
        return match.group(1)
    if re.match(r"v?\d+\.\d+\.\d+", runtime_version):
        return "2"
    raise ValueError(f"unsupported runtime version {runtime_version!r}")


def project_name(project_dir: Path) -> str:
    """``<project.name>_<first 6 hex of md5(project dir)>`` (ProjectNameUnique)."""
    config = yaml.safe_load((project_dir / ".astro" / "config.yaml").read_text()) or {}
    name = (config.get("project") or {}).get("name", "")
    return f"{name}_{hashlib.md5(str(project_dir).encode()).hexdigest()[:6]}"  # noqa: S324 - the CLI's hash


def compose_project_name(project_dir: Path) -> str:
    """The compose project name: the unique name lower-cased, only [a-z0-9_-], no leading ``_``/``-``."""
    return "".join(re.findall(r"[a-z0-9_-]", project_name(project_dir).lower())).lstrip("_-")


def image_name(project_dir: Path) -> str:
    return f"{project_name(project_dir)}/airflow:latest"


def build_pulls(dockerfile: Path) -> bool:
    """The CLI builds with ``--pull`` when every FROM line names an Astro Runtime image."""
    froms = [line for line in dockerfile.read_text().splitlines() if line.startswith("FROM ")]
    return all(line.removeprefix("FROM ").startswith(RUNTIME_IMAGE_PREFIXES) for line in froms)


def default_env_file(project_dir: Path, env_file: Path | None) -> Path | None:
    """The env file the services get: the one given, else ``.env`` when the project has one."""
    if env_file is None and (project_dir / ".env").exists():
        return project_dir / ".env"
    return env_file


def airflow_service(
    project_dir: Path,
    image: str,
    component: str,
    command: str | list[str],
    *,
    tests: bool,
    settings: bool,
    env_file: Path | None,
) -> dict[str, Any]:
    mounts = [f"{project_dir}/{d}:/usr/local/airflow/{d}:z" for d in ("dags", "plugins", "include")]
    if tests:
        mounts.append(f"{project_dir}/tests:/usr/local/airflow/tests:z")
    if settings:
        mounts.append(f"{project_dir}/{SETTINGS_FILE}:/usr/local/airflow/{SETTINGS_FILE}:z")
    mounts.append("airflow_logs:/usr/local/airflow/logs")
    service: dict[str, Any] = {
        "image": image,
        "command": command,
        "restart": "unless-stopped",
        "networks": ["airflow"],
        "user": "astro",
        "labels": {
            "io.astronomer.docker": "true",
            "io.astronomer.docker.cli": "true",
            "io.astronomer.docker.component": f"airflow-{component}",
        },
        "depends_on": ["postgres"],
        "volumes": mounts,
    }
    if env_file is not None:
        service["env_file"] = str(env_file)
    return service


def postgres_service(port: int) -> dict[str, Any]:
    """The metadata database of both templates, published on 127.0.0.1."""
    return {
        "image": POSTGRES_IMAGE,
        "restart": "unless-stopped",
        "networks": ["airflow"],
        "labels": {"io.astronomer.docker": "true", "io.astronomer.docker.cli": "true"},
        "ports": [f"127.0.0.1:{port}:5432"],
        "volumes": ["postgres_data:/var/lib/postgresql/data"],
        "environment": {"POSTGRES_USER": POSTGRES_USER, "POSTGRES_PASSWORD": POSTGRES_PASSWORD},
    }


def project(services: dict[str, Any]) -> dict[str, Any]:
    """The networks and volumes both templates declare around their services."""
    return {
        "networks": {"airflow": {"driver": "bridge"}},
        "volumes": {"postgres_data": {"driver": "local"}, "airflow_logs": {"driver": "local"}},
        "services": services,
    }


def render(
    project_dir: Path, *, postgres_port: int, webserver_port: int, env_file: Path | None = None
) -> dict[str, Any]:
    """The compose project `astro dev start` generates for an Airflow 2 (Runtime 12) project.

    :param env_file: the project's env file (the CLI passes ``.env`` when it exists); default: ``.env`` if
        the project has one.
    """
    env_file = default_env_file(project_dir, env_file)
    name = project_name(project_dir)
    image = image_name(project_dir)
    settings = (project_dir / SETTINGS_FILE).exists()
    conn = f"postgresql://{POSTGRES_USER}:{POSTGRES_PASSWORD}@postgres:5432"
    env = {
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__SQL_ALCHEMY_CONN": conn,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": conn,
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__FERNET_KEY": FERNET_KEY,
        "AIRFLOW__WEBSERVER__SECRET_KEY": name,
        "AIRFLOW__WEBSERVER__RBAC": "True",
        "AIRFLOW__WEBSERVER__EXPOSE_CONFIG": "True",
        "ASTRONOMER_ENVIRONMENT": "local",
    }
    migrate = 'bash -c "(airflow db upgrade || airflow upgradedb) && airflow {}"'
    # The template's webserver: basic auth for the REST API when the installed Airflow ships it, the admin
    # user, permissions synced, then the webserver.
    webserver_cmd = (
        "bash -c '"
        'if [[ -z "$$AIRFLOW__API__AUTH_BACKEND" ]] '
        "&& [[ $$(pip show -f apache-airflow | grep basic_auth.py) ]]; "
        "then export AIRFLOW__API__AUTH_BACKEND=airflow.api.auth.backend.basic_auth; "
        "else export AIRFLOW__API__AUTH_BACKEND=airflow.api.auth.backend.default; fi && "
        '{ airflow users create "$$@" || airflow create_user "$$@"; } && '
        "{ airflow sync-perm || airflow sync_perm; } && airflow webserver' "
        "-- -r Admin -u admin -e admin@example.com -f admin -l user -p admin"
    )
    services = {"postgres": postgres_service(postgres_port)}
    components = {  # command, tests/ mounted, settings file mounted
        "scheduler": (migrate.format("scheduler"), True, settings),
        "webserver": (webserver_cmd, True, False),
        "triggerer": (migrate.format("triggerer"), False, False),
    }
    for component, (command, tests, mount_settings) in components.items():
        services[component] = airflow_service(
            project_dir, image, component, command, tests=tests, settings=mount_settings, env_file=env_file
        )
        services[component]["environment"] = dict(env)
    services["webserver"]["depends_on"] = ["scheduler", "postgres"]
    services["webserver"]["ports"] = [f"127.0.0.1:{webserver_port}:8080"]
    return project(services)


def _extra(extra: Any) -> str:
    if extra in (None, "", {}):
        return ""
    return extra if isinstance(extra, str) else json.dumps(extra, sort_keys=True, separators=(",", ":"))


def _upsert(session: requests.Session, base: str, kind: str, key: str, body: dict[str, Any]) -> None:
    resp = session.post(f"{base}/{kind}", json=body, timeout=30)
    if resp.status_code == 409:
        resp = session.patch(f"{base}/{kind}/{key}", json=body, timeout=30)
    if not resp.ok:
        raise RuntimeError(f"settings: {kind} {key}: HTTP {resp.status_code}: {resp.text[:300]}")


def api_client(port: int, major: str = "2") -> tuple[requests.Session, str]:
    """An HTTP client authenticated as the CLI authenticates, and the base URL of the REST API
    (``airflowAPIURL``)."""
    client = requests.Session()
    if major == "2":
        client.auth = ADMIN
        return client, f"http://localhost:{port}/api/v1"
    token = requests.post(
        f"http://localhost:{port}/auth/token", json={"username": ADMIN[0], "password": ADMIN[1]}, timeout=30
    )
    token.raise_for_status()  # the CLI sends no Authorization then, and every upsert fails with 401/403
    client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    return client, f"http://localhost:{port}/api/v2"


def load_settings(project_dir: Path, port: int, major: str = "2") -> list[str]:
    """airflow_settings.yaml into the running Airflow, as the CLI does after start (``printStatus``): through
    the webserver's API on Airflow 2, the api-server's on Airflow 3; returns what was added."""
    settings = (yaml.safe_load((project_dir / SETTINGS_FILE).read_text()) or {}).get("airflow") or {}
    session, base = api_client(port, major)
    added = []
    for pool in settings.get("pools") or []:
        if pool.get("pool_name") and pool.get("pool_slot") is not None:
            body = {"name": pool["pool_name"], "slots": pool["pool_slot"]}
            if pool.get("pool_description"):
                body["description"] = pool["pool_description"]
            _upsert(session, base, "pools", pool["pool_name"], body)
            added.append(f"pool {pool['pool_name']}")
    for variable in settings.get("variables") or []:
        if variable.get("variable_name") and variable.get("variable_value"):
            body = {"key": variable["variable_name"], "value": variable["variable_value"]}
            _upsert(session, base, "variables", variable["variable_name"], body)
            added.append(f"variable {variable['variable_name']}")
    fields = {
        "conn_type": "conn_type",
        "conn_host": "host",
        "conn_login": "login",
        "conn_password": "password",
        "conn_schema": "schema",
    }
    for conn in settings.get("connections") or []:
        if not conn.get("conn_id") or not (conn.get("conn_type") or conn.get("conn_uri")):
            continue
        body: dict[str, Any] = {"connection_id": conn["conn_id"]}
        body.update({api: conn[key] for key, api in fields.items() if conn.get(key)})
        if conn.get("conn_port"):
            body["port"] = conn["conn_port"]
        if extra := _extra(conn.get("conn_extra")):
            body["extra"] = extra
        _upsert(session, base, "connections", conn["conn_id"], body)
        added.append(f"connection {conn['conn_id']}")
    return added


#: What `astro dev parse` (and the parse step of `astro deploy`) runs instead of tests/ (DefaultTestPath).
PARSE_TEST = ".astro/test_dag_integrity_default.py"


def pytest(
    project_dir: Path, image: str, target: str = "tests/", args: tuple[str, ...] = ()
) -> tuple[int, str]:
    """`astro dev pytest` (``pytest tests/``) or, with ``target=PARSE_TEST``, `astro dev parse`: pytest in a
    container of the built image, the project copied in (DockerCompose.Pytest/Parse, DockerImage.Pytest)."""

    def run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", *cmd], check=check, capture_output=True, text=True, cwd=project_dir)

    run("rm", "-f", PYTEST_CONTAINER, check=False)
    env_file = ["--env-file", ".env"] if (project_dir / ".env").exists() else []
    run("create", "-i", "--name", PYTEST_CONTAINER, *env_file, image, "pytest", target, *args)
    try:
        for folder in PYTEST_COPY_DIRS:
            if (project_dir / folder).exists():
                run("cp", str(project_dir / folder), f"{PYTEST_CONTAINER}:/usr/local/airflow/")
        started = run("start", "-a", PYTEST_CONTAINER, check=False)
        code = run("inspect", PYTEST_CONTAINER, "--format={{.State.ExitCode}}").stdout.strip()
        return int(code), started.stdout + started.stderr
    finally:
        run("rm", "-f", PYTEST_CONTAINER, check=False)
