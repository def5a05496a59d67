"""Run code under another local time zone (``TZ`` + ``time.tzset``): results must not depend on it."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator


@contextlib.contextmanager
def local_time_zone(name: str) -> Iterator[None]:
    """Make ``name`` (e.g. ``"Asia/Tokyo"``) the process's local time zone inside the block."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = name
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()
