"""One compose project in the lab's engine: up, wait for health, exec, SQL, logs, and a teardown that leaves
nothing behind (``down -v``, then anything still labelled with the project is removed by force)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_LABEL = "com.docker.compose.project"


def docker(*args: str, check: bool = True, timeout: float | None = 600) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode:
        raise RuntimeError(
            f"docker {' '.join(args)} -> {proc.returncode}\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
        )
    return proc


def leftovers(project: str) -> dict[str, list[str]]:
    """Containers, networks and volumes that still carry the compose project's label."""
    flt = f"label={PROJECT_LABEL}={project}"
    return {
        kind: docker(
            *cmd, "--filter", flt, "--format", "{{.Names}}" if kind == "containers" else "{{.Name}}"
        ).stdout.split()
        for kind, cmd in (
            ("containers", ("ps", "-a")),
            ("networks", ("network", "ls")),
            ("volumes", ("volume", "ls")),
        )
    }


def purge(project: str) -> None:
    """Remove by force whatever of the project is left (used after a failed or interrupted test)."""
    left = leftovers(project)
    if left["containers"]:
        docker("rm", "-f", "-v", *left["containers"], check=False)
    if left["volumes"]:
        docker("volume", "rm", "-f", *left["volumes"], check=False)
    if left["networks"]:
        docker("network", "rm", *left["networks"], check=False)


@dataclass
class Stack:
    """``docker compose -p <name> [--env-file F] -f ... <args>`` run in ``cwd`` with ``env``;
    ``airflow_major`` says which metadata schema lab/airflow_runs.py reads."""

    name: str
    cwd: Path
    files: Sequence[Path] = ()
    env: dict[str, str] = field(default_factory=dict)
    env_file: Path | None = None
    project_dir: Path | None = None
    airflow_major: str = "2"
    _ids: dict[str, str] = field(default_factory=dict, repr=False)

    def compose(
        self, *args: str, check: bool = True, timeout: float = 900
    ) -> subprocess.CompletedProcess[str]:
        cmd = ["docker", "compose", "-p", self.name]
        if self.project_dir is not None:
            cmd += ["--project-directory", str(self.project_dir)]
        if self.env_file is not None:
            cmd += ["--env-file", str(self.env_file)]
        for f in self.files:
            cmd += ["-f", str(f)]
        proc = subprocess.run(
            [*cmd, *args], cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and proc.returncode:
            raise RuntimeError(
                f"{' '.join(cmd[2:])} {' '.join(args)} -> {proc.returncode}\n"
                f"{proc.stdout[-4000:]}{proc.stderr[-4000:]}"
            )
        return proc

    def container(self, service: str) -> str:
        """The id of the service's (first) container; looked up once, containers are not recreated here."""
        if service not in self._ids:
            ids = self.compose("ps", "-a", "-q", service).stdout.split()
            if not ids:
                raise RuntimeError(f"{self.name}: no container for service {service}")
            self._ids[service] = ids[0]
        return self._ids[service]

    def state(self, service: str) -> dict:
        return json.loads(docker("inspect", "--format", "{{json .State}}", self.container(service)).stdout)

    def wait(self, services: Sequence[str], timeout: float, condition: str = "healthy") -> None:
        """Wait until each service is ``healthy``, ``running`` or has ``exited`` 0 (``condition``)."""
        deadline = time.monotonic() + timeout
        pending = list(services)
        while pending:
            for service in list(pending):
                state = self.state(service)
                health = (state.get("Health") or {}).get("Status")
                if condition == "exited" and state["Status"] == "exited":
                    if state["ExitCode"]:
                        raise AssertionError(f"{service} exited {state['ExitCode']}:\n{self.logs(service)}")
                    pending.remove(service)
                elif condition == "running" and state["Status"] == "running" or health == "healthy":
                    pending.remove(service)
            if pending and time.monotonic() > deadline:
                raise AssertionError(
                    f"not {condition} after {timeout:.0f}s: {pending}\n"
                    + "\n".join(self.logs(s, tail=40) for s in pending)
                )
            if pending:
                time.sleep(2)

    def exec(self, service: str, *cmd: str, timeout: float = 300) -> str:
        """``docker exec`` in the service's container (what ``compose exec -T`` does, without starting a
        Compose process for every poll)."""
        return docker("exec", self.container(service), *cmd, timeout=timeout).stdout

    def sql(self, query: str, database: str = "postgres", service: str = "postgres") -> list[list[str]]:
        """Rows of a query run with psql in the PostgreSQL container (unaligned, ``|``-separated)."""
        out = self.exec(service, "psql", "-U", "postgres", "-d", database, "-At", "-F", "|", "-c", query)
        return [line.split("|") for line in out.splitlines() if line]

    def logs(self, service: str, tail: int = 60) -> str:
        proc = self.compose("logs", "--no-color", "--tail", str(tail), service, check=False)
        return f"--- {service} (last {tail} lines) ---\n{proc.stdout}{proc.stderr}"

    def down(self) -> subprocess.CompletedProcess[str]:
        """``docker compose down -v`` as a user runs it; whatever it leaves is reported, then purged."""
        self._ids.clear()
        return self.compose("down", "-v", "--remove-orphans", "--timeout", "10", check=False)


@contextmanager
def owned(stack: Stack) -> Iterator[Stack]:
    """A test's hold on its stack: whatever an earlier run left under the project name is purged first, and
    ``down -v`` then a purge end it, also after a failure or an interrupt."""
    purge(stack.name)
    try:
        yield stack
    finally:
        stack.down()
        purge(stack.name)


def assert_down_leaves_nothing(stack: Stack) -> None:
    """``docker compose down -v`` succeeds and no container, network or volume of the project is left."""
    proc = stack.down()
    assert proc.returncode == 0, proc.stderr
    assert leftovers(stack.name) == {"containers": [], "networks": [], "volumes": []}
