"""Print one user's list: the day's served list without the movies the user rated before that day.

``make recommend USER_ID=4242 [GENRE=Comedy] [DAY=2019-01-08] [K=10]`` runs it on the results that
``make demo`` wrote (``$MOVIELENS_DATA_DIR/movielens_results.db``); ``--url`` reads any results database
(``postgresql://...``, with ``--schema``). The read path and its checks are
:class:`include.movielens.reader.PopularReader`; ``DAY`` defaults to the newest served day.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd
import sqlalchemy as sa

from include.movielens import settings
from include.movielens.backtest import DEFAULT_K
from include.movielens.ranking import ALL_GENRES
from include.movielens.reader import PopularReader, UserList

RESULTS_FILE = "movielens_results.db"


def demo_results() -> Path:
    """The SQLite results file of ``make demo``: under ``MOVIELENS_DATA_DIR``, which must be local."""
    location = urlparse(settings.data_location())
    if location.scheme != "file":
        raise ValueError(
            f"MOVIELENS_DATA_DIR {settings.data_location()} is not a local folder: pass --url of the results "
            "database"
        )
    path = Path(unquote(location.path)) / RESULTS_FILE
    if not path.is_file():
        raise ValueError(f"no results at {path}: run `make demo` first (same MOVIELENS_DATA_DIR)")
    return path


def table(frame: pd.DataFrame, columns: tuple = ("rank", "movieId", "title", "n_ratings")) -> str:
    """A list of movies as text: ``columns``, then ``mean_rating`` and ``score`` rounded."""
    shown = frame.assign(
        mean_rating=frame["mean_rating"].map("{:.3f}".format), score=frame["score"].map("{:.4f}".format)
    )
    return shown[[*columns, "mean_rating", "score"]].to_string(index=False)


def describe(answer: UserList) -> str:
    """The answer as text: what it rests on, then the list with titles."""
    head = (
        f"User {answer.user_id}, {answer.genre}, list of {answer.day} (ratings before it), top {answer.k}: "
    )
    if not answer.known:
        head += "a user with no rating before that day gets the served list itself"
    else:
        head += f"the served list without the movies they rated since {answer.history_from}"
    if answer.short:
        head += f"\nonly {len(answer.movies)} unseen movies in the stored depth (MOVIELENS_TOP_N)"
    shown = answer.movies.rename(columns={"rank": "served rank"})
    shown.insert(0, "#", range(1, len(shown) + 1))
    return head + "\n" + table(shown, ("#", "served rank", "movieId", "title", "n_ratings"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--user-id", type=int, required=True)
    parser.add_argument("--genre", default=ALL_GENRES, help=f"a MovieLens genre (default {ALL_GENRES!r})")
    parser.add_argument("--day", default=None, help="the served day, YYYY-MM-DD (default: the newest)")
    parser.add_argument("--k", type=int, default=DEFAULT_K, help=f"list length (default {DEFAULT_K})")
    parser.add_argument("--url", default=None, help="SQLAlchemy URL of the results (default: make demo's)")
    parser.add_argument("--schema", default=None, help="its schema on PostgreSQL (default public)")
    args = parser.parse_args(argv)
    try:
        engine = sa.create_engine(args.url or f"sqlite:///{demo_results()}")
        try:
            reader = PopularReader(engine, args.schema or settings.results_schema())
            answer = reader.for_user(args.user_id, day=args.day, genre=args.genre, k=args.k)
        finally:
            engine.dispose()
    except (ValueError, sa.exc.SQLAlchemyError) as exc:
        print(f"recommend: {exc}", file=sys.stderr)
        return 2
    print(describe(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
