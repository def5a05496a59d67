"""One cutoff's hold-out split of the ratings, and the HR@K, nDCG@K and coverage of a ranking on it.

The protocol is in :mod:`include.movielens.backtest`. Vectorised, with no loop per user: a relevant movie at
rank r of the ranking sits at list position ``r - (number of movies the user rated in train ranked above r)``.
:func:`metrics` reads those counts off a users x ranks boolean matrix "rated in train" over the top ranks,
filled from the train ratings grouped by movie (:class:`Split`), widening it only for the users whose list
reaches deeper.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from include.movielens.popularity import DAY_SECONDS, as_midnight


@dataclass(frozen=True)
class RatingLog:
    """Ratings as numpy columns sorted by timestamp; users and movies as dense codes.

    Movie codes follow movieId order, so "ties by movieId ascending" is "ties by code ascending".
    """

    timestamp: np.ndarray  # int64 Unix seconds, ascending
    user: np.ndarray  # int32 codes 0..n_users-1
    movie: np.ndarray  # int32 codes 0..n_movies-1
    rating: np.ndarray  # float64
    movie_ids: np.ndarray  # movieId of each movie code

    @classmethod
    def from_frame(cls, ratings: pd.DataFrame) -> RatingLog:
        """Build the log from a frame with columns ``userId, movieId, rating, timestamp``."""
        missing = {"userId", "movieId", "rating", "timestamp"} - set(ratings.columns)
        if missing:
            raise ValueError(f"ratings lack column(s) {sorted(missing)}")
        if ratings.empty:
            raise ValueError("no ratings")
        timestamp = ratings["timestamp"].to_numpy("int64")
        order = None if np.all(timestamp[1:] >= timestamp[:-1]) else np.argsort(timestamp, kind="stable")

        def column(name: str, dtype: str) -> np.ndarray:
            values = ratings[name].to_numpy(dtype)
            return values if order is None else values[order]

        user, _ = pd.factorize(column("userId", "int64"))
        movie, movie_ids = pd.factorize(column("movieId", "int64"), sort=True)
        return cls(
            timestamp=timestamp if order is None else timestamp[order],
            user=user.astype(np.int32),
            movie=movie.astype(np.int32),
            rating=column("rating", "float64"),
            movie_ids=np.asarray(movie_ids, dtype=np.int64),
        )

    @cached_property
    def n_users(self) -> int:
        return int(self.user.max()) + 1

    @cached_property
    def first_rows(self) -> np.ndarray:
        """Row of each movie's first rating: movie m is in the train set of T iff it is below T's row."""
        first = np.full(len(self.movie_ids), len(self.movie), dtype=np.int64)
        np.minimum.at(first, self.movie, np.arange(len(self.movie)))
        return first

    def day(self, index: int) -> dt.date:
        """The UTC day of the rating at ``index`` (0 = first, -1 = last)."""
        return dt.datetime.fromtimestamp(int(self.timestamp[index]), tz=dt.UTC).date()


@dataclass(frozen=True)
class Split:
    """One cutoff's train/test split, reduced to what :func:`metrics` needs (users as 0..users-1)."""

    end: int  # T as Unix seconds
    n_train: int  # train = log rows [0, n_train)
    users: int  # evaluated users
    rated_offsets: np.ndarray  # rated_users[rated_offsets[m]:rated_offsets[m + 1]] rated movie m in train
    rated_users: np.ndarray  # (evaluated users only; a user may appear twice if they rated m twice)
    rel_user: np.ndarray  # relevant (user, movie) pairs, each once
    rel_movie: np.ndarray
    train_movies: np.ndarray  # codes of the movies in train

    def rated_pairs(self, ranking: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """(user, rank) of every train rating of the movies at ranks lo+1..hi of ``ranking``."""
        movies = ranking[lo:hi]
        starts = self.rated_offsets[movies]
        lengths = self.rated_offsets[movies + 1] - starts
        shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
        index = np.arange(len(shift)) + shift
        return self.rated_users[index], np.repeat(np.arange(lo + 1, lo + 1 + len(movies)), lengths)


def split(log: RatingLog, cutoff: dt.date, horizon_days: int) -> Split:
    """The hold-out split at ``cutoff`` (protocol in :mod:`include.movielens.backtest`).

    :raises ValueError: naming the cutoff when it has no train ratings or no evaluated users.
    """
    end = as_midnight(cutoff, "cutoff")
    n_train, n_until = (
        int(i) for i in np.searchsorted(log.timestamp, [end, end + horizon_days * DAY_SECONDS])
    )
    if n_train == 0:
        raise ValueError(f"cutoff {cutoff} is not after the first rating ({log.day(0)}): no train ratings")
    n_movies = len(log.movie_ids)
    test_key = np.unique(log.user[n_train:n_until].astype(np.int64) * n_movies + log.movie[n_train:n_until])
    in_test = np.zeros(log.n_users, dtype=bool)
    in_test[log.user[n_train:n_until]] = True
    rows = np.flatnonzero(in_test[log.user[:n_train]])
    seen_user, seen_movie = log.user[rows], log.movie[rows]
    seen_key = seen_user.astype(np.int64) * n_movies + seen_movie
    # A hash look-up of ~10^7 train pairs in ~10^5 test pairs is cheaper than sorting the train pairs.
    rel_key = np.setdiff1d(test_key, seen_key[pd.Series(seen_key, copy=False).isin(test_key).to_numpy()])
    del seen_key
    evaluated = np.unique(rel_key // n_movies)
    if len(evaluated) == 0:
        raise ValueError(
            f"cutoff {cutoff}: no evaluated users (nobody rated a movie new to them in the {horizon_days} "
            "days from it)"
        )
    index = np.full(log.n_users, -1, dtype=np.int32)
    index[evaluated] = np.arange(len(evaluated), dtype=np.int32)
    seen_user = index[seen_user]
    keep = seen_user >= 0
    seen_user, seen_movie = seen_user[keep], seen_movie[keep]
    # Group the pairs by movie: a stable sort on 16-bit keys is a radix sort.
    by_movie = np.argsort(seen_movie.astype(np.uint16) if n_movies <= 1 << 16 else seen_movie, kind="stable")
    return Split(
        end=end,
        n_train=n_train,
        users=len(evaluated),
        rated_offsets=np.concatenate([[0], np.cumsum(np.bincount(seen_movie, minlength=n_movies))]),
        rated_users=seen_user[by_movie],
        rel_user=index[rel_key // n_movies],
        rel_movie=(rel_key % n_movies).astype(np.int32),
        train_movies=np.flatnonzero(log.first_rows < n_train),
    )


def metrics(holdout: Split, ranking: np.ndarray, k: int) -> tuple[float, float, float]:
    """HR@K, nDCG@K and coverage of one ranking (movie codes, best first).

    Works on a users x ranks boolean matrix "rated in train" over the top ``width`` ranks: its row-wise
    cumulative count of unrated ranks is the list position of every rank. A user is settled once their K-th
    unrated rank lies within ``width`` (or the ranking ends there); the others go round again with a matrix 4
    times as wide. On the 25M twin, 72 ranks settle about 95% of the users and 1152 settle all.
    """
    users, ranked = holdout.users, len(ranking)
    if ranked == 0:
        return 0.0, 0.0, 0.0
    rank_of = np.zeros(len(holdout.rated_offsets) - 1, dtype=np.int64)
    rank_of[ranking] = np.arange(1, ranked + 1)
    rel_rank = rank_of[holdout.rel_movie]
    list_pos = np.zeros(len(rel_rank), dtype=np.int64)  # 0: not in the user's list
    covered = np.zeros(ranked + 1, dtype=bool)
    todo = np.arange(users)
    width = min(ranked, 4 * k + 32)
    pair_user, pair_rank = holdout.rated_pairs(ranking, 0, width)
    while True:
        row = np.full(users, -1, dtype=np.int64)
        row[todo] = np.arange(len(todo))
        rated = np.zeros((len(todo), width), dtype=bool)
        rated[row[pair_user], pair_rank - 1] = True
        unrated = np.cumsum(~rated, axis=1, dtype=np.int32)  # unrated[u, r - 1] = list position of rank r
        full = unrated[:, -1] >= k
        settled = full | (width >= ranked)
        last = np.where(full, np.argmax(unrated >= k, axis=1) + 1, width)  # the list's last rank

        rel_row = row[holdout.rel_user]
        mine = (rel_row >= 0) & (rel_rank > 0)
        mine[mine] = settled[rel_row[mine]] & (rel_rank[mine] <= last[rel_row[mine]])
        list_pos[mine] = unrated[rel_row[mine], rel_rank[mine] - 1]
        in_list = ~rated[settled] & (np.arange(1, width + 1) <= last[settled, None])
        covered[1 : width + 1] |= in_list.any(axis=0)

        todo = todo[~settled]
        if not len(todo):
            break
        pending = np.zeros(users, dtype=bool)
        pending[todo] = True
        more_user, more_rank = holdout.rated_pairs(ranking, width, min(ranked, 4 * width))
        old, new = pending[pair_user], pending[more_user]
        pair_user = np.concatenate([pair_user[old], more_user[new]])
        pair_rank = np.concatenate([pair_rank[old], more_rank[new]])
        width = min(ranked, 4 * width)

    hit = list_pos > 0
    gain = np.zeros(len(list_pos))
    gain[hit] = 1.0 / np.log2(list_pos[hit] + 1.0)
    ideal = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))])
    n_relevant = np.bincount(holdout.rel_user, minlength=users)
    ndcg = float(
        np.mean(np.bincount(holdout.rel_user, gain, minlength=users) / ideal[np.minimum(n_relevant, k)])
    )
    hr = float(np.mean(np.bincount(holdout.rel_user[hit], minlength=users) > 0))
    return hr, ndcg, np.count_nonzero(covered) / len(holdout.train_movies)
