"""A MovieLens source: a folder or a .zip holding ratings.csv and movies.csv (possibly in a sub-folder)."""

from __future__ import annotations

import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

MEMBERS = ("ratings.csv", "movies.csv")


class SourceError(ValueError):
    """The path is not a usable MovieLens folder or zip."""


@dataclass(frozen=True)
class Source:
    """A resolved MovieLens dataset location."""

    path: Path
    members: dict[str, str]  # "ratings.csv" -> path inside the zip (zip sources only)

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
        files = [self.path] if self.is_zip else [self.path / m for m in MEMBERS]
        out: dict[str, int | str] = {"path": str(self.path)}
        for f in files:
            st = f.stat()
            out[f"{f.name}:size"] = st.st_size
            out[f"{f.name}:mtime_ns"] = st.st_mtime_ns
        return out

    @contextmanager
    def open(self, member: str) -> Iterator[IO[bytes]]:
        """Open ratings.csv or movies.csv as a binary stream."""
        if not self.is_zip:
            with (self.path / member).open("rb") as fh:
                yield fh
            return
        with zipfile.ZipFile(self.path) as zf, zf.open(self.members[member]) as fh:
            yield fh

    def size(self, member: str) -> int:
        """Uncompressed size of a member, in bytes (for progress)."""
        if not self.is_zip:
            return (self.path / member).stat().st_size
        with zipfile.ZipFile(self.path) as zf:
            return zf.getinfo(self.members[member]).file_size


def resolve(path: str | Path) -> Source:
    """Check that path is a MovieLens folder or zip and locate its two CSVs."""
    p = Path(path).expanduser().resolve()
    if p.is_dir():
        missing = [m for m in MEMBERS if not (p / m).is_file()]
        if missing:
            raise SourceError(f"{p} has no {', '.join(missing)}")
        return Source(p, {m: m for m in MEMBERS})
    if p.is_file():
        try:
            with zipfile.ZipFile(p) as zf:
                names = zf.namelist()
        except zipfile.BadZipFile as exc:
            raise SourceError(f"{p} is not a zip file") from exc
        members: dict[str, str] = {}
        for m in MEMBERS:
            hits = sorted((n for n in names if n == m or n.endswith("/" + m)), key=len)
            if not hits:
                raise SourceError(f"{p} holds no {m}")
            members[m] = hits[0]
        return Source(p, members)
    raise SourceError(f"{p} does not exist")
