"""The per-user read path: what a recommender shows one user, exactly as the backtest scores it.

The day's served list (``popular_movies``) without the movies the user rated before that day, cut at K: the
backtest's list (:mod:`include.movielens.backtest`) over the same ``ratings``, answered only when those hold
every day from ``MOVIELENS_HISTORY_START`` on (docs/evaluation.md, "One user's list"). Two forms, the same
query: :data:`USER_LIST_SQL` and :class:`PopularReader`, over any SQLAlchemy engine of the results database
or an Airflow connection. Bad input raises ``ValueError`` naming the value.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from airflow_movielens.dates import DAY_SECONDS, as_date, as_midnight, day_epoch, epoch_day
from airflow_movielens.ratings_table import quoted_name
from include.movielens import settings
from include.movielens.backtest import DEFAULT_K
from include.movielens.database import SERVED_TABLE, ResultsDb
from include.movielens.ranking import ALL_GENRES
from include.movielens.windows import missing_ranges

#: The columns of a user's list, best first.
LIST_COLUMNS = ["rank", "movieId", "title", "genres", "n_ratings", "mean_rating", "score"]

_TEMPLATE = """\
SELECT p."rank", p."movieId", p.title, p.genres, p.n_ratings, p.mean_rating, p.score
FROM {served} AS p
WHERE p.window_end = :day AND p.genre = :genre
  AND NOT EXISTS (
    SELECT 1 FROM {ratings} AS r
    WHERE r."userId" = :user_id AND r."movieId" = p."movieId" AND r."timestamp" < :before
  )
ORDER BY p."rank"
LIMIT :k"""


def user_list_sql(schema: str | None = None) -> str:
    """The per-user query over the result tables of ``schema`` (``None``: unqualified names).

    Parameters: ``:day`` (the served day, a date), ``:genre``, ``:user_id``, ``:before`` (the day's midnight
    UTC in epoch seconds: ``ratings.timestamp``'s unit) and ``:k``.
    """
    served, ratings = SERVED_TABLE, settings.RATINGS_TABLE
    if schema is not None:
        served, ratings = quoted_name(served, schema), quoted_name(ratings, schema)
    return _TEMPLATE.format(served=served, ratings=ratings)


#: The documented query (tables on the search path: PostgreSQL's ``public`` schema, or SQLite).
USER_LIST_SQL = user_list_sql()


@dataclass(frozen=True)
class UserList:
    """One answer of the read path."""

    user_id: int
    day: dt.date
    genre: str
    k: int
    known: bool  # the user rated a movie before the day; False: the served list itself (the fallback)
    history_from: dt.date  # the first day of the ratings the exclusion rests on
    movies: pd.DataFrame  # LIST_COLUMNS, best first

    @property
    def short(self) -> bool:
        """Fewer than K movies: the stored depth holds fewer unseen ones (``MOVIELENS_TOP_N``)."""
        return len(self.movies) < self.k


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return value


class PopularReader:
    """The served lists of a results database, per user.

    :param engine: the results database (``sqlite:///...`` or ``postgresql://...``).
    :param schema: the schema of its tables on PostgreSQL (``MOVIELENS_RESULTS_SCHEMA``); ``None`` on SQLite.
    :param history_start: the first day of the users' history (default ``MOVIELENS_HISTORY_START``).
    """

    def __init__(
        self, engine: sa.engine.Engine, schema: str | None = None, history_start: object = None
    ) -> None:
        self.db = ResultsDb(engine, schema)
        self.engine, self.schema = engine, self.db.schema
        self.history_start = settings.history_start() if history_start is None else as_date(history_start)
        self._query = sa.text(user_list_sql(self.schema)).bindparams(sa.bindparam("day", type_=sa.Date))

    @classmethod
    def from_connection(cls, conn_id: str = settings.RESULTS_CONN_ID, **kwargs) -> PopularReader:
        """The reader of an Airflow connection (what the DAGs write through)."""
        db = ResultsDb.connect(conn_id)
        return cls(db.engine, db.schema, **kwargs)

    def served_days(self) -> tuple[dt.date, dt.date] | None:
        """The first and the newest day with a served list (``None``: nothing served yet)."""
        with self.engine.connect() as conn:
            return self._served_days(conn, self.db.tables(conn))

    def _served_days(self, conn: sa.engine.Connection, tables: set[str]) -> tuple[dt.date, dt.date] | None:
        if SERVED_TABLE not in tables:
            return None
        end = self.db.served.c.window_end
        first, last = conn.execute(sa.select(sa.func.min(end), sa.func.max(end))).one()
        return None if first is None else (as_date(first), as_date(last))

    def for_user(
        self, user_id: int, *, day: object = None, genre: str = ALL_GENRES, k: int = DEFAULT_K
    ) -> UserList:
        """The top ``k`` of ``day``'s served list for ``genre`` without the movies ``user_id`` rated before
        ``day`` (default: the newest served day).

        :raises ValueError: ``user_id`` or ``k`` not an integer >= 1; nothing served, or nothing on ``day``
            (naming the days served); a ``genre`` not served that day (naming those served); a history
            with a day missing between ``history_start`` and ``day``.
        """
        user_id = _positive_int(user_id, "user_id")
        k = _positive_int(k, "K")
        with self.engine.connect() as conn:
            tables = self.db.tables(conn)  # one catalogue query per answer
            served = self._served_days(conn, tables)
            if served is None:
                raise ValueError("no served list yet: popular_movies is empty (run a daily DAG first)")
            before = as_midnight(served[1] if day is None else day, "day")
            day = epoch_day(before)
            genres = self._genres(conn, day)
            if not genres:
                raise ValueError(
                    f"no list served on {day}: lists are served from {served[0]} to {served[1]}"
                    + (" (a day before the first ranking)" if day < served[0] else "")
                )
            if genre not in genres:
                raise ValueError(f"genre {genre!r} is not served on {day}; served: {', '.join(genres)}")
            self._check_history(conn, tables, day, before)
            known = settings.RATINGS_TABLE in tables and self._known(conn, user_id, before)
            params = {"day": day, "genre": genre, "user_id": user_id, "before": before, "k": k}
            rows = conn.execute(self._query, params).fetchall()
        movies = pd.DataFrame(rows, columns=LIST_COLUMNS)
        return UserList(user_id, day, genre, k, known, self.history_start, movies)

    def _genres(self, conn: sa.engine.Connection, day: dt.date) -> list[str]:
        served = self.db.served
        query = sa.select(served.c.genre).distinct().where(served.c.window_end == day)
        return sorted(conn.execute(query).scalars())

    def _check_history(self, conn: sa.engine.Connection, tables: set[str], day: dt.date, before: int) -> None:
        """Raise a ``ValueError`` naming the first missing days of ``[history_start, day)``."""
        first = day_epoch(self.history_start)
        if first >= before:
            return
        loaded = self.db.read_loaded_days(conn, first, before) if self.db.loaded_days.name in tables else []
        gaps = missing_ranges(loaded, first, before)
        if not gaps:
            return
        gap, end = gaps[0][0], gaps[0][1] - DAY_SECONDS
        missing = f"{epoch_day(gap)}" + (f" to {epoch_day(end)}" if end > gap else "")
        raise ValueError(
            f"the ratings of {missing} are not loaded: a user's list on {day} excludes every "
            f"movie they rated since {self.history_start} (MOVIELENS_HISTORY_START), so every day from "
            f"then to {day - dt.timedelta(days=1)} must be loaded (05_history)"
        )

    def _known(self, conn: sa.engine.Connection, user_id: int, before: int) -> bool:
        ratings = self.db.ratings
        query = sa.select(sa.literal(1)).where((ratings.c.userId == user_id) & (ratings.c.timestamp < before))
        return conn.execute(query.limit(1)).first() is not None
