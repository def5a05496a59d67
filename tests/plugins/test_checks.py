"""MovielensHook.check_complete: the extra count after a transfer, with the API's answers stubbed (live:
tests/plugins/transfers)."""

from __future__ import annotations

import logging

import pytest

from airflow_movielens.dates import CLOSED, WAITING
from airflow_movielens.exceptions import MovielensDataChangedError
from airflow_movielens.hooks import MovielensHook

BASE = "http://api.test:5000"
INTERVALS = {("2019-01-01", "2019-01-02"), ("2019-02-01", "2019-02-02")}


def hook(total: int, state: str = CLOSED) -> MovielensHook:
    """A hook whose count and window state answer only for the interval it is asked about."""

    def for_the_interval(answer):
        return lambda start, end: (
            answer if (start, end) in INTERVALS else pytest.fail(f"asked {start}..{end}")
        )

    class Stubbed(MovielensHook):
        base_url = BASE
        count_ratings = staticmethod(for_the_interval(total))
        window_state = staticmethod(for_the_interval((state, None)))

    return Stubbed()


def test_a_matching_count_returns_the_total() -> None:
    assert hook(3).check_complete("2019-01-01", "2019-01-02", 3) == 3


@pytest.mark.parametrize("consequence", [None, "the table was left as it was"])
def test_a_different_count_is_a_data_change_saying_what_was_not_done(consequence) -> None:
    kwargs = {} if consequence is None else {"consequence": consequence}
    with pytest.raises(MovielensDataChangedError) as caught:
        hook(4).check_complete("2019-01-01", "2019-01-02", 3, **kwargs)
    assert str(caught.value) == (
        "fetched 3 ratings for [2019-01-01, 2019-01-02) but the API now reports 4; "
        f"the data changed during the fetch, {consequence or 'nothing was stored'}"
    )
    assert caught.value.url == f"{BASE}/ratings"


@pytest.mark.parametrize(
    ("state", "level", "word"), [(CLOSED, logging.INFO, "closed"), (WAITING, logging.WARNING, "still open")]
)
def test_an_empty_interval_is_logged_as_closed_or_still_open(caplog, state, level, word) -> None:
    log = logging.getLogger("test.checks")
    with caplog.at_level(logging.INFO, logger="test.checks"):
        assert hook(0, state).check_complete("2019-02-01", "2019-02-02", 0, log=log) == 0
    [record] = caplog.records
    assert (record.levelno, record.getMessage()) == (
        level,
        f"[2019-02-01, 2019-02-02) has no ratings; the window is {word}: storing an empty result",
    )
