"""The served list: ``popular_movies`` (what a recommender shows) and ``ranking_choice`` (why that list),
defined in :mod:`include.movielens.database`; what they hold, for their readers: docs/evaluation.md.

``popular_movies`` holds, per ``window_end`` (the day served) and ``genre``, the ranking of the decision in
force that day (:func:`include.movielens.choice.in_force`), or, when that list is not computed for the day,
the best computed one of the decision's order (``fallback``). Each daily run publishes its day in the
transaction that stores its rankings; ``06_evaluation`` rewrites ``ranking_choice`` and republishes the days a
changed decision covers, in one transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable

import pandas as pd
import sqlalchemy as sa

from airflow_movielens.dates import as_date
from include.movielens import settings
from include.movielens.choice import Decision, in_force
from include.movielens.database import CHOICE_TABLE, ResultsDb, utc_now
from include.movielens.ranking import ALL_GENRES, WINDOW_RANKING_COLUMNS

log = logging.getLogger(__name__)

SERVED_COLUMNS = [*WINDOW_RANKING_COLUMNS, "genre", "choice_from", "fallback"]
#: Which DAG run computed the served list (stored, not part of :data:`SERVED_COLUMNS`).
PRODUCED_BY = ["dag_id", "run_id"]


def _the_list(table: sa.Table, end: dt.date, pick: tuple[str, int]) -> sa.sql.ColumnElement:
    """The rows of ``table`` about the (method, window_days) list ``pick`` of ``end``."""
    return (table.c.window_end == end) & (table.c.method == pick[0]) & (table.c.window_days == pick[1])


def _producer(conn: sa.engine.Connection, tables: ResultsDb, end: dt.date, pick: tuple) -> list:
    """``dag_id`` and ``run_id`` of the run that computed the list ``pick`` of ``end`` (NULL: unknown)."""
    windows = tables.windows
    query = sa.select(windows.c.dag_id, windows.c.run_id).where(_the_list(windows, end, pick))
    row = conn.execute(query).first() or (None, None)
    return [sa.literal(value, sa.String).label(name) for name, value in zip(PRODUCED_BY, row, strict=True)]


#: The ``ranking_choice`` columns that hold the :class:`Decision` attribute of the same name as it is.
_AS_IS = ("valid_from", "method", "window_days", "metric", "value", "runner_up_value", "users", "kept")


def _row(decision: Decision, now: dt.datetime) -> dict:
    runner = decision.runner_up or (None, None)
    return {
        **{name: getattr(decision, name) for name in _AS_IS},
        "runner_up_method": runner[0],
        "runner_up_window_days": runner[1],
        "cutoffs": ",".join(day.isoformat() for day in decision.cutoffs),
        "fallback_order": json.dumps([list(pair) for pair in decision.order]),
        "decided_at": now,
    }


def _decision(row: sa.Row) -> Decision:
    runner = (row.runner_up_method, int(row.runner_up_window_days)) if row.runner_up_method else None
    return Decision(
        valid_from=as_date(row.valid_from),
        method=row.method,
        window_days=int(row.window_days),
        value=row.value,
        runner_up=runner,
        runner_up_value=row.runner_up_value,
        cutoffs=tuple(dt.date.fromisoformat(day) for day in row.cutoffs.split(",") if day),
        users=int(row.users),
        kept=bool(row.kept),
        order=tuple((method, int(days)) for method, days in json.loads(row.fallback_order)),
    )


def read_chain(conn: sa.engine.Connection, tables: ResultsDb) -> list[Decision]:
    """The stored decisions, oldest first (none before the first evaluation)."""
    choices = tables.choice
    if not tables.has(conn, choices):
        return []
    return [_decision(row) for row in conn.execute(choices.select().order_by(choices.c.valid_from))]


def publish_served(conn: sa.engine.Connection, tables: ResultsDb, ends: Iterable[dt.date]) -> dict:
    """Replace ``popular_movies`` of each day in ``ends`` by the list of the decision in force that day, in
    the caller's transaction. A day whose lists all hold no movie gets no rows (there is nothing to show).

    :return: ``{"<day>": "<method>/<window_days>[ (fallback)]"}`` per day served.
    """
    served = tables.served
    tables.prepare(conn, served)
    chain = read_chain(conn, tables)
    rankings = tables.rankings
    out = {}
    for end in ends:
        decision = in_force(chain, end)
        lists = sa.select(rankings.c.method, rankings.c.window_days).where(rankings.c.window_end == end)
        available = {(m, int(d)) for m, d in conn.execute(lists.distinct())}
        conn.execute(served.delete().where(served.c.window_end == end))
        pick = next((pair for pair in decision.order if pair in available), None)
        if pick is None:
            continue
        fallback = pick != (decision.method, decision.window_days)
        about = [
            sa.literal(decision.valid_from, sa.Date).label("choice_from"),
            sa.literal(fallback).label("fallback"),
            *_producer(conn, tables, end, pick),
        ]
        genres = tables.genres
        for table, genre in ((rankings, sa.literal(ALL_GENRES).label("genre")), (genres, genres.c.genre)):
            columns = (table.c[name] for name in WINDOW_RANKING_COLUMNS)
            source = sa.select(*columns, genre, *about).where(_the_list(table, end, pick))
            conn.execute(served.insert().from_select([*SERVED_COLUMNS, *PRODUCED_BY], source))
        out[end.isoformat()] = f"{pick[0]}/{pick[1]}" + (" (fallback)" if fallback else "")
    return out


def publish_day(conn: sa.engine.Connection, tables: ResultsDb, window_end: dt.date) -> dict:
    """:func:`publish_served` of one day (the ``also`` step of :func:`results.replace_windows`)."""
    return publish_served(conn, tables, [window_end])


def store_decisions(chain: list[Decision], conn_id: str = settings.RESULTS_CONN_ID) -> dict:
    """Replace ``ranking_choice`` by ``chain`` and republish the served days that a changed decision covers,
    in ONE transaction. Unchanged decisions change nothing (reruns are idempotent).

    :return: ``{"decisions", "changed_from", "republished"}``.
    """
    tables = ResultsDb.connect(conn_id)
    choices = tables.choice
    now = utc_now()
    with tables.engine.begin() as conn:
        tables.prepare(conn, tables.windows, tables.genres, tables.rankings, choices)
        old = read_chain(conn, tables)
        first, republished = None, {}
        if chain != old:
            same = (a == b for a, b in zip(chain, old, strict=False))
            i = next((i for i, equal in enumerate(same) if not equal), min(len(chain), len(old)))
            first = (chain if i < len(chain) else old)[i].valid_from
            conn.execute(choices.delete())
            if chain:
                conn.execute(choices.insert(), [_row(decision, now) for decision in chain])
            ends = sa.select(tables.windows.c.window_end).distinct()
            if first is not None:
                ends = ends.where(tables.windows.c.window_end >= first)
            republished = publish_served(conn, tables, [as_date(day) for day in conn.execute(ends).scalars()])
    log.info("%s: %d decisions; changed from %s; %d days republished", CHOICE_TABLE, len(chain), first,
             len(republished))  # fmt: skip
    changed_from = first and first.isoformat()
    return {"decisions": len(chain), "changed_from": changed_from, "republished": len(republished)}


def read_served(
    window_end: str | dt.date | None = None,
    conn_id: str = settings.RESULTS_CONN_ID,
    *,
    genre: str = ALL_GENRES,
) -> pd.DataFrame:
    """The served list of ``window_end`` (default: the latest) for ``genre`` (default: every movie),
    ``SERVED_COLUMNS``; empty if none."""
    tables = ResultsDb.connect(conn_id)
    return tables.read_list(tables.served, window_end, tables.served.c.genre == genre)[SERVED_COLUMNS]


def read_decision(day: str | dt.date, conn_id: str = settings.RESULTS_CONN_ID) -> Decision:
    """The decision in force on ``day`` (the default before any evaluation)."""
    tables = ResultsDb.connect(conn_id)
    with tables.engine.connect() as conn:
        return in_force(read_chain(conn, tables), as_date(day))
