"""f. The README's two commands on a fresh machine: `make demo`, then `make test`, from a `git clone` of this
checkout, in a container of lab/fresh-machine/Dockerfile (python3, python3-venv, make, git, curl, CA bundle;
no PostgreSQL, no uv), with no locale set and Docker's default capabilities (no CAP_SYS_PTRACE).

What the clone holds is what is committed: uncommitted changes of the checkout are not part of it.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from lab import images
from lab.conftest import REPORT

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


@pytest.mark.timeout(TIMEOUT + 120)
def test_f_readme_commands_on_a_fresh_machine(tmp_path: Path) -> None:
    image = images.ensure_fresh_machine()
    name = f"movielens-lab-fresh-{int(time.time())}"
    log = tmp_path / "fresh-machine.log"
    began = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.run(
            ["docker", "run", "--rm", "--name", name, "--volume", f"{ROOT}:/checkout:ro", image,
             "env", "-u", "LANG", "-u", "LC_ALL", "bash", "-euo", "pipefail", "-c", SCRIPT],
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=TIMEOUT,
            check=False,
        )  # fmt: skip
    text = log.read_text(errors="replace")
    timings = re.findall(r"^fresh-machine: make (\w+) passed in (\d+) s$", text, flags=re.M)
    REPORT.append(
        f"fresh machine: {', '.join(f'make {t} {s} s' for t, s in timings) or 'no command passed'}"
        f" (container {time.monotonic() - began:.0f} s, exit {proc.returncode})"
    )
    assert proc.returncode == 0, text[-8000:]
    assert [t for t, _ in timings] == ["demo", "test"], text[-4000:]
    # the demo printed its tables and charts; the suites ran tests
    assert "Chart: /root/movielens/include/data/rankings/04_sensor/" in text, text[-4000:]
    suites = re.findall(r"^=+ (\d+) passed", text, flags=re.M)
    assert len(suites) == 3, text[-4000:]  # the API, Airflow 2.10 and Airflow 3 suites
