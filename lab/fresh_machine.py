"""The newcomer's machine of test f: the README's two commands, `make demo` then `make test` (and `make
recommend` between them), from a `git clone` of this checkout, in a container of lab/fresh-machine/Dockerfile
(python3, python3-venv, make, git, curl, CA bundle; no PostgreSQL, no uv), with no locale set and Docker's
default capabilities (no CAP_SYS_PTRACE).

CI starts the container as soon as its image exists (lab/run with LAB_KEEP_RUNNING: beside the other images'
builds and the long checks), at a low CPU weight, so that it runs in whatever CPU the rest leaves; otherwise
test d's fixture starts it, beside the Celery stack. Test f waits for it and checks what it printed.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

from lab import images

ROOT = Path(__file__).resolve().parents[1]
#: Run as the newcomer types it; each command's seconds on a line of its own. The premises come first: this
#: machine has no locale (so Python runs in UTF-8 mode, PEP 540), no uv and no PostgreSQL.
SCRIPT = r"""
python3 -c 'import sys; assert sys.flags.utf8_mode, "a locale is set"'
! command -v uv && ! command -v pg_ctl && ! command -v psql
git clone --quiet /checkout /root/movielens
cd /root/movielens
passed() { echo "fresh-machine: make $1 passed in $((SECONDS - began)) s"; }
began=$SECONDS; make demo 2>&1 | tee /tmp/demo.log; passed demo
# the user whose list the demo printed, through make recommend (the newest served day by default)
user=$(sed -n 's/^User \([0-9][0-9]*\), .*/\1/p' /tmp/demo.log | head -n 1)
began=$SECONDS; make recommend USER_ID="$user" K=5; passed recommend
began=$SECONDS; make test; passed test
"""
TIMEOUT = 3600
#: One fresh machine at a time in the lab engine, under this name: started early by CI (lab/run with
#: LAB_KEEP_RUNNING, beside the image builds and the long checks) and adopted by test f, or started by test
#: d's fixture when nothing started it.
NAME = "movielens-lab-fresh"
#: Its CPU weight among the lab's containers (Docker's default 1024): the README's commands are the longest
#: single job but have the most slack, so the stacks that tests a, b, d and l time (first starts, the Astro
#: CLI's one-minute wait) come first and the fresh machine takes what they leave idle.
CPU_SHARES = 256


def start() -> None:
    """Start the fresh machine's container (detached, kept after it exits for its exit code and log)."""
    image = images.ensure_fresh_machine()
    subprocess.run(["docker", "rm", "-f", NAME], capture_output=True, check=False)
    subprocess.run(
        ["docker", "run", "--detach", "--name", NAME, "--cpu-shares", str(CPU_SHARES),
         "--volume", f"{ROOT}:/checkout:ro", image,
         "env", "-u", "LANG", "-u", "LC_ALL", "bash", "-euo", "pipefail", "-c", SCRIPT],
        capture_output=True, text=True, check=True,
    )  # fmt: skip


class FreshMachine:
    """The run of :data:`SCRIPT` in the container :data:`NAME`: adopted if it was started earlier, else
    started now; its output goes to ``log`` when it ends."""

    def __init__(self, log: Path) -> None:
        self.log = log
        if not self._state():
            start()

    def wait(self) -> tuple[int, str, float]:
        """Exit code, output and the container's seconds from start to exit; stopped after ``TIMEOUT``."""
        left = max(1.0, TIMEOUT - self._seconds(self._state()))
        try:
            done = subprocess.run(["docker", "wait", NAME], capture_output=True, text=True, timeout=left)
            code = int(done.stdout.strip() or 1)
        except subprocess.TimeoutExpired:
            code = 124
        state = self._state()
        logs = ["docker", "logs", NAME]
        text = subprocess.run(logs, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).stdout
        self.log.write_text(text)
        self.stop()
        return code, text, self._seconds(state)

    def stop(self) -> None:
        subprocess.run(["docker", "rm", "-f", NAME], capture_output=True, check=False)

    @staticmethod
    def _state() -> dict:
        out = subprocess.run(
            ["docker", "inspect", "--format", "{{json .State}}", NAME], capture_output=True, text=True
        )
        return json.loads(out.stdout) if out.returncode == 0 else {}

    @staticmethod
    def _seconds(state: dict) -> float:
        """Seconds from the container's start to its end (or to now while it runs)."""
        ended = state.get("FinishedAt", "")
        running = state.get("Running") or ended.startswith("0001")  # Docker's zero time: not ended yet
        end = dt.datetime.now(dt.UTC) if running else _utc(ended)
        return (end - _utc(state["StartedAt"])).total_seconds()


def _utc(stamp: str) -> dt.datetime:
    """Docker's RFC 3339 UTC time (nanoseconds, ``Z``) as an aware datetime, to the microsecond."""
    return dt.datetime.fromisoformat(stamp[:26].rstrip("Z") + "+00:00")


if __name__ == "__main__":
    start()
    print(f">> fresh machine started: container {NAME} (cpu shares {CPU_SHARES}), beside the rest")
