"""airflow_movielens.dates: UTC days, epoch seconds, the date arguments of the hook, operator and sensor."""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest

from airflow_movielens.dates import (
    DAY_SECONDS,
    as_date,
    as_midnight,
    day_after,
    day_epoch,
    epoch_day,
    midnight_of,
    task_window,
    to_api_date,
    validate_interval,
)
from airflow_movielens.exceptions import AirflowFailException, MovielensArgumentError
from tests.support.timezone import local_time_zone


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


JAN_1_2019 = 1_546_300_800


def test_day_epoch_and_epoch_day_are_inverse_at_midnight_and_floor_inside_the_day():
    assert day_epoch("2019-01-01") == day_epoch(dt.date(2019, 1, 1)) == JAN_1_2019
    assert epoch_day(JAN_1_2019) == dt.date(2019, 1, 1)
    assert epoch_day(JAN_1_2019 + DAY_SECONDS - 1) == dt.date(2019, 1, 1)
    assert epoch_day(JAN_1_2019 - 1) == dt.date(2018, 12, 31)
    assert DAY_SECONDS == 24 * 60 * 60


@pytest.mark.parametrize(
    ("moment", "day"),
    [
        (dt.datetime(2019, 1, 3), dt.date(2019, 1, 3)),  # naive: UTC
        (pendulum.datetime(2019, 1, 2, 19, tz="America/New_York"), dt.date(2019, 1, 3)),
        (dt.datetime(2019, 1, 3, 0, 0, 1), None),
        (pendulum.datetime(2019, 1, 3, tz="Asia/Seoul"), None),
    ],
)
def test_midnight_of(moment, day):
    assert midnight_of(moment) == day


def test_window_end_of_a_day_is_the_next_midnight() -> None:
    assert day_after("2019-12-31") == dt.date(2020, 1, 1)
    assert day_after(dt.date(2019, 2, 28)) == dt.date(2019, 3, 1)


def test_as_date_reads_what_database_drivers_give():
    assert as_date("2019-01-03 00:00:00") == as_date(dt.datetime(2019, 1, 3, 5)) == dt.date(2019, 1, 3)
    assert as_date(dt.date(2019, 1, 3)) == dt.date(2019, 1, 3)


def test_dates_imports_no_airflow():
    import subprocess
    import sys

    code = (
        "import sys, airflow_movielens.dates; print(any(m.split('.')[0] == 'airflow' for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_as_midnight_checks_the_day_as_the_api_arguments_are() -> None:
    assert as_midnight("2019-01-01") == 1_546_300_800
    with pytest.raises(MovielensArgumentError) as caught:
        as_midnight("01/01/2019")
    assert str(caught.value) == "date must be a date in YYYY-MM-DD form, got '01/01/2019'"
    with pytest.raises(MovielensArgumentError) as caught:
        as_midnight("2019-02-30", "day")
    assert str(caught.value) == "day is not a valid calendar date: '2019-02-30'"
    with pytest.raises(MovielensArgumentError) as caught:
        as_midnight(None, "day")
    assert str(caught.value) == "day is required, got None"


def test_as_midnight_is_utc_midnight_whatever_the_local_time_zone() -> None:
    with local_time_zone("Asia/Tokyo"):
        assert as_midnight("2019-01-01") == 1_546_300_800


def test_epoch_day_is_the_utc_day_whatever_the_local_time_zone() -> None:
    with local_time_zone("America/Los_Angeles"):  # 2019-01-01T00:00Z is still 2018-12-31 there
        assert epoch_day(JAN_1_2019) == dt.date(2019, 1, 1)
    with local_time_zone("Asia/Tokyo"):  # 2019-01-01T23:59:59Z is 2019-01-02 there
        assert epoch_day(JAN_1_2019 + DAY_SECONDS - 1) == dt.date(2019, 1, 1)


def test_to_api_date_names_a_date_by_default() -> None:
    with pytest.raises(MovielensArgumentError) as caught:
        to_api_date("2019/01/03")
    assert str(caught.value) == "date must be a date in YYYY-MM-DD form, got '2019/01/03'"


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2019/01/02", None, "start_date must be a date in YYYY-MM-DD form, got '2019/01/02'"),
        (None, "2019/01/02", "end_date must be a date in YYYY-MM-DD form, got '2019/01/02'"),
    ],
)
def test_validate_interval_names_the_bad_bound(start, end, message) -> None:
    with pytest.raises(MovielensArgumentError) as caught:
        validate_interval(start, end)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("start", "end", "window"),
    [
        ("2019-01-01", "2019-01-02", ("2019-01-01", "2019-01-02")),
        (dt.date(2019, 1, 1), None, ("2019-01-01", None)),
        (None, "2019-01-02", (None, "2019-01-02")),
        (None, None, (None, None)),  # unbounded on both sides is not a zero-length window
    ],
)
def test_task_window_accepts_a_window_of_at_least_a_day_or_an_open_one(start, end, window) -> None:
    assert task_window(start, end) == window


def test_task_window_rejects_a_zero_length_window_saying_how_to_fix_it() -> None:
    with pytest.raises(MovielensArgumentError) as caught:
        task_window("2019-01-03", dt.date(2019, 1, 3))
    assert str(caught.value) == (
        "the window [2019-01-03, 2019-01-03) is empty (start and end are the same day). On Airflow 3 a cron "
        "schedule has zero-length data intervals: use CronDataIntervalTimetable or a timedelta schedule "
        "(or [scheduler] create_cron_data_intervals = True), or pass the window's dates explicitly"
    )
    with pytest.raises(MovielensArgumentError, match="end_date 2019-01-02 is before start_date 2019-01-03"):
        task_window("2019-01-03", "2019-01-02")
