"""The newcomer's machine of test f: the README's two commands, `make demo` then `make test`, from a
`git clone` of this checkout, in a container of lab/fresh-machine/Dockerfile (python3, python3-venv, make,
git, curl, CA bundle; no PostgreSQL, no uv), with no locale set and Docker's default capabilities (no
CAP_SYS_PTRACE).

The container runs beside the Celery stack of test d (its fixture starts it): both leave a core idle most of
their time, the fresh machine in its single pytest process, the stack while it waits on its workers and on the
zombie detection of its drill. Test f waits for it and checks what it printed.
"""

from __future__ import annotations

import subprocess
import time
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
for target in demo test; do
  began=$SECONDS
  make "$target"
  echo "fresh-machine: make $target passed in $((SECONDS - began)) s"
done
"""
TIMEOUT = 3600


class FreshMachine:
    """One run of :data:`SCRIPT` in a fresh container, started at once, its output in ``log``."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.name = f"movielens-lab-fresh-{int(time.time())}"
        image = images.ensure_fresh_machine()
        self.began = time.monotonic()
        with log.open("w") as out:
            self._proc = subprocess.Popen(
                ["docker", "run", "--rm", "--name", self.name, "--volume", f"{ROOT}:/checkout:ro", image,
                 "env", "-u", "LANG", "-u", "LC_ALL", "bash", "-euo", "pipefail", "-c", SCRIPT],
                stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip

    def wait(self) -> tuple[int, str, float]:
        """Exit code, output and seconds since the start; the container is removed after ``TIMEOUT``."""
        try:
            code = self._proc.wait(timeout=max(1.0, TIMEOUT - (time.monotonic() - self.began)))
        except subprocess.TimeoutExpired:
            self.stop()
            code = self._proc.wait()
        return code, self.log.read_text(errors="replace"), time.monotonic() - self.began

    def stop(self) -> None:
        subprocess.run(["docker", "rm", "-f", self.name], capture_output=True, check=False)
