"""UTC days and epoch seconds (airflow_movielens.days): the conversions every other module uses."""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest

from airflow_movielens.days import DAY_SECONDS, as_date, day_after, day_epoch, epoch_day, midnight_of

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


def test_days_imports_no_airflow():
    import subprocess
    import sys

    code = "import sys, airflow_movielens.days; print(any(m.split('.')[0] == 'airflow' for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
