"""The compose project `astro dev start` generates for an Airflow 3 (Runtime 3.x) image, as Astro CLI v1.45.0
renders it; lab/astro_cli.py holds what both Airflow lines share (project and image names, the postgres
service, the Airflow service skeleton, the settings load).

Source: astronomer/astro-cli **v1.45.0**:
- ``airflow/include/airflow3/composeyml.go.tmpl``, rendered by ``generateConfig`` (airflow/container.go)
  when the project image's ``io.astronomer.docker.runtime.version`` label names Airflow 3: one environment
  shared by every Airflow container (LocalExecutor, the metadata database as SQL connection, the execution
  API at ``http://api-server:8080/execution/``, the project name as JWT secret and API secret key so that
  every component accepts the others' tokens, the simple auth manager with every user an admin, a standalone
  DAG processor); services ``postgres``, ``db-migration`` (``airflow db migrate`` as the image's user, no
  restart, no volume, no env file), ``scheduler`` (the settings file mounted), ``dag-processor``,
  ``api-server`` (port 8080 published on 127.0.0.1) and ``triggerer`` (no tests/ mount), each Airflow one
  after ``db-migration`` has started;
- ``airflow/docker.go`` ``Start``: with ``--image-name`` no build and no astro-run-dag line: the named local
  image is tagged ``<project>/airflow:latest`` (``TagLocalImage``) and started under that name; on Airflow 3
  the CLI waits ``--wait`` (default 1 minute, cmd/airflow.go) for ``GET /api/v2/monitor/health`` of the
  api-server (airflow/health_check.go: every second, 5 s per request, until 200), then loads
  airflow_settings.yaml through ``/api/v2`` with a token from ``POST /auth/token`` (lab/astro_cli.py
  ``load_settings``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lab.astro_cli import (
    FERNET_KEY,
    POSTGRES_PASSWORD,
    POSTGRES_USER,
    SETTINGS_FILE,
    airflow_service,
    default_env_file,
    image_name,
    postgres_service,
    project,
    project_name,
)

#: The api-server's health endpoint `astro dev start` polls on Airflow 3.
HEALTH_PATH = "/api/v2/monitor/health"
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"


def environment(project_dir: Path) -> dict[str, Any]:
    """The template's ``x-common-env-vars`` (YAML types kept: compose passes them on as strings)."""
    name = project_name(project_dir)
    conn = f"postgresql://{POSTGRES_USER}:{POSTGRES_PASSWORD}@postgres:5432"
    return {
        "AIRFLOW__API__BASE_URL": "http://localhost:8080",
        "AIRFLOW__API__PORT": 8080,
        "AIRFLOW__API_AUTH__JWT_SECRET": name,
        "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "http://api-server:8080/execution/",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__FERNET_KEY": FERNET_KEY,
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__SQL_ALCHEMY_CONN": conn,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": conn,
        "AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR": True,
        "AIRFLOW__API__SECRET_KEY": name,
        "ASTRONOMER_ENVIRONMENT": "local",
    }


def render(
    project_dir: Path, *, postgres_port: int, api_server_port: int, env_file: Path | None = None
) -> dict[str, Any]:
    """The compose project `astro dev start` generates for an Airflow 3 (Runtime 3.x) project.

    :param env_file: as for lab/astro_cli.py ``render``: ``.env`` when the project has one.
    """
    env_file = default_env_file(project_dir, env_file)
    image = image_name(project_dir)
    settings = (project_dir / SETTINGS_FILE).exists()
    env = environment(project_dir)
    services = {"postgres": postgres_service(postgres_port)}
    migration = airflow_service(
        project_dir,
        image,
        "db-migration",
        ["airflow", "db", "migrate"],
        tests=False,
        settings=False,
        env_file=None,
    )
    for key in ("user", "restart", "volumes"):
        del migration[key]
    services["db-migration"] = migration
    components = {  # tests/ mounted, settings file mounted
        "scheduler": (True, settings),
        "dag-processor": (True, False),
        "api-server": (True, False),
        "triggerer": (False, False),
    }
    for component, (tests, mount_settings) in components.items():
        services[component] = airflow_service(
            project_dir,
            image,
            component,
            ["airflow", component],
            tests=tests,
            settings=mount_settings,
            env_file=env_file,
        )
        services[component]["depends_on"] = ["db-migration"]
    for service in services.values():
        if service is not services["postgres"]:
            service["environment"] = dict(env)
    services["api-server"]["ports"] = [f"127.0.0.1:{api_server_port}:8080"]
    return project(services)
