"""Answering queries on ServingData: binary search for date ranges, slices for pages, orjson bodies."""

from __future__ import annotations

import numpy as np
import orjson

from movielens_api.cache import ServingData
from movielens_api.params import MoviesQuery, RatingsQuery


def _lower_bound(ts: np.ndarray, value: int) -> int:
    """Index of the first timestamp >= value (O(log n), no conversion of the column)."""
    if len(ts) == 0 or value <= ts[0]:
        return 0
    if value > ts[-1]:
        return len(ts)
    return int(np.searchsorted(ts, ts.dtype.type(value), side="left"))


def ratings_body(data: ServingData, q: RatingsQuery) -> bytes:
    """The /ratings JSON body for a validated query: rows [lo, hi) are those with start <= timestamp < end."""
    lo = 0 if q.start is None else _lower_bound(data.timestamp, q.start)
    hi = max(lo, data.rows if q.end is None else _lower_bound(data.timestamp, q.end))
    total = hi - lo
    a = lo + min(q.page.offset, total)
    b = min(a + q.page.limit, hi)
    columns = (data.user[a:b], data.movie[a:b], data.rating[a:b] * data.rating_scale, data.timestamp[a:b])
    result = [
        {"userId": u, "movieId": m, "rating": r, "timestamp": t}
        for u, m, r, t in zip(*(column.tolist() for column in columns), strict=True)
    ]
    return orjson.dumps({"result": result, "limit": q.page.limit, "offset": q.page.offset, "total": total})


def movies_body(data: ServingData, q: MoviesQuery) -> bytes:
    """The /movies JSON body: movies by ascending movieId, optionally only the requested ids."""
    if q.movie_ids is None:
        found = np.arange(len(data.movies))
    else:
        wanted = np.unique(np.asarray(q.movie_ids, dtype=np.int64))
        pos = np.searchsorted(data.movie_ids, wanted)
        hit = pos < len(data.movie_ids)
        hit[hit] = data.movie_ids[pos[hit]] == wanted[hit]
        found = pos[hit]
    total = len(found)
    a = min(q.page.offset, total)
    rows = [data.movies[i] for i in found[a : a + q.page.limit].tolist()]
    tail = b'],"limit":%d,"offset":%d,"total":%d}' % (q.page.limit, q.page.offset, total)
    return b'{"result":[' + b",".join(rows) + tail
