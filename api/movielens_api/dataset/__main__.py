"""CLI: ``python -m movielens_api.dataset {synth,convert,download,prepare} ...``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import date
from pathlib import Path

from movielens_api import cache
from movielens_api.dataset import ML25M_URL, DownloadError, SourceError, resolve, source_for
from movielens_api.dataset.convert import ensure_cache
from movielens_api.dataset.synth import SynthSpec, pack_zip, synthesize


def _parser() -> argparse.ArgumentParser:
    d = SynthSpec()
    p = argparse.ArgumentParser(prog="python -m movielens_api.dataset", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("synth", help="write a synthetic MovieLens twin (ratings.csv, movies.csv)")
    s.add_argument("--out", type=Path, required=True, help="output folder")
    for name in ("rows", "users", "movies"):
        s.add_argument(f"--{name}", type=int, default=getattr(d, name))
    s.add_argument("--start-date", type=date.fromisoformat, default=d.start, help="first day (inclusive)")
    s.add_argument("--end-date", type=date.fromisoformat, default=d.end, help="last day (exclusive)")
    s.add_argument("--seed", type=int, default=d.seed)
    s.add_argument("--zip", action="store_true", help="also pack OUT/<name>.zip in GroupLens layout")
    c = sub.add_parser("convert", help="build the serving cache of a MovieLens folder or zip")
    c.add_argument("source", help="MovieLens folder or .zip")
    c.add_argument("--force", action="store_true", help="rebuild even if a valid cache exists")
    g = sub.add_parser("download", help="download ml-25m from GroupLens and verify its MD5")
    g.add_argument("--dest", type=Path, required=True)
    g.add_argument("--url", default=ML25M_URL)
    g.add_argument("--md5", default=None, help="expected MD5 (default: GroupLens's published one)")
    pr = sub.add_parser("prepare", help="make MOVIELENS_DATA (or the synthetic twin) ready to serve")
    pr.add_argument("source", nargs="?", default=os.environ.get("MOVIELENS_DATA") or None)
    pr.add_argument("--status-file", type=Path, help="write 'ok' or 'error: ...' here when done")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    cache_root = cache.default_cache_root()
    status = "ok"
    # requests (download) is imported only by the subcommand that needs it.
    try:
        if args.command == "synth":
            spec = SynthSpec(args.rows, args.users, args.movies, args.start_date, args.end_date, args.seed)
            synthesize(args.out, spec)
            print(pack_zip(args.out) if args.zip else args.out)
        elif args.command == "download":
            from movielens_api.dataset.download import download

            print(download(args.dest, args.url, args.md5))
        elif args.command == "convert":
            print(ensure_cache(resolve(args.source), cache_root, force=args.force))
        else:
            print(ensure_cache(source_for(args.source, cache_root), cache_root))
    except Exception as exc:
        if not isinstance(exc, SourceError | DownloadError | ValueError | OSError):
            logging.getLogger(__name__).exception("unexpected failure")
        print(f"error: {exc}", file=sys.stderr)
        status = f"error: {exc}"
    if getattr(args, "status_file", None):
        args.status_file.write_text(status + "\n")
    return 0 if status == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
