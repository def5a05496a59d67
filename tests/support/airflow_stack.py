"""A real Airflow for tests: its own AIRFLOW_HOME and SQLite metadata, and the ``airflow`` CLI components
(scheduler, triggerer, and on Airflow 3 the API server and DAG processor) as separate processes.

Used by the deferrable-sensor tests, which must see the trigger run inside a real ``airflow triggerer`` and
the task resumed by a real scheduler. The processes run in their own process groups and are stopped, by pid,
when the context exits; their logs stay in ``<home>/logs/<component>.log`` for failure messages.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.live_api import free_port, stop_process_group

REPO_ROOT = Path(__file__).resolve().parents[2]


def airflow_major() -> int:
    from airflow import __version__

    return int(__version__.split(".")[0])


@dataclass
class AirflowStack:
    home: Path
    env: dict[str, str]
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def db_path(self) -> Path:
        return self.home / "airflow.db"

    def cli(self, *args: str, timeout: float = 180) -> str:
        """Run ``airflow <args>`` in the stack's environment; return stdout (raise with the output)."""
        done = subprocess.run(
            [str(Path(sys.executable).parent / "airflow"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"airflow {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
            )
        return done.stdout

    def query(self, sql: str, *params: object) -> list[tuple]:
        """Read the metadata database (retrying while a writer holds the lock)."""
        for _ in range(50):
            try:
                with contextlib.closing(sqlite3.connect(self.db_path, timeout=5)) as db:
                    return db.execute(sql, params).fetchall()
            except sqlite3.OperationalError as err:
                if "locked" not in str(err):
                    raise
                time.sleep(0.1)
        raise RuntimeError(f"metadata database stayed locked for: {sql}")

    def wait_for(self, what: str, check, timeout: float, interval: float = 0.2):
        """Poll ``check()`` until it returns something truthy; fail with the components' log tails."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = check()
            if result:
                return result
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"airflow {name} exited with {process.returncode}\n{self.logs()}")
            time.sleep(interval)
        raise TimeoutError(f"{what}: not within {timeout:.0f} s\n{self.logs()}")

    def logs(self, lines: int = 40) -> str:
        tails = []
        for name in self.processes:
            path = self.home / "logs" / f"{name}.log"
            text = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else []
            tails.append(f"--- {name} ---\n" + "\n".join(text))
        return "\n".join(tails)


@contextlib.contextmanager
def airflow_stack(home: Path, dags_folder: Path, extra_env: Mapping[str, str]) -> Iterator[AirflowStack]:
    """Migrate a fresh metadata DB in ``home`` and run the components until the context exits."""
    (home / "logs").mkdir(parents=True, exist_ok=True)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "2",  # Airflow 2; [dag_processor] refresh_interval on 3
        "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "2",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "plugins")]),
        # the executor starts `airflow tasks run` by name: this interpreter's environment first
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        **extra_env,
    }
    # Logs are read from files here: no log-serving web servers (and no ports taken).
    components = {"scheduler": ["--skip-serve-logs"], "triggerer": ["--skip-serve-logs"]}
    if airflow_major() >= 3:
        port = free_port()
        env.update(
            {
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
                "AIRFLOW__API__PORT": str(port),
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API_AUTH__JWT_SECRET": "movielens-tests-only",
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
            }
        )
        components.update({"api-server": [], "dag-processor": []})
    else:
        env["AIRFLOW__CORE__EXECUTOR"] = "SequentialExecutor"
    stack = AirflowStack(home, env)
    stack.cli("db", "migrate", timeout=600)
    try:
        for name, options in components.items():
            with open(home / "logs" / f"{name}.log", "wb") as log:
                stack.processes[name] = subprocess.Popen(
                    [str(Path(sys.executable).parent / "airflow"), name, *options],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        yield stack
    finally:
        for process in stack.processes.values():
            stop_process_group(process)
