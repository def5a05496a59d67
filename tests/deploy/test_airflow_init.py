"""docker-compose.yml's airflow-init command, as Compose renders it, run by bash: with a stub `airflow` that
fails one step (the stack must not start on a failed migration or pool), and with the real Airflow CLI twice
on a throwaway metadata database (a restart of the stack passes; the API's pool exists)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.compose import PLAIN_FILES, load_config

STUB = """#!/bin/sh
echo "$*" >> "$STUB_LOG"
case "$*" in
  "$STUB_FAIL"*) echo "stub: $1 $2 failed" >&2; exit 3 ;;
esac
"""


@pytest.fixture(scope="module")
def init_command() -> list[str]:
    command = load_config(PLAIN_FILES)["services"]["airflow-init"]["command"]
    assert command[:2] == ["bash", "-c"]
    return command


def _run(command: list[str], path: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, env={"PATH": path, "HOME": str(tmp_path), **env}, capture_output=True, text=True, timeout=600
    )


def _stub_bin(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    airflow = bin_dir / "airflow"
    airflow.write_text(STUB)
    airflow.chmod(airflow.stat().st_mode | stat.S_IEXEC)
    return bin_dir


@pytest.mark.parametrize(
    ("fail", "expected_calls"),
    [
        ("none", ["db migrate", "pools set", "users create"]),
        ("db migrate", ["db migrate"]),
        ("pools set", ["db migrate", "pools set"]),
        ("users create", ["db migrate", "pools set", "users create"]),
    ],
)
def test_a_failing_step_fails_airflow_init(
    init_command: list[str], tmp_path: Path, fail: str, expected_calls: list[str]
) -> None:
    log = tmp_path / "calls"
    done = _run(
        init_command,
        f"{_stub_bin(tmp_path)}:/usr/bin:/bin",
        {"STUB_LOG": str(log), "STUB_FAIL": fail},
        tmp_path,
    )
    calls = [" ".join(line.split()[:2]) for line in log.read_text().splitlines()]
    assert calls == expected_calls
    if fail == "none":
        assert done.returncode == 0, done.stderr
    else:
        assert done.returncode == 3, done.stderr
        assert f"stub: {fail} failed" in done.stderr


@pytest.mark.slow
def test_real_airflow_init_succeeds_and_is_idempotent(init_command: list[str], tmp_path: Path) -> None:
    env = {
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path / "no-dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(tmp_path / "no-plugins"),
    }
    path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    first = _run(init_command, path, env, tmp_path)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-3000:]
    assert 'User "admin" created with role "Admin"' in first.stdout + first.stderr
    second = _run(init_command, path, env, tmp_path)
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-3000:]
    assert "admin already exist" in second.stdout + second.stderr
    pools = _run(["airflow", "pools", "get", "movielens_api", "--output", "json"], path, env, tmp_path)
    assert pools.returncode == 0, pools.stderr[-3000:]
    [pool] = json.loads(pools.stdout)
    assert (pool["pool"], int(pool["slots"])) == ("movielens_api", 4)
