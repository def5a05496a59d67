"""The backtest (include/movielens/backtest.py): a hand-computed case, a per-user loop, bad input."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from airflow_movielens.dates import as_midnight
from include.movielens import holdout
from include.movielens.backtest import (
    EVAL_COLUMNS,
    RANDOM,
    RatingLog,
    default_cutoffs,
    evaluate,
    scored_lists,
    summarize,
    unseen_at_depth,
)
from include.movielens.popularity import METHODS, rank_window
from include.movielens.windows import WINDOWS

T = as_midnight("2019-03-01")
DAY = 86_400


def _log(rows: list[tuple[int, int, int]], rating: float = 4.0) -> RatingLog:
    """(userId, movieId, timestamp) rows, all rated ``rating``."""
    frame = pd.DataFrame(rows, columns=["userId", "movieId", "timestamp"]).assign(rating=rating)
    return RatingLog.from_frame(frame.sample(frac=1, random_state=1))  # unsorted input on purpose


# Train (before T): movie 10 by users 1-4; 20 by users 1, 2, 3, 7; 30 by 4, 5; 40 by 1, 5; 50 by 2; 70 by 5.
# Test (T <= t < T + 30 days): u1 30 and 10 (10 is a re-rating: not relevant); u2 40, 30; u3 50 and 10
# (10 re-rated), 40 exactly at T + 30 days (outside the horizon); u4 20, 60 (60 is not in train); u5 10;
# u6 20 exactly at T (inside the test, so u6 has no train at all); u7 20 (a re-rating: u7 is not evaluated).
HAND = [
    *[(u, 10, T - 3 * DAY + u) for u in (1, 2, 3, 4)],
    *[(u, 20, T - 2 * DAY + u) for u in (1, 2, 3, 7)],
    (4, 30, T - 7 * DAY),
    (5, 30, T - 1),
    (1, 40, T - 5 * DAY),
    (5, 40, T - 7 * DAY - 1),
    (2, 50, T - 40 * DAY),
    (5, 70, T - 100 * DAY),
    (1, 30, T + DAY),
    (1, 10, T + DAY),
    (2, 40, T + 2 * DAY),
    (2, 30, T + 3 * DAY),
    (3, 50, T + DAY),
    (3, 10, T + 2 * DAY),
    (3, 40, T + 30 * DAY),
    (4, 20, T + 4 * DAY),
    (4, 60, T + 5 * DAY),
    (5, 10, T + 29 * DAY),
    (6, 20, T),
    (7, 20, T + DAY),
]


def test_hand_computed_case() -> None:
    # count/all ranks 10 (4 ratings), 20 (4: tie, higher movieId), 30 (2), 40 (2), 50 (1), 70 (1).
    # K = 2; a user's list is that ranking without their train movies, cut at 2:
    #   u1 train {10, 20, 40} -> [30, 50]; relevant {30}: hit at 1. DCG 1, IDCG 1 -> nDCG 1
    #   u2 train {10, 20, 50} -> [30, 40]; relevant {40, 30}: hits at 1, 2 -> DCG = IDCG = 1 + 1/log2(3) -> 1
    #   u3 train {10, 20}     -> [30, 40]; relevant {50} (40 is outside the horizon): no hit -> 0
    #   u4 train {10, 30}     -> [20, 40]; relevant {20, 60}: hit at 1 -> 1 / (1 + 1/log2(3)) = 0.6131
    #   u5 train {30, 40, 70} -> [10, 20]; relevant {10}: hit at 1 -> 1
    #   u6 no train           -> [10, 20]; relevant {20}: hit at 2 -> (1/log2(3)) / 1 = 0.6309
    #   u7 is not evaluated (20 was already in its train set).
    # HR@2 = 5/6; nDCG@2 = (1 + 1 + 0 + 0.6131 + 1 + 0.6309) / 6 = 0.7073;
    # coverage = |{30, 50, 40, 20, 10}| / |{10, 20, 30, 40, 50, 70}| = 5/6.
    results = evaluate(_log(HAND), ["2019-03-01"], horizon_days=30, k=2, methods=["count"], windows=["all"])
    assert list(results.columns) == EVAL_COLUMNS
    assert results["method"].tolist() == ["count", RANDOM]
    row = results.iloc[0]
    assert (row["cutoff"], row["horizon_days"], row["k"], row["window"]) == (
        dt.date(2019, 3, 1),
        30,
        2,
        "all",
    )
    assert row["users"] == 6
    assert row["hr"] == pytest.approx(5 / 6)
    g = 1 / math.log2(3)
    assert row["ndcg"] == pytest.approx((1 + 1 + 0 + 1 / (1 + g) + 1 + g) / 6)
    assert row["ndcg"] == pytest.approx(0.7073, abs=1e-4)
    assert row["coverage"] == pytest.approx(5 / 6)


def test_hand_computed_case_in_the_7_day_window() -> None:
    # count/7d: the window starts at T - 7 days exactly. Inside it: 10 x4, 20 x4, 30 x2 (u4 at T - 7 days is
    # inside, u5 at T - 1 s), 40 x1 (u1; u5's rating one second before the window start is outside).
    # Ranking [10, 20, 30, 40]; lists with K = 2: u1 [30] (only one movie left), u2 [30, 40], u3 [30, 40],
    # u4 [20, 40], u5 [10, 20], u6 [10, 20] -> the same hits as in `all`: HR 5/6, nDCG 0.7073;
    # coverage = |{30, 40, 20, 10}| / 6 train movies = 4/6.
    results = evaluate(_log(HAND), ["2019-03-01"], k=2, methods=["count"], windows=["7d"])
    count = results.iloc[0]
    g = 1 / math.log2(3)
    assert (count["window"], count["hr"], count["coverage"]) == ("7d", pytest.approx(5 / 6), 4 / 6)
    assert count["ndcg"] == pytest.approx((3 + 1 / (1 + g) + g) / 6)


def test_hand_computed_trending_differs_from_count() -> None:
    # trending/7d, half-life 7 days; ages in whole days to T: 10's ratings are 3 days minus a few seconds old
    # (age 2), 20's 2 days minus a few seconds (age 1): 10 scores 4 x 2**(-2/7), 20 scores 4 x 2**(-1/7), so
    # 20 comes first; 30: 2**(-7/7) + 2**0 = 1.5; 40: 2**(-5/7) = 0.61. Ranking [20, 10, 30, 40].
    # K = 1:          count [10, 20, 30, 40]      trending [20, 10, 30, 40]
    #   u1 {10,20,40}  [30] hit                    [30] hit
    #   u2 {10,20,50}  [30] hit                    [30] hit
    #   u3 {10,20}     [30] miss                   [30] miss
    #   u4 {10,30}     [20] hit                    [20] hit
    #   u5 {30,40,70}  [10] hit                    [20] miss
    #   u6 {}          [10] miss                   [20] hit
    # Both: HR = nDCG = 4/6 (with K = 1 a hit scores 1). Coverage: count {30, 20, 10} = 3/6, trending
    # {30, 20} = 2/6.
    results = evaluate(_log(HAND), ["2019-03-01"], k=1, methods=["count", "trending"], windows=["7d"])
    count, trending = results.iloc[0], results.iloc[1]
    assert (count["method"], trending["method"]) == ("count", "trending")
    for row in (count, trending):
        assert (row["hr"], row["ndcg"]) == (pytest.approx(4 / 6), pytest.approx(4 / 6))
    assert (count["coverage"], trending["coverage"]) == (pytest.approx(3 / 6), pytest.approx(2 / 6))


def _reference(ratings: pd.DataFrame, cutoff: str, horizon: int, k: int, method: str, window: str, **kw):
    """The protocol, literally: one loop iteration per user (tests only)."""
    t = as_midnight(cutoff)
    train = ratings[ratings["timestamp"] < t]
    test = ratings[(ratings["timestamp"] >= t) & (ratings["timestamp"] < t + horizon * DAY)]
    if method == RANDOM:
        log = RatingLog.from_frame(ratings)
        codes = np.flatnonzero(np.isin(log.movie_ids, train["movieId"]))
        day = dt.date.fromisoformat(cutoff)
        ranking = log.movie_ids[np.random.default_rng([kw["seed"], day.toordinal()]).permutation(codes)]
    else:
        ranking = rank_window(ratings, end=cutoff, method=method, window=window, top_n=None, **kw)["movieId"]
    ranking = list(ranking)
    hits, gains, shown = [], [], set()
    for user, rated in test.groupby("userId")["movieId"]:
        seen = set(train.loc[train["userId"] == user, "movieId"])
        relevant = set(rated) - seen
        if not relevant:
            continue
        top = [m for m in ranking if m not in seen][:k]
        shown.update(top)
        dcg = sum(1 / math.log2(pos + 1) for pos, m in enumerate(top, start=1) if m in relevant)
        idcg = sum(1 / math.log2(pos + 1) for pos in range(1, min(k, len(relevant)) + 1))
        hits.append(dcg > 0)
        gains.append(dcg / idcg)
    return len(hits), np.mean(hits), np.mean(gains), len(shown) / train["movieId"].nunique()


@pytest.mark.parametrize(("k", "horizon"), [(1, 7), (3, 30), (10, 30), (40, 90)])
def test_vectorised_equals_a_per_user_loop(k: int, horizon: int) -> None:
    rng = np.random.default_rng(k)
    n = 4000
    # 60 users, 50 movies with skewed popularity, 150 days; pairs may repeat (a user rating a movie twice).
    ratings = pd.DataFrame(
        {
            "userId": rng.integers(1, 61, n),
            "movieId": (rng.zipf(1.3, n) % 50) * 3 + 1,
            "rating": rng.integers(1, 11, n) / 2,
            "timestamp": as_midnight("2019-01-01") + rng.integers(0, 150 * 4, n) * DAY // 4,
        }
    )
    cutoffs = ["2019-03-01", "2019-04-01"]
    params = {"min_ratings": 2, "seed": 3}
    results = evaluate(RatingLog.from_frame(ratings), cutoffs, horizon_days=horizon, k=k, **params)
    assert len(results) == len(cutoffs) * (len(METHODS) * len(WINDOWS) + 1)
    for row in results.itertuples():
        kw = {"seed": 3} if row.method == RANDOM else {"min_ratings": 2} if row.method == "bayes" else {}
        users, hr, ndcg, coverage = _reference(
            ratings, str(row.cutoff), horizon, k, row.method, row.window, **kw
        )
        assert (row.users, row.hr, row.coverage) == (users, pytest.approx(hr), pytest.approx(coverage)), row
        assert row.ndcg == pytest.approx(ndcg), row


def test_heavy_users_whose_lists_reach_deep_into_the_ranking() -> None:
    # Movie m (1..300) is rated in train by users 1..301-m, except that user 1 rated only movies 1..200, so
    # movie 300 is not in train and counts fall strictly with m: the ranking is [1, 2, ..., 299].
    # User 1's list (K = 5) is [201, 202, 203, 204, 205], beyond the metric's first pass (4 K + 32 = 52
    # ranks), which must widen for them. Test: u1 rates 203 (relevant, hit at 3: nDCG = 1/log2(4) = 0.5)
    # and 5 (a re-rating); u2 rates 1, a re-rating, so u2 is not evaluated. HR 1, nDCG 0.5, coverage 5/299.
    rows = [(u, m, T - DAY - m) for m in range(1, 301) for u in range(1, 302 - m) if u != 1 or m <= 200]
    rows += [(1, 203, T + DAY), (1, 5, T + DAY), (2, 1, T + DAY)]
    ratings = pd.DataFrame(rows, columns=["userId", "movieId", "timestamp"]).assign(rating=3.0)
    results = evaluate(RatingLog.from_frame(ratings), ["2019-03-01"], k=5, methods=["count"], windows=["all"])
    row = results.iloc[0]
    assert (row["users"], row["hr"], row["ndcg"]) == (1, 1.0, 0.5)
    assert row["coverage"] == pytest.approx(5 / 299)


def _lists(frame: pd.DataFrame) -> dict[int, list[int]]:
    assert (
        frame.groupby("userId")["position"].apply(list).map(lambda p: p == list(range(1, len(p) + 1))).all()
    )
    return frame.groupby("userId", sort=True)["movieId"].apply(list).to_dict()


def test_scored_lists_are_the_hand_computed_lists() -> None:
    # The lists of test_hand_computed_case (count/all, K = 2) and of its 7-day window (u1 keeps one movie).
    lists = scored_lists(_log(HAND), "2019-03-01", method="count", window="all", k=2)
    assert _lists(lists) == {1: [30, 50], 2: [30, 40], 3: [30, 40], 4: [20, 40], 5: [10, 20], 6: [10, 20]}
    lists = scored_lists(_log(HAND), "2019-03-01", method="count", window="7d", k=2)
    assert _lists(lists) == {1: [30], 2: [30, 40], 3: [30, 40], 4: [20, 40], 5: [10, 20], 6: [10, 20]}
    # the heavy user of the next case: beyond the first 200 ranks, which they all rated
    rows = [(u, m, T - DAY - m) for m in range(1, 301) for u in range(1, 302 - m) if u != 1 or m <= 200]
    rows += [(1, 203, T + DAY), (2, 1, T + DAY)]
    heavy = scored_lists(_log(rows), "2019-03-01", method="count", window="all", k=5)
    assert _lists(heavy) == {1: [201, 202, 203, 204, 205]}
    with pytest.raises(ValueError, match="unknown method 'best'"):
        scored_lists(_log(HAND), "2019-03-01", method="best", window="all")


def test_unseen_at_depth_counts_the_users_a_depth_can_still_serve() -> None:
    # count/all ranks [10, 20, 30, 40, 50, 70]. Users with train ratings: u1 {10, 20, 40}, u2 {10, 20, 50},
    # u3 {10, 20}, u4 {10, 30}, u5 {30, 40, 70}, u7 {20}; evaluated: u1 .. u6 (u6 has no train).
    # K = 1. Depth 2 ({10, 20}): unseen left for u4, u5, u7 (3/6 users) and u4, u5, u6 (3/6 evaluated).
    # Depth 3 adds 30: everyone has one. Depth 10 is capped at the 6 ranked movies.
    table = unseen_at_depth(_log(HAND), "2019-03-01", [3, 2, 10], method="count", window="all", k=1)
    assert table["depth"].tolist() == [2, 3, 10]
    assert table["users"].tolist() == [6, 6, 6]
    assert table["evaluated"].tolist() == [6, 6, 6]
    assert table["users_share"].tolist() == [0.5, 1.0, 1.0]
    assert table["evaluated_share"].tolist() == [0.5, 1.0, 1.0]
    # K = 4 at depth 10 (6 movies): u6 (nothing rated), u7 (5 unseen) and u3, u4 (4 unseen)
    wide = unseen_at_depth(_log(HAND), "2019-03-01", [10], method="count", window="all", k=4)
    assert wide["users_share"].tolist() == [3 / 6]
    assert wide["evaluated_share"].tolist() == [3 / 6]
    with pytest.raises(ValueError, match=r"depths must be integers >= 1, got \[0\]"):
        unseen_at_depth(_log(HAND), "2019-03-01", [0], method="count", window="all")


def test_random_baseline_is_reproducible_and_seeded() -> None:
    log = _log(HAND)
    first = evaluate(log, ["2019-03-01"], k=2, methods=["count"], windows=["all"], seed=1)
    again = evaluate(log, ["2019-03-01"], k=2, methods=["count"], windows=["all"], seed=1)
    pd.testing.assert_frame_equal(first, again)


def test_default_cutoffs_are_the_last_month_starts_with_a_whole_horizon() -> None:
    # Ratings from 2018-01-15 to 2019-11-21 (last day): with a 30-day horizon the latest cutoff is 2019-10-23
    # or before, hence month starts 2018-11-01 .. 2019-10-01 (12 of them).
    start, last = as_midnight("2018-01-15"), as_midnight("2019-11-21") + DAY - 1
    log = _log([(1, 1, start), (1, 2, last)])
    cutoffs = default_cutoffs(log, 12, 30)
    assert cutoffs[0] == dt.date(2018, 11, 1)
    assert cutoffs[-1] == dt.date(2019, 10, 1)
    assert len(cutoffs) == 12
    # Only 2018-02-01 .. 2019-10-01 (21 month starts) lie after the first rating.
    assert default_cutoffs(log, 40, 30)[0] == dt.date(2018, 2, 1)
    assert len(default_cutoffs(log, 40, 30)) == 21


def test_summary_is_best_first() -> None:
    results = evaluate(_log(HAND), ["2019-03-01"], k=2)
    summary = summarize(results)
    assert summary["ndcg"].is_monotonic_decreasing
    assert len(summary) == len(METHODS) * len(WINDOWS) + 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"methods": ["count", "median"]}, "unknown method 'median'"),
        ({"windows": ["14d"]}, "unknown window '14d'"),
        ({"cutoffs": ["2019-02-30"]}, "cutoff is not a valid calendar date: '2019-02-30'"),
        ({"cutoffs": [dt.datetime(2019, 3, 1, 6, tzinfo=dt.UTC)]}, "cutoff must be midnight UTC"),
        ({"cutoffs": []}, "no cutoffs given"),
        ({"k": 0}, "K must be >= 1, got 0"),
        ({"horizon_days": 0}, "horizon must be >= 1 day, got 0"),
        ({"cutoffs": ["2018-01-01"]}, "cutoff 2018-01-01 is not after the first rating"),
        ({"cutoffs": ["2019-06-01"]}, "cutoff 2019-06-01: no evaluated users"),
        ({"half_life_days": -1}, "half_life_days must be > 0, got -1"),
    ],
)
def test_bad_input_names_the_bad_value(kwargs: dict, message: str) -> None:
    args = {"cutoffs": ["2019-03-01"], **kwargs}
    with pytest.raises(ValueError, match=message):
        evaluate(_log(HAND), **args)


def test_bad_ratings_are_refused() -> None:
    with pytest.raises(ValueError, match="timestamp"):
        RatingLog.from_frame(pd.DataFrame({"userId": [1], "movieId": [1], "rating": [4.0]}))
    with pytest.raises(ValueError, match="no ratings"):
        RatingLog.from_frame(pd.DataFrame(columns=["userId", "movieId", "rating", "timestamp"]))


@pytest.mark.parametrize(
    ("user_ids", "movie_ids"),
    [
        (np.arange(1, 200, dtype=np.int32), np.arange(1, 200, dtype=np.int32)),  # dense ids
        (np.array([2**40, 3, -5]), np.array([2**33, 1, 2**33])),  # beyond int32, negative: hashed
        (np.array([7.0, 7.0, 2.0]), np.array([9, 3, 9], dtype=np.uint16)),  # whole floats, unsigned
    ],
)
def test_codes_are_pandas_factorize_s_in_every_chunk_size(monkeypatch, user_ids, movie_ids) -> None:
    rng = np.random.default_rng(2)
    n = 1_000
    frame = pd.DataFrame(
        {
            "userId": rng.choice(user_ids, n),
            "movieId": rng.choice(movie_ids, n),
            "rating": rng.integers(1, 11, n) / 2,
            "timestamp": rng.integers(0, 50, n),
        }
    )
    ordered = frame.sort_values("timestamp", kind="stable")
    users, _ = pd.factorize(ordered["userId"].to_numpy(np.int64))
    movies, movie_uniques = pd.factorize(ordered["movieId"].to_numpy(np.int64), sort=True)
    for chunk_rows in (7, 1 << 20):
        monkeypatch.setattr(holdout, "CHUNK_ROWS", chunk_rows)
        log = RatingLog.from_frame(frame)
        assert (log.user.dtype, log.movie.dtype) == (np.int32, np.int32)
        np.testing.assert_array_equal(log.user, users)
        np.testing.assert_array_equal(log.movie, movies)
        np.testing.assert_array_equal(log.movie_ids, movie_uniques)
        np.testing.assert_array_equal(log.timestamp, ordered["timestamp"])


def test_reused_int32_columns_become_the_codes_and_others_are_left_alone() -> None:
    user, movie = np.array([5, 9, 5], dtype=np.int32), np.array([4, 2, 4], dtype=np.int32)
    rating, timestamp = np.array([1.0, 2.0, 3.0]), np.array([1, 2, 3])
    RatingLog.from_columns(user, movie, rating, timestamp)
    assert (user.tolist(), movie.tolist()) == ([5, 9, 5], [4, 2, 4])
    log = RatingLog.from_columns(user, movie, rating, timestamp, reuse=True)
    assert log.user is user
    assert log.movie is movie
    assert (user.tolist(), movie.tolist(), log.movie_ids.tolist()) == ([0, 1, 0], [1, 0, 1], [2, 4])
    with pytest.raises(ValueError, match=r"different lengths \[2, 3\]"):
        RatingLog.from_columns(user[:2], movie, rating, timestamp)


def test_chunked_sums_and_split_give_the_same_bits_in_every_chunk_size(monkeypatch) -> None:
    rng = np.random.default_rng(8)
    n = 5_000
    ratings = pd.DataFrame(
        {
            "userId": rng.integers(1, 80, n),
            "movieId": rng.zipf(1.4, n) % 60 + 1,
            "rating": rng.integers(1, 11, n) / 2,
            "timestamp": as_midnight("2018-06-01") + rng.integers(0, 300 * DAY, n),
        }
    )
    as_float32 = ratings.astype({"rating": "float32"})
    results = []
    for chunk_rows, frame in [(1 << 20, ratings), (13, ratings), (13, as_float32), (1, as_float32)]:
        monkeypatch.setattr(holdout, "CHUNK_ROWS", chunk_rows)
        results.append(evaluate(RatingLog.from_frame(frame), ["2019-02-01", "2019-03-01"], k=4))
    for other in results[1:]:
        pd.testing.assert_frame_equal(other, results[0], check_exact=True)
