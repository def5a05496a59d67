"""The windows (include/movielens/windows.py): their two stored forms, and which windows a run can rank."""

from __future__ import annotations

import pytest

from airflow_movielens.dates import as_midnight
from include.movielens.windows import WINDOW_DAYS, WINDOWS, plan_windows, window_days, window_label

DAY = 86_400
END = as_midnight("2019-01-15")


def test_labels_and_days_are_one_vocabulary() -> None:
    assert WINDOW_DAYS == (1, 7, 30, 365)
    assert [window_label(days) for days in WINDOWS.values()] == list(WINDOWS)
    assert [window_days(window_label(days)) for days in WINDOW_DAYS] == list(WINDOW_DAYS)
    assert window_days("all") is None
    with pytest.raises(ValueError, match=r"unknown window '14d'; expected one of 1d, 7d, 30d, 365d, all$"):
        window_days("14d")


def test_plan_windows_needs_every_day_loaded() -> None:
    days = range(END - 30 * DAY, END, DAY)
    plan = plan_windows(END, days)
    assert plan == {"window_end_ts": END, "complete": [1, 7, 30], "missing": {"365": 335}}
    gap = [day for day in days if day != END - 5 * DAY]
    assert plan_windows(END, gap)["complete"] == [1]
    assert plan_windows(END, gap)["missing"] == {"7": 1, "30": 1, "365": 336}
    assert plan_windows(END, [])["complete"] == []
    with pytest.raises(ValueError, match="not a UTC midnight"):
        plan_windows(END + 1, days)
