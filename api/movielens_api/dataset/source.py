"""A MovieLens source: a folder or a .zip holding a release in any of its formats (possibly in a sub-folder).

The formats, and how their files are read, are :mod:`movielens_api.dataset.formats`; a source knows which one
it holds (:attr:`Source.layout`) and opens its ``"ratings"`` and ``"movies"`` files.
"""

from __future__ import annotations

import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from movielens_api.dataset.formats import EXPECTED, LAYOUTS, Layout

if TYPE_CHECKING:
    from collections.abc import Iterator

KINDS = ("ratings", "movies")


class SourceError(ValueError):
    """The path is not a usable MovieLens folder or zip."""


@dataclass(frozen=True)
class Source:
    """A resolved MovieLens dataset location."""

    path: Path
    layout: Layout
    members: dict[str, str]  # "ratings" / "movies" -> file name in the folder, or path inside the zip

    @property
    def is_zip(self) -> bool:
        return self.path.is_file()

    @property
    def name(self) -> str:
        """Dataset name, e.g. ``ml-25m`` for ml-25m/ or ml-25m.zip."""
        if self.is_zip:
            inner = {m.rsplit("/", 2)[-2] for m in self.members.values() if "/" in m}
            return inner.pop() if len(inner) == 1 else self.path.stem
        return self.path.name

    def fingerprint(self) -> dict[str, int | str]:
        """Identity of the source files: cheap to compute, changes when the data changes."""
        files = [self.path] if self.is_zip else [self.path / self.members[kind] for kind in KINDS]
        out: dict[str, int | str] = {"path": str(self.path)}
        for f in files:
            st = f.stat()
            out |= {f"{f.name}:size": st.st_size, f"{f.name}:mtime_ns": st.st_mtime_ns}
        return out

    @contextmanager
    def open(self, kind: str) -> Iterator[IO[bytes]]:
        """Open the ``"ratings"`` or ``"movies"`` file as a binary stream."""
        if not self.is_zip:
            with (self.path / self.members[kind]).open("rb") as fh:
                yield fh
            return
        with zipfile.ZipFile(self.path) as zf, zf.open(self.members[kind]) as fh:
            yield fh

    def size(self, kind: str) -> int:
        """Uncompressed size of the ``"ratings"`` or ``"movies"`` file, in bytes (for progress)."""
        if not self.is_zip:
            return (self.path / self.members[kind]).stat().st_size
        with zipfile.ZipFile(self.path) as zf:
            return zf.getinfo(self.members[kind]).file_size


def _members(names: list[str], layout: Layout) -> dict[str, str] | None:
    """Where names (a folder's files, a zip's members) hold layout's two files: the shallowest of each."""
    found = {}
    for kind in KINDS:
        member = getattr(layout, kind)
        hits = sorted((n for n in names if n == member or n.endswith("/" + member)), key=len)
        if not hits:
            return None
        found[kind] = hits[0]
    return found


def resolve(path: str | Path) -> Source:
    """Check that path is a MovieLens folder or zip and locate its ratings and movies files."""
    p = Path(path).expanduser().resolve()
    if p.is_dir():
        names, wrong = [f.name for f in p.iterdir() if f.is_file()], "is not a MovieLens release folder"
    elif p.is_file():
        try:
            with zipfile.ZipFile(p) as zf:
                names, wrong = zf.namelist(), "holds no MovieLens release"
        except zipfile.BadZipFile as exc:
            raise SourceError(f"{p} is not a zip file") from exc
    else:
        raise SourceError(f"{p} does not exist")
    for layout in LAYOUTS:
        if (members := _members(names, layout)) is not None:
            return Source(p, layout, members)
    raise SourceError(f"{p} {wrong}: expected {EXPECTED}")
