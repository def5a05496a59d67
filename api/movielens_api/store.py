"""The dataset an app serves: opened from a valid cache, or prepared by a background builder process.

With gunicorn's preload the app factory runs once in the master. If no valid cache exists yet, it starts
``python -m movielens_api.dataset prepare`` as a separate process (so the master stays single-threaded
and the builder's memory is returned when it exits); every worker answers 503 until the cache appears,
then memory-maps it. All workers map the same files, so they share one copy in the page cache.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from movielens_api import cache
from movielens_api.cache import ServingData
from movielens_api.dataset import TWIN_NAME, SourceError, resolve, source_for
from movielens_api.dataset.convert import ensure_cache

log = logging.getLogger(__name__)


class DataStore:
    """Holds the ServingData once ready; reports loading/error state until then."""

    # While loading, each request re-checks for the finished cache (a few stat calls and a small JSON read),
    # so no worker keeps answering 503 after another one has answered 200.
    poll_interval = 0.0

    def __init__(self, data: str | None, cache_root: Path, verify_checksums: bool = True) -> None:
        self.data = data or None
        self.cache_root = cache_root
        self.verify_checksums = verify_checksums
        self.dataset = Path(data).name if data else TWIN_NAME
        self.error: str | None = None  # the builder's "error: ..." line, once it failed
        self._ready: ServingData | None = None
        self._status_file: Path | None = None
        self._builder: subprocess.Popen[bytes] | None = None
        self._next_poll = 0.0
        self._lock = threading.Lock()
        self._reported: set[str] = set()
        if self.data:
            resolve(self.data)  # fail fast on a wrong MOVIELENS_DATA

    def _try_open(self) -> bool:
        try:
            source = resolve(self.data or self.cache_root / TWIN_NAME)
        except SourceError:
            return False  # the synthetic twin is not generated yet
        found = cache.find_valid(source, self.cache_root, self.verify_checksums, self._report_once)
        if found is not None:
            self._ready = found
            log.info("serving %s: %s ratings from %s", found.name, f"{found.rows:,}", found.cache_dir)
        return found is not None

    def _report_once(self, message: str) -> None:
        if message not in self._reported:
            self._reported.add(message)
            log.warning("%s", message)

    def load(self, background: bool) -> None:
        """Open the cache if valid; otherwise build it (and the synthetic twin if needed): in this process, or
        in a builder process started in the background (this returns at once)."""
        if self._try_open():
            return
        if not background:
            ensure_cache(source_for(self.data, self.cache_root), self.cache_root)
            if not self._try_open():
                raise RuntimeError("the freshly built cache does not validate")
            return
        fd, status = tempfile.mkstemp(prefix="movielens-api-prepare-", suffix=".status")
        os.close(fd)
        self._status_file = Path(status)
        cmd = [sys.executable, "-m", "movielens_api.dataset", "prepare", "--status-file", status]
        if self.data:
            cmd.append(self.data)
        env = {**os.environ, "MOVIELENS_CACHE_DIR": str(self.cache_root)}
        pkg_parent = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_parent, env.get("PYTHONPATH")) if p)
        log.info("no valid serving cache for %s yet: building it in the background", self.dataset)
        self._builder = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL)

    def get(self) -> ServingData | None:
        """The data if ready (re-checking the builder's progress at most every poll_interval)."""
        if self._ready is not None:
            return self._ready
        now = time.monotonic()
        if now < self._next_poll or self.error:
            return None
        with self._lock:
            self._next_poll = now + self.poll_interval
            if self._ready is None and not self._try_open() and self._status_file is not None:
                with contextlib.suppress(OSError):
                    if (text := self._status_file.read_text().strip()).startswith("error"):
                        self.error = text
        return self._ready
