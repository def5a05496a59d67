"""Dataset sources behind one CLI (``python -m movielens_api.dataset``): synth, convert, download."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from movielens_api.dataset.source import Source, SourceError, resolve

log = logging.getLogger(__name__)

TWIN_NAME = "ml-25m-synth"
ML25M_URL = "https://files.grouplens.org/datasets/movielens/ml-25m.zip"

__all__ = [
    "ML25M_URL",
    "TWIN_NAME",
    "DownloadError",
    "Source",
    "SourceError",
    "resolve",
    "source_for",
]


class DownloadError(RuntimeError):
    """The download failed or did not match its checksum; nothing was left at the destination."""


def source_for(data: str | None, cache_root: Path) -> Source:
    """The source named by MOVIELENS_DATA or, when that is unset/empty, the full-size synthetic ml-25m twin
    under cache_root, generated once (under a lock) and reused."""
    from movielens_api import cache  # here: the project's tools read releases through this package too
    from movielens_api.dataset.synth import SynthSpec, synthesize

    if data:
        return resolve(data)
    folder = cache_root / TWIN_NAME
    with contextlib.suppress(SourceError):
        return resolve(folder)
    with cache.build_lock(folder):
        with contextlib.suppress(SourceError):
            return resolve(folder)  # another process made it while this one waited for the lock
        log.info("MOVIELENS_DATA unset: synthesizing the ml-25m twin into %s (one-time)", folder)
        synthesize(folder, SynthSpec())
        return resolve(folder)
