"""The row search behind /ratings' date bounds: ``_lower_bound`` agrees with numpy's own left search."""

from __future__ import annotations

import numpy as np
import pytest

from movielens_api.query import _lower_bound

STAMPS = np.array([10, 20, 20, 30, 40, 40], dtype=np.uint32)


@pytest.mark.parametrize("value", [0, 9, 10, 11, 20, 21, 30, 39, 40, 41, 10**6])
def test_lower_bound_is_the_first_index_at_or_after_value(value: int) -> None:
    assert _lower_bound(STAMPS, value) == int(np.searchsorted(STAMPS, value, side="left"))


@pytest.mark.parametrize(("value", "expected"), [(4, 0), (5, 0), (6, 1)])
def test_lower_bound_of_a_single_timestamp(value: int, expected: int) -> None:
    assert _lower_bound(np.array([5], dtype=np.uint32), value) == expected


def test_lower_bound_of_no_timestamps_is_zero() -> None:
    assert _lower_bound(np.array([], dtype=np.uint32), 5) == 0
