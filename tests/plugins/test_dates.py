"""Date normalisation shared by the hook, operator and sensor."""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest

from airflow_movielens.dates import to_api_date, validate_interval
from airflow_movielens.exceptions import AirflowFailException, MovielensArgumentError


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("2019-01-03", "2019-01-03"),
        (" 2019-01-03 ", "2019-01-03"),
        (dt.date(2019, 1, 3), "2019-01-03"),
        (dt.datetime(2019, 1, 3), "2019-01-03"),
        (dt.datetime(2019, 1, 3, tzinfo=dt.UTC), "2019-01-03"),
        (pendulum.date(2019, 1, 3), "2019-01-03"),
        (pendulum.datetime(2019, 1, 3, tz="UTC"), "2019-01-03"),
        (pendulum.datetime(2019, 1, 2, 19, tz="America/New_York"), "2019-01-03"),
    ],
)
def test_to_api_date(value, expected):
    assert to_api_date(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("20190103", "start_date must be a date in YYYY-MM-DD form, got '20190103'"),
        ("2019-1-3", "YYYY-MM-DD form, got '2019-1-3'"),
        ("2019-13-01", "not a valid calendar date: '2019-13-01'"),
        ("2019-01-03T00:00", "YYYY-MM-DD form, got '2019-01-03T00:00'"),
        (dt.datetime(2019, 1, 3, 0, 0, 1), "midnight UTC.*2019-01-03T00:00:01"),
        (pendulum.datetime(2019, 1, 3, tz="Asia/Seoul"), "midnight UTC.*2019-01-03T00:00:00\\+09:00"),
        (20190103, "str, date or datetime, got 20190103 \\(int\\)"),
    ],
)
def test_to_api_date_rejects_with_one_error_type_naming_the_value(value, message):
    with pytest.raises(MovielensArgumentError, match=message) as caught:
        to_api_date(value, "start_date")
    assert isinstance(caught.value, ValueError), "still a ValueError for plain Python callers"
    assert isinstance(caught.value, AirflowFailException), "bad arguments never go through task retries"


def test_validate_interval():
    assert validate_interval("2019-01-01", "2019-01-01") == ("2019-01-01", "2019-01-01")
    assert validate_interval(None, dt.date(2019, 1, 2)) == (None, "2019-01-02")
    with pytest.raises(MovielensArgumentError, match="end_date 2019-01-01 is before start_date 2019-01-02"):
        validate_interval("2019-01-02", "2019-01-01")
