"""Run the real Movie Rating API (api/, under gunicorn from api/.venv) for tests.

Used by the ``movielens_api`` session fixture in ``tests/conftest.py``; also usable on its own, e.g.::

    with run_api(synthesize(Path("/tmp/ml"), rows=2_000_000)) as api:
        print(api.base_url)
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
API_DIR = REPO_ROOT / "api"
API_PYTHON = API_DIR / ".venv" / "bin" / "python"
API_GUNICORN = API_DIR / ".venv" / "bin" / "gunicorn"

#: The small synthetic dataset of the test suites: 2019-01-01 .. 2019-01-14 have ratings, later days none.
TEST_DATASET: dict[str, Any] = {
    "rows": 60_000,
    "users": 2_000,
    "movies": 1_500,
    "start_date": "2019-01-01",
    "end_date": "2019-01-15",
    "seed": 7,
}


@dataclass(frozen=True)
class LiveApi:
    """A running API process and the dataset it serves."""

    base_url: str
    host: str
    port: int
    login: str
    password: str
    data_dir: Path
    ratings_csv: Path
    movies_csv: Path
    log_path: Path

    def connection(self, **extra: Any) -> dict[str, Any]:
        """An Airflow connection (dict form) of type ``movielens`` pointing at this API."""
        return {
            "conn_type": "movielens",
            "host": self.host,
            "port": self.port,
            "schema": "http",
            "login": self.login,
            "password": self.password,
            "extra": extra,
        }

    def connection_json(self, **extra: Any) -> str:
        """The same connection as JSON, the format of ``AIRFLOW_CONN_<ID>`` environment variables."""
        return json.dumps(self.connection(**extra))

    def log_tail(self, lines: int = 60) -> str:
        """The last lines of the server log (for failure messages)."""
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return "<no server log>"


def synthesize(data_dir: Path, **options: Any) -> Path:
    """Write a synthetic MovieLens dataset (ratings.csv, movies.csv) into ``data_dir``; return it.

    Options are the ``synth`` CLI's (``rows``, ``users``, ``movies``, ``start_date``, ``end_date``, ``seed``),
    defaulting to :data:`TEST_DATASET`. Skipped when both files already exist.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    if (data_dir / "ratings.csv").exists() and (data_dir / "movies.csv").exists():
        return data_dir
    args = [str(API_PYTHON), "-m", "movielens_api.dataset", "synth", "--out", str(data_dir)]
    for key, value in {**TEST_DATASET, **options}.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    done = subprocess.run(args, cwd=API_DIR, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"dataset synth failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return data_dir


def free_port() -> int:
    """An ephemeral TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def run_api(
    data_dir: Path,
    *,
    login: str = "airflow",
    password: str = "airflow",
    startup_timeout: float = 120.0,
    env: dict[str, str] | None = None,
) -> Iterator[LiveApi]:
    """Start gunicorn serving ``data_dir`` on a free port, wait for ``/health``, stop it on exit."""
    port = free_port()
    log_path = data_dir / f"api-{port}.log"
    api = LiveApi(
        base_url=f"http://127.0.0.1:{port}",
        host="127.0.0.1",
        port=port,
        login=login,
        password=password,
        data_dir=data_dir,
        ratings_csv=data_dir / "ratings.csv",
        movies_csv=data_dir / "movies.csv",
        log_path=log_path,
    )
    process_env = {
        **os.environ,
        "MOVIELENS_DATA": str(data_dir),
        "API_HOST": "127.0.0.1",
        "API_PORT": str(port),
        "API_USER": login,
        "API_PASSWORD": password,
        "MOVIELENS_CACHE_DIR": str(data_dir / "cache"),
        # Build the serving cache before gunicorn forks, so every worker is ready once /health says so.
        "API_DATA_LOAD": "sync",
        "API_WORKERS": os.environ.get("MOVIELENS_TEST_API_WORKERS", "2"),
        **(env or {}),
    }
    process_env.pop("PYTHONPATH", None)  # the API runs from its own venv and folder
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(API_GUNICORN), "--config", "gunicorn.conf.py", "movielens_api:create_app()"],
            cwd=API_DIR,
            env=process_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: workers are stopped with it
        )
    try:
        _wait_healthy(api, process, startup_timeout)
        yield api
    finally:
        stop_process_group(process)


def _wait_healthy(api: LiveApi, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the API exited with {process.returncode}:\n{api.log_tail()}")
        try:
            response = requests.get(f"{api.base_url}/health", timeout=2)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}"
        except requests.RequestException as err:
            last = type(err).__name__
        time.sleep(0.2)
    stop_process_group(process)
    raise RuntimeError(f"the API was not healthy after {timeout:.0f} s ({last}):\n{api.log_tail()}")


def stop_process_group(process: subprocess.Popen) -> None:
    """SIGTERM a process started with ``start_new_session=True`` and its group; SIGKILL after 15 s."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
