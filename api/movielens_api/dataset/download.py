"""Download ml-25m from GroupLens, verifying its published MD5 before the file is used (atomic)."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from pathlib import Path

import requests

from movielens_api.dataset import ML25M_URL, DownloadError

log = logging.getLogger(__name__)

# Published at ML25M_URL + ".md5"; used if that file cannot be fetched.
ML25M_MD5 = "6b51fb2759a8657d3bfcbfc42b592ada"


def published_md5(url: str, timeout: float = 30.0) -> str:
    """The MD5 GroupLens publishes next to the file (``<url>.md5``), or the known one for ml-25m."""
    try:
        resp = requests.get(url + ".md5", timeout=timeout)
        if resp.ok and (m := re.search(r"\b[0-9a-fA-F]{32}\b", resp.text)):
            return m.group(0).lower()
    except requests.RequestException as exc:
        log.warning("could not fetch %s.md5: %s", url, exc)
    if url == ML25M_URL:
        return ML25M_MD5
    raise DownloadError(f"no MD5 known for {url}; pass --md5")


def download(dest: Path, url: str = ML25M_URL, md5: str | None = None, timeout: float = 60.0) -> Path:
    """Fetch url into dest/<name>, refusing it (and leaving nothing behind) unless its MD5 matches."""
    expected = (md5 or published_md5(url, timeout)).lower()
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / (url.rstrip("/").rsplit("/", 1)[-1] or "download.zip")
    if target.is_file() and _md5_of(target) == expected:
        log.info("%s already present and verified", target)
        return target
    part = dest / f".{target.name}.{os.getpid()}.part"
    t0 = time.perf_counter()
    try:
        with requests.get(url, stream=True, timeout=timeout) as resp, part.open("wb") as fh:
            resp.raise_for_status()
            for chunk in resp.iter_content(chunk_size=1 << 20):
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        if (actual := _md5_of(part)) != expected:
            raise DownloadError(f"MD5 mismatch for {url}: got {actual}, expected {expected}; file discarded")
        size = part.stat().st_size
        os.replace(part, target)
    except requests.RequestException as exc:
        raise DownloadError(f"download of {url} failed: {exc}") from exc
    finally:
        part.unlink(missing_ok=True)
    log.info("downloaded %s (%s bytes, %.1fs), MD5 verified", target, f"{size:,}", time.perf_counter() - t0)
    return target


def _md5_of(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "md5").hexdigest()
