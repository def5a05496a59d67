"""The images the lab needs: the real ones when the registry answers, stand-ins built in the private engine
otherwise (``python -m lab.images`` prepares them all and prints which is which).

Which images are needed is read from the project, so the lab follows its files: the ``FROM`` of ./Dockerfile
and ./Dockerfile.airflow3 (the Astro Runtime tags of Airflow 2 and Airflow 3) and of api/Dockerfile, the
``image:`` of every compose service that is not built, the Astro CLI's PostgreSQL image (lab/astro_cli.py)
and Redis for the Celery test. A stand-in is tagged with exactly the real name, exists only in the lab's
engine (DOCKER_HOST) and carries the label ``org.movielens.lab.standin``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import yaml

from lab import astro_cli

ROOT = Path(__file__).resolve().parents[1]
STANDINS = Path(__file__).resolve().parent / "standins"
STANDIN_LABEL = "org.movielens.lab.standin"
BASE_IMAGE = "movielens-lab/bookworm:base"
REDIS_IMAGE = "redis:7-bookworm"
PULL_TIMEOUT = float(os.environ.get("LAB_PULL_TIMEOUT", "20"))


def docker(*args: str, capture: bool = False, timeout: float | None = None) -> str:
    proc = subprocess.run(
        ["docker", *args],
        check=False,
        text=True,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.PIPE if capture else None,
        timeout=timeout,
    )
    if proc.returncode:
        raise RuntimeError(f"docker {' '.join(args)} failed ({proc.returncode}): {proc.stderr or ''}".strip())
    return proc.stdout or ""


def exists(ref: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", ref], capture_output=True).returncode == 0


def standin_note(ref: str) -> str | None:
    """The stand-in label of a local image, or None for a real (pulled) image."""
    out = docker(
        "image", "inspect", "--format", f'{{{{index .Config.Labels "{STANDIN_LABEL}"}}}}', ref, capture=True
    )
    note = out.strip()
    return None if note in ("", "<no value>") else note


def dockerfile_from(path: Path) -> str:
    """The image of the (last) FROM line of a Dockerfile."""
    froms = re.findall(r"^FROM\s+(?:--platform=\S+\s+)?(\S+)", path.read_text(), flags=re.M | re.I)
    if not froms:
        raise ValueError(f"{path}: no FROM line")
    return froms[-1]


def required() -> list[str]:
    refs = [
        dockerfile_from(ROOT / name)
        for name in ("Dockerfile", "Dockerfile.airflow3", "api/Dockerfile")
        if (ROOT / name).exists()
    ]
    for name in ("docker-compose.yml", "docker-compose.override.yml"):
        services = yaml.safe_load((ROOT / name).read_text()).get("services", {})
        refs += [s["image"] for s in services.values() if "image" in s and "build" not in s]
    refs += [astro_cli.POSTGRES_IMAGE, REDIS_IMAGE]
    return list(dict.fromkeys(refs))


class Registry:
    """Pulls while the registry answers; after the first failure every further image is a stand-in."""

    def __init__(self) -> None:
        self.reachable = os.environ.get("LAB_PULL", "1") != "0"

    def pull(self, ref: str) -> bool:
        if not self.reachable:
            return False
        try:
            docker("pull", "--quiet", ref, capture=True, timeout=PULL_TIMEOUT)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            print(f">> cannot pull {ref} ({str(exc).splitlines()[-1][:160]}): stand-ins from now on")
            self.reachable = False
            return False
        return True


def build(tag: str, context: Path, note: str, **build_args: str) -> None:
    args = [arg for key, value in build_args.items() for arg in ("--build-arg", f"{key}={value}")]
    print(f">> building stand-in {tag} ({note})", flush=True)
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}  # the CLI may lack buildx; the classic builder caches layers
    proc = subprocess.run(
        ["docker", "build", "--quiet", "--label", f"{STANDIN_LABEL}={note}", "-t", tag, *args, str(context)],
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode:
        raise RuntimeError(f"building {tag} failed:\n{proc.stdout[-4000:]}{proc.stderr[-4000:]}")


def ensure_base() -> str:
    if not exists(BASE_IMAGE):
        subprocess.run([str(STANDINS / "base"), BASE_IMAGE], check=True)
    return BASE_IMAGE


def _cpython_tar(dest: Path) -> str:
    """The interpreter running the lab (a relocatable CPython build) as a tar for /usr/local."""
    prefix = Path(sys.base_prefix)
    short = f"{sys.version_info.major}.{sys.version_info.minor}"
    stdlib = f"lib/python{short}"
    skip = re.compile(
        rf"^{re.escape(stdlib)}/(test|idlelib|tkinter|turtledemo|site-packages/.+|config-[^/]+/.*\.a)(/|$)"
        rf"|/__pycache__(/|$)|_tkinter"
    )
    with tarfile.open(dest / "cpython.tar", "w") as tar:
        for rel in (f"bin/python{short}", "lib", "include"):
            for path in sorted((prefix / rel).rglob("*")) if (prefix / rel).is_dir() else [prefix / rel]:
                name = str(path.relative_to(prefix))
                if name.startswith("lib/") and not (
                    name.startswith(stdlib) or name.startswith("lib/libpython")
                ):
                    continue
                if name.startswith("include/") and not name.startswith(f"include/python{short}"):
                    continue
                if not skip.search(name):
                    tar.add(path, arcname=name, recursive=False)
    return short


def ensure_python(ref: str) -> None:
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        context = Path(tmp)
        shutil.copy(STANDINS / "python" / "Dockerfile", context)
        short = _cpython_tar(context)
        note = f"python {sys.version.split()[0]} (host build) on bookworm"
        build(ref, context, note, PYTHON_VERSION=short, BUILD_PREFIX=sys.base_prefix)


#: What differs between the Runtime stand-ins, by the Airflow major version of the tag (build args of
#: lab/standins/astro-runtime/Dockerfile; its defaults are Runtime 12's). Runtime 3 images report Airflow
#: without a local version label, and no package of runtime3.lock builds from source.
RUNTIME_LINES = {
    "2": {"RUNTIME_LOCK": "runtime.lock"},
    "3": {
        "RUNTIME_LOCK": "runtime3.lock",
        "AIRFLOW_LOCAL_LABEL": "",
        "BUILD_PACKAGES": "",
        "RUNTIME_PACKAGES": "",
    },
}


def ensure_astro_runtime(ref: str, python_ref: str) -> None:
    tag = ref.rsplit(":", 1)[1]
    line = RUNTIME_LINES[astro_cli.airflow_major(tag)]
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        context = Path(tmp)
        for item in (STANDINS / "astro-runtime").iterdir():
            if item.suffix != ".in":
                shutil.copy2(item, context)
        package_set = line["RUNTIME_LOCK"].replace(".lock", ".in")
        build(
            ref,
            context,
            f"astro-runtime {tag}: the Runtime's package set ({package_set})",
            PYTHON_IMAGE=python_ref,
            RUNTIME_VERSION=tag,
            **line,
        )


def build_project(
    tmp: Path, tag: str, dockerfile: str = "Dockerfile", *, pull: bool = False, line: str = ""
) -> None:
    """``docker build [--pull] -t <tag> -f <dockerfile> .`` in the project as a user runs it, from a copy of
    the project in ``tmp`` (no venvs, no caches) so that ``line``, appended to requirements.txt as the CLI
    does for `astro dev start`, never touches the working tree."""
    context = tmp / "build-context"
    ignore = shutil.ignore_patterns(".git", ".venv*", ".local", "__pycache__", ".pytest_cache", ".ruff_cache")
    shutil.copytree(ROOT, context, ignore=ignore, dirs_exist_ok=True)
    if line:
        with (context / "requirements.txt").open("a") as f:
            f.write(f"\n{line}\n")
    proc = subprocess.run(
        ["docker", "build", *(["--pull"] if pull else []), "-t", tag, "-f", dockerfile, "."],
        cwd=context,
        capture_output=True,
        text=True,
        env={**os.environ, "DOCKER_BUILDKIT": "0"},
        timeout=1200,
    )
    if proc.returncode:
        raise AssertionError(f"image build failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")


FRESH_MACHINE_IMAGE = "movielens-lab/fresh-machine:bookworm"


def ensure_fresh_machine() -> str:
    """The lab's newcomer machine (lab/fresh-machine/Dockerfile) on the lab base; not a registry image."""
    if not exists(FRESH_MACHINE_IMAGE):
        context = Path(__file__).resolve().parent / "fresh-machine"
        note = "the lab's fresh machine: bookworm + python3"
        build(FRESH_MACHINE_IMAGE, context, note, BASE=ensure_base())
    return FRESH_MACHINE_IMAGE


def ensure_simple(ref: str, kind: str) -> None:
    if exists(ref):
        return
    tagged = f"movielens-lab/{kind}:standin"
    if not exists(tagged):
        build(tagged, STANDINS / kind, f"{kind}: Debian bookworm package", BASE=ensure_base())
    docker("tag", tagged, ref)


def ensure_all(refs: list[str]) -> dict[str, str | None]:
    """Make every image available; return ref -> stand-in note (None = the real image)."""
    registry = Registry()
    python_refs = [r for r in refs if r.split(":")[0] in ("python", "docker.io/library/python")]
    runtime_refs = [r for r in refs if "astro-runtime" in r]
    if runtime_refs and not python_refs:
        python_refs = ["python:3.12-slim-bookworm"]
    for ref in dict.fromkeys(python_refs + refs):
        if exists(ref) and standin_note(ref) is None:
            continue  # a real image pulled earlier
        if registry.pull(ref):
            continue
        repo = ref.rsplit(":", 1)[0].rsplit("/", 1)[-1]
        if repo == "python":
            ensure_base()
            ensure_python(ref)
        elif repo == "astro-runtime":
            ensure_astro_runtime(ref, python_refs[0])
        elif repo in ("postgres", "redis"):
            ensure_simple(ref, repo)
        else:
            raise RuntimeError(f"{ref}: cannot be pulled and the lab has no stand-in for it")
    return {ref: standin_note(ref) for ref in dict.fromkeys(refs + python_refs)}


def main() -> None:
    notes = ensure_all(required())
    print(f">> lab images (engine {os.environ.get('DOCKER_HOST', 'default')}):")
    for ref, note in notes.items():
        print(f"   {ref:55} {'STAND-IN: ' + note if note else 'real image'}")


if __name__ == "__main__":
    main()
