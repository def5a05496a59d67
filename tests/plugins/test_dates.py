"""Date normalisation shared by the hook, operator and sensor."""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest

from airflow_movielens.dates import to_api_date, validate_interval


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
    ("value", "error", "message"),
    [
        ("20190103", ValueError, "YYYY-MM-DD"),
        ("2019-1-3", ValueError, "YYYY-MM-DD"),
        ("2019-13-01", ValueError, "not a valid calendar date"),
        ("2019-01-03T00:00", ValueError, "YYYY-MM-DD"),
        (dt.datetime(2019, 1, 3, 0, 0, 1), ValueError, "midnight UTC"),
        (pendulum.datetime(2019, 1, 3, tz="Asia/Seoul"), ValueError, "midnight UTC"),
        (20190103, TypeError, "str, date or datetime"),
    ],
)
def test_to_api_date_rejects(value, error, message):
    with pytest.raises(error, match=message):
        to_api_date(value, "start_date")


def test_validate_interval():
    assert validate_interval("2019-01-01", "2019-01-01") == ("2019-01-01", "2019-01-01")
    assert validate_interval(None, dt.date(2019, 1, 2)) == (None, "2019-01-02")
    with pytest.raises(ValueError, match="before start_date"):
        validate_interval("2019-01-02", "2019-01-01")
