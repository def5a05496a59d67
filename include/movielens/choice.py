"""Which popular list to serve, day by day: the (method, window) the backtest found best, without look-ahead.

Turns ``06_evaluation``'s measurements (``ranking_evaluation``) into a chain of decisions, one per day on
which new evidence became available: an evaluation at cutoff T with horizon H is available on day T + H, so
the list served on day D never depends on ratings from D on. The best list has the highest mean nDCG@K over
the :data:`RECENT_CUTOFFS` most recent available cutoffs, and replaces the list in force only when better by
more than :data:`SWITCH_MARGIN`; before any evidence, :data:`DEFAULT_ORDER`. The whole rule, ties included:
docs/evaluation.md, "The served list". No Airflow import.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from include.movielens.backtest import DEFAULT_HORIZON_DAYS, DEFAULT_K
from include.movielens.popularity import METHODS
from include.movielens.windows import WINDOW_DAYS, window_days, window_label

CHOICE_K = DEFAULT_K
CHOICE_HORIZON_DAYS = DEFAULT_HORIZON_DAYS
RECENT_CUTOFFS = 3
SWITCH_MARGIN = 0.05
#: Every servable list, best first when nothing has been measured: count, then trending, then bayes (the
#: backtest's consistent order), each from the longest window to the shortest.
DEFAULT_ORDER: tuple[tuple[str, int], ...] = tuple(
    (method, days) for method in ("count", "trending", "bayes") for days in sorted(WINDOW_DAYS, reverse=True)
)


@dataclass(frozen=True)
class Decision:
    """The list served from ``valid_from`` on (``None``: the default, before any evidence)."""

    valid_from: dt.date | None
    method: str
    window_days: int
    #: mean nDCG@K of the chosen list, and of the best other list (``None`` without evidence)
    value: float | None = None
    runner_up: tuple[str, int] | None = None
    runner_up_value: float | None = None
    cutoffs: tuple[dt.date, ...] = ()
    users: int = 0
    #: True when a better list was found but did not beat the current one by the margin
    kept: bool = False
    #: every servable list, best first: what is served when the chosen one is not computed for a day
    order: tuple[tuple[str, int], ...] = field(default=DEFAULT_ORDER)

    @property
    def metric(self) -> str:
        return f"ndcg@{CHOICE_K}"


DEFAULT = Decision(None, *DEFAULT_ORDER[0])


def _servable(evaluations: pd.DataFrame, k: int, horizon_days: int) -> pd.DataFrame:
    """The rows about servable lists at (k, horizon), with ``window_days`` and the day they became known."""
    rows = evaluations[
        (evaluations["k"] == k)
        & (evaluations["horizon_days"] == horizon_days)
        & evaluations["method"].isin(METHODS)
        & evaluations["window"].isin([window_label(days) for days in WINDOW_DAYS])
    ].copy()
    rows["cutoff"] = pd.to_datetime(rows["cutoff"]).dt.date
    rows["window_days"] = rows["window"].map(window_days).astype("int64")
    rows["available"] = [cutoff + dt.timedelta(days=horizon_days) for cutoff in rows["cutoff"]]
    return rows


def _ranked(rows: pd.DataFrame, cutoffs: Sequence[dt.date]) -> pd.DataFrame:
    """Mean nDCG and HR per list over ``cutoffs`` (lists evaluated at all of them), best first."""
    mine = rows[rows["cutoff"].isin(cutoffs)]
    means = mine.groupby(["method", "window_days"]).agg(
        ndcg=("ndcg", "mean"), hr=("hr", "mean"), n=("cutoff", "nunique"), users=("users", "min")
    )
    means = means[means["n"] == len(cutoffs)].reset_index()
    means["default_rank"] = [
        DEFAULT_ORDER.index((m, int(d))) for m, d in zip(means["method"], means["window_days"], strict=True)
    ]
    return means.sort_values(["ndcg", "hr", "default_rank"], ascending=[False, False, True], kind="mergesort")


def decide(
    evaluations: pd.DataFrame,
    *,
    k: int = CHOICE_K,
    horizon_days: int = CHOICE_HORIZON_DAYS,
    recent: int = RECENT_CUTOFFS,
    margin: float = SWITCH_MARGIN,
) -> list[Decision]:
    """The chain of decisions, one per day on which an evaluation became available, oldest first.

    :param evaluations: rows of ``ranking_evaluation`` (``cutoff, horizon_days, k, method, window, users, hr,
        ndcg``); other (k, horizon) pairs, the ``all`` window and the random baseline are ignored.
    """
    if evaluations.empty:
        return []
    rows = _servable(evaluations, k, horizon_days)
    chain: list[Decision] = []
    for day in sorted(set(rows["available"])):
        seen = rows[rows["available"] <= day]
        cutoffs = tuple(sorted(set(seen["cutoff"]))[-recent:])
        ranked = _ranked(seen, cutoffs)
        if ranked.empty:
            continue
        means = zip(ranked["method"], ranked["window_days"], ranked["ndcg"], strict=True)
        scores = {(m, int(d)): float(v) for m, d, v in means}
        order = tuple(scores) + tuple(pair for pair in DEFAULT_ORDER if pair not in scores)
        best = order[0]
        held = (chain[-1].method, chain[-1].window_days) if chain else DEFAULT_ORDER[0]  # the list in force
        kept = best != held and held in scores and scores[best] <= scores[held] * (1 + margin)
        chosen = held if kept else best
        runner_up = next((pair for pair in scores if pair != chosen), None)
        chain.append(
            Decision(
                valid_from=day,
                method=chosen[0],
                window_days=chosen[1],
                value=scores[chosen],
                runner_up=runner_up,
                runner_up_value=scores[runner_up] if runner_up else None,
                cutoffs=cutoffs,
                users=int(ranked["users"].min()),
                kept=kept,
                order=(chosen, *(pair for pair in order if pair != chosen)),
            )
        )
    return chain


def in_force(chain: Sequence[Decision], day: dt.date) -> Decision:
    """The decision that holds on ``day``: the latest one available by then, else :data:`DEFAULT`."""
    return next((d for d in reversed(chain) if d.valid_from is not None and d.valid_from <= day), DEFAULT)
