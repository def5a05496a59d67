"""The rolling windows: their one vocabulary, and which of them a daily run can rank. No Airflow import.

A window ends at a UTC midnight ``end`` (exclusive; *D* in the pipeline, *T* in the backtest) and holds the
ratings of the N days before it, ``end - N days <= timestamp < end``; ``all`` holds every rating before
``end``. :data:`WINDOWS` names them as the backtest and ``ranking_evaluation.window`` do (``"1d"`` ..
``"all"``); the daily DAGs rank the finite ones, :data:`WINDOW_DAYS`, stored as ``window_days``.
:func:`window_days` and :func:`window_label` are the only conversions between the two forms.

A window is ranked only when all its days are in ``loaded_days`` (:func:`plan_windows`), never from partial
data; :func:`missing_ranges` gives the days not loaded yet as ranges to load (``fill_history``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from airflow_movielens.dates import DAY_SECONDS, DateLike, as_midnight

WINDOWS: dict[str, int | None] = {"1d": 1, "7d": 7, "30d": 30, "365d": 365, "all": None}
#: The windows the daily DAGs rank, in days.
WINDOW_DAYS: tuple[int, ...] = tuple(days for days in WINDOWS.values() if days is not None)


def window_days(window: str) -> int | None:
    """The days of the window named ``window`` (``None`` for ``all``)."""
    if window not in WINDOWS:
        raise ValueError(f"unknown window {window!r}; expected one of {', '.join(WINDOWS)}")
    return WINDOWS[window]


def window_label(days: int | None) -> str:
    """The name of the window of ``days`` days (``None``: ``all``)."""
    return "all" if days is None else f"{int(days)}d"


def window_start(end: int, window: str) -> int | None:
    """The first timestamp (inclusive) of ``window`` ending at the Unix midnight ``end``; None for ``all``."""
    days = window_days(window)
    return None if days is None else end - days * DAY_SECONDS


def select_window(ratings: pd.DataFrame, end: DateLike, window: str) -> pd.DataFrame:
    """The rows of ``ratings`` inside ``window`` ending at ``end``."""
    end_ts = as_midnight(end, "window end")
    start_ts = window_start(end_ts, window)
    ts = ratings["timestamp"].to_numpy()
    keep = ts < end_ts
    if start_ts is not None:
        keep &= ts >= start_ts
    return ratings[keep]


def plan_windows(end_ts: int, loaded_days: Iterable[int], window_days: Sequence[int] = WINDOW_DAYS) -> dict:
    """Which windows ending at ``end_ts`` have all their days loaded.

    :param loaded_days: the ``day_start`` (epoch seconds) of every loaded day (extra days are ignored).
    :return: ``{"window_end_ts", "complete": [days, ...], "missing": {"<days>": number of missing days}}``.
    """
    if end_ts % DAY_SECONDS:
        raise ValueError(f"window end {end_ts} is not a UTC midnight")
    loaded = set(loaded_days)
    gaps = [
        (int(days), sum(day not in loaded for day in range(end_ts - days * DAY_SECONDS, end_ts, DAY_SECONDS)))
        for days in window_days
    ]
    complete = [days for days, missing in gaps if not missing]
    return {"window_end_ts": int(end_ts), "complete": complete, "missing": {str(d): n for d, n in gaps if n}}


def missing_ranges(loaded_days: Iterable[int], start_ts: int, end_ts: int) -> list[tuple[int, int]]:
    """The days of ``[start_ts, end_ts)`` (UTC midnights) not in ``loaded_days``, as ``[start, end)`` runs of
    consecutive days, oldest first."""
    if start_ts % DAY_SECONDS or end_ts % DAY_SECONDS:
        raise ValueError(f"[{start_ts}, {end_ts}) does not run from a UTC midnight to a UTC midnight")
    loaded = set(loaded_days)
    ranges: list[tuple[int, int]] = []
    for day in range(start_ts, end_ts, DAY_SECONDS):
        if day in loaded:
            continue
        start = ranges.pop()[0] if ranges and ranges[-1][1] == day else day  # extends the run before it
        ranges.append((start, day + DAY_SECONDS))
    return ranges
