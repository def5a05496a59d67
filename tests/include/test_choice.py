"""The choice of the served list (include/movielens/choice.py) on hand-made evaluations: the rule, its margin,
its default, and no look-ahead."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from include.movielens.choice import (
    DEFAULT,
    DEFAULT_ORDER,
    RECENT_CUTOFFS,
    SWITCH_MARGIN,
    decide,
    in_force,
)
from include.movielens.popularity import METHODS
from include.movielens.windows import WINDOW_DAYS, window_label

H = 30


def evaluation(
    cutoff: str, scores: dict[tuple[str, str], float], *, k: int = 10, horizon: int = H
) -> list[dict]:
    """Rows of ranking_evaluation for one cutoff: every servable list at 0.01 unless ``scores`` says."""
    rows = []
    for method in METHODS:
        for window in [*(window_label(d) for d in WINDOW_DAYS), "all"]:
            ndcg = scores.get((method, window), 0.01)
            rows.append(
                {"cutoff": cutoff, "horizon_days": horizon, "k": k, "method": method, "window": window,
                 "users": 500, "hr": ndcg * 2, "ndcg": ndcg, "coverage": 0.1}
            )  # fmt: skip
    rows.append(
        {"cutoff": cutoff, "horizon_days": horizon, "k": k, "method": "random", "window": "all", "users": 500,
         "hr": 1.0, "ndcg": scores.get(("random", "all"), 0.001), "coverage": 1.0}
    )  # fmt: skip
    return rows


def frame(*parts: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([row for part in parts for row in part])


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def test_before_any_evaluation_the_default_is_served() -> None:
    assert decide(frame()) == []
    assert in_force([], day("2019-01-01")) == DEFAULT
    assert (DEFAULT.method, DEFAULT.window_days, DEFAULT.valid_from) == ("count", 365, None)
    assert set(DEFAULT_ORDER) == {(m, d) for m in METHODS for d in WINDOW_DAYS}
    assert len(DEFAULT_ORDER) == len(set(DEFAULT_ORDER))


def test_the_best_mean_ndcg_over_the_recent_cutoffs_wins_from_the_day_its_horizon_ends() -> None:
    chain = decide(
        frame(
            evaluation("2018-10-01", {("trending", "7d"): 0.30, ("count", "30d"): 0.20}),
            evaluation("2018-11-01", {("trending", "7d"): 0.10, ("count", "30d"): 0.25}),
        )
    )
    assert [d.valid_from for d in chain] == [day("2018-10-31"), day("2018-12-01")]
    first, second = chain
    assert (first.method, first.window_days, first.value) == ("trending", 7, 0.30)
    assert (first.runner_up, first.runner_up_value) == (("count", 30), 0.20)
    assert first.cutoffs == (day("2018-10-01"),)
    assert first.metric == "ndcg@10"
    # means over both cutoffs: trending/7 0.20, count/30 0.225 (> 0.20 * 1.05): it switches
    assert (second.method, second.window_days) == ("count", 30)
    assert second.value == pytest.approx(0.225)
    assert second.runner_up == ("trending", 7)
    assert not second.kept
    assert second.order[:2] == (("count", 30), ("trending", 7))
    assert set(second.order) == set(DEFAULT_ORDER)


def test_a_list_within_the_margin_does_not_replace_the_one_in_force() -> None:
    better = 0.20 * (1 + SWITCH_MARGIN) * 0.99  # better, but not by the margin
    chain = decide(
        frame(
            evaluation("2018-10-01", {("count", "365d"): 0.20}),
            evaluation("2018-11-01", {("count", "365d"): 0.20, ("bayes", "30d"): 2 * better - 0.01}),
        )
    )
    kept = chain[-1]
    assert (kept.method, kept.window_days, kept.kept) == ("count", 365, True)
    assert kept.runner_up == ("bayes", 30)
    assert kept.runner_up_value == pytest.approx(better)  # mean of 0.01 and 2 * better - 0.01
    assert kept.runner_up_value > kept.value


def test_the_backtest_only_lists_and_other_k_or_horizons_are_never_chosen() -> None:
    chain = decide(
        frame(
            evaluation("2018-10-01", {("count", "all"): 0.9, ("random", "all"): 0.8, ("bayes", "7d"): 0.3}),
            evaluation("2018-10-01", {("trending", "1d"): 0.9}, k=20),
            evaluation("2018-10-01", {("trending", "1d"): 0.9}, horizon=60),
        )
    )
    assert len(chain) == 1
    assert (chain[0].method, chain[0].window_days) == ("bayes", 7)


def test_only_the_most_recent_cutoffs_count() -> None:
    old = [evaluation(f"2018-0{m}-01", {("bayes", "1d"): 0.9}) for m in range(1, 4)]
    recent = [evaluation(f"2018-0{m}-01", {("count", "7d"): 0.5}) for m in range(4, 4 + RECENT_CUTOFFS)]
    last = decide(frame(*old, *recent))[-1]
    assert (last.method, last.window_days) == ("count", 7)
    assert last.cutoffs == tuple(day(f"2018-0{m}-01") for m in range(4, 4 + RECENT_CUTOFFS))


def test_no_look_ahead_an_evaluation_holds_only_from_the_end_of_its_horizon() -> None:
    """Day D's list rests only on evaluations whose test horizon ended by D (cutoff + horizon <= D), however
    late they were computed: an evaluation stored later changes no earlier day."""
    early = evaluation("2018-10-01", {("trending", "30d"): 0.30})
    late = evaluation("2018-12-01", {("count", "1d"): 0.90})  # horizon ends 2018-12-31
    chain = decide(frame(early, late))
    for d in ("2018-10-31", "2018-12-15", "2018-12-30"):
        held = in_force(chain, day(d))
        assert (held.method, held.window_days) == ("trending", 30), d
    assert (in_force(chain, day("2018-12-31")).method, in_force(chain, day("2018-12-31")).window_days) == (
        "count",
        1,
    )
    assert in_force(chain, day("2018-10-30")) == DEFAULT
    # the same decisions whatever order the evaluations were stored in
    assert decide(frame(late, early)) == chain


def test_a_list_not_evaluated_at_every_recent_cutoff_is_not_a_candidate() -> None:
    first = evaluation("2018-10-01", {("count", "30d"): 0.2})
    second = [r for r in evaluation("2018-11-01", {("count", "30d"): 0.2}) if r["window"] != "7d"]
    for row in second:
        if (row["method"], row["window"]) == ("trending", "1d"):
            row["ndcg"] = 0.9
    first_rows = [r for r in first if (r["method"], r["window"]) != ("trending", "1d")]
    last = decide(frame(first_rows, second))[-1]
    assert (last.method, last.window_days) == ("count", 30)
    assert ("trending", 1) in last.order  # still in the fallback order, after the measured ones
