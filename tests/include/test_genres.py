"""The lists per MovieLens genre (include/movielens/ranking.rank_genres) against plain pandas on a hand-made
set: each genre's list is the whole list's method over that genre's movies only (bayes: the genre's mean)."""

from __future__ import annotations

import pandas as pd
import pytest

from airflow_movielens.dates import as_midnight
from include.movielens.popularity import aggregate
from include.movielens.ranking import rank_genres

END = "2019-01-08"
DAY = 86_400
MOVIES = pd.DataFrame(
    {
        "movieId": [1, 2, 3, 4, 5, 6],
        "title": ["A (1990)", "B (1991)", "C (1992)", "D (1993)", "E (1994)", "F (1995)"],
        "genres": ["Drama|Comedy", "Drama", "Comedy", "Horror|Drama", "(no genres listed)", "Horror"],
    }
)
#: (movieId, rating, days before END): movie 4 has most Drama ratings, movie 1 the best Drama mean.
RATINGS = pd.DataFrame(
    [
        (1, 5.0, 1), (1, 4.5, 2), (1, 5.0, 3),
        (2, 3.0, 1), (2, 3.5, 1), (2, 2.0, 6), (2, 3.0, 2),
        (3, 4.0, 1), (3, 4.0, 5), (3, 3.5, 4),
        (4, 2.5, 1), (4, 3.0, 1), (4, 3.5, 2), (4, 2.0, 3), (4, 4.0, 6),
        (5, 5.0, 1), (5, 5.0, 1), (5, 5.0, 1),
        (6, 1.0, 2), (6, 1.5, 3), (6, 1.0, 4),
    ],
    columns=["movieId", "rating", "days"],
)  # fmt: skip


def ratings() -> pd.DataFrame:
    end = as_midnight(END)
    return RATINGS.assign(timestamp=end - RATINGS["days"] * DAY + 60, userId=range(len(RATINGS)))


def expected(genre: str, method: str, min_ratings: int = 3, prior_weight: float = 10) -> list[int]:
    """The genre's list in plain pandas."""
    ids = {m for m, g in zip(MOVIES["movieId"], MOVIES["genres"], strict=True) if genre in g.split("|")}
    mine = ratings()[ratings()["movieId"].isin(ids)]
    per = mine.groupby("movieId")["rating"].agg(v="count", r="mean").reset_index()
    if method == "count":
        return per.sort_values(["v", "movieId"], ascending=[False, True])["movieId"].tolist()
    c = mine["rating"].mean()  # the genre's mean in the window
    per = per[per["v"] >= min_ratings].copy()
    per["score"] = (
        per["v"] / (per["v"] + prior_weight) * per["r"] + prior_weight / (per["v"] + prior_weight) * c
    )
    return per.sort_values(["score", "v", "movieId"], ascending=[False, False, True])["movieId"].tolist()


@pytest.mark.parametrize("method", ["count", "bayes"])
def test_each_genre_ranks_its_own_movies(method: str) -> None:
    stats = aggregate(ratings(), end=END).assign(window_days=7)
    lists = rank_genres(stats, MOVIES, end_ts=as_midnight(END), window_days=[7], methods=[method])
    assert sorted(set(lists["genre"])) == ["Comedy", "Drama", "Horror"]  # a movie without genre is in none
    for genre in ("Comedy", "Drama", "Horror"):
        mine = lists[lists["genre"] == genre].sort_values("rank")
        assert mine["movieId"].tolist() == expected(genre, method), (genre, method)
        assert mine["rank"].tolist() == list(range(1, len(mine) + 1))
        assert set(mine["window_start"].astype(str)) == {"2019-01-01"}
    drama = lists[lists["genre"] == "Drama"].set_index("movieId")
    assert drama.loc[1, "title"] == "A (1990)"
    assert drama.loc[4, "genres"] == "Horror|Drama"


def test_top_n_applies_per_genre_and_no_catalogue_match_gives_nothing() -> None:
    stats = aggregate(ratings(), end=END).assign(window_days=7)
    lists = rank_genres(stats, MOVIES, end_ts=as_midnight(END), window_days=[7], methods=["count"], top_n=1)
    assert lists.groupby("genre")["movieId"].apply(list).to_dict() == {
        "Comedy": [1],
        "Drama": [4],
        "Horror": [4],
    }
    none = rank_genres(
        stats, MOVIES.assign(genres="(no genres listed)"), end_ts=as_midnight(END), window_days=[7]
    )
    assert none.empty
    assert "genre" in none.columns
