"""The benchmarks' API server: gunicorn on a free loopback port, one request at a time, workers' memory."""

from __future__ import annotations

import base64
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

API_DIR = Path(__file__).resolve().parents[1]
AUTH = {"Authorization": "Basic " + base64.b64encode(b"airflow:airflow").decode()}
Query = dict[str, str | int]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port: int, path: str, params: Query | None = None) -> tuple[int, bytes]:
    """One request on a fresh connection (gunicorn's sync workers close after each response)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("GET", path + ("?" + urlencode(params) if params else ""), headers=AUTH)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@contextmanager
def gunicorn(
    app: str, env: dict[str, str], workers: int, timeout: float = 900
) -> Iterator[tuple[int, float, int]]:
    """Start gunicorn; yield (port, seconds until /health == 200, master pid)."""
    port = _free_port()
    full_env = {**os.environ, **env, "API_PORT": str(port), "API_WORKERS": str(workers), "API_TIMEOUT": "600"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "--config", "gunicorn.conf.py", app],
        cwd=API_DIR,
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        while True:
            try:
                if request(port, "/health")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.perf_counter() - t0 > timeout:
                raise RuntimeError(f"{app} did not start")
            time.sleep(0.02)
        yield port, time.perf_counter() - t0, proc.pid
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)


def memory(master: int) -> list[dict[str, int]]:
    """RSS / PSS (MB) of each worker of a gunicorn master."""
    out = []
    for child in Path(f"/proc/{master}/task/{master}/children").read_text().split():
        status = dict(
            line.split(":", 1)
            for line in Path(f"/proc/{child}/status").read_text().splitlines()
            if ":" in line
        )
        rollup = Path(f"/proc/{child}/smaps_rollup").read_text().splitlines()
        pss = next(int(line.split()[1]) for line in rollup if line.startswith("Pss:"))

        def mb(key: str, status: dict[str, str] = status) -> int:
            return int(status[key].split()[0]) // 1024

        out.append(
            {
                "pid": int(child),
                "rss": mb("VmRSS"),
                "anon": mb("RssAnon"),
                "file": mb("RssFile"),
                "pss": pss // 1024,
            }
        )
    return out
