"""05_history and 06_evaluation triggered with bad ``conf``: refused before any write, with a message naming
the bad value. Two layers: the params' JSON schema refuses what is not a day (or a negative horizon) when the
run is created, as the CLI, the UI and the REST API do; the first task refuses what a schema cannot tell (the
order of the days, a range beyond the dataset), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator

import pytest
from airflow.exceptions import ParamValidationError

from airflow_movielens.exceptions import MovielensArgumentError
from airflow_movielens.hooks import MovielensHook
from include.movielens.evaluation import check_params
from include.movielens.history import check_history_range
from tests.support.compat import AIRFLOW_3, run_dag_test
from tests.support.dag_runs import states

pytestmark = pytest.mark.usefixtures("airflow_db")
LOGICAL_DATE = dt.datetime(2019, 2, 1, tzinfo=dt.UTC)
#: The test dataset: ratings from 2019-01-01 to 2019-01-14.
HISTORY = {"history_start": "2019-01-01", "history_end": "2019-01-15"}


@pytest.fixture
def task_log(capfd) -> Iterator[Callable[[], list[str]]]:
    """What the tasks of the test's runs logged so far, exceptions included. Airflow 2: the records of the
    ``airflow.task`` logger (dag.test() keeps one console handler on it across runs, so stdout capture cannot
    be relied on); Airflow 3: the task runner's structlog output, which bypasses the logging handlers."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    def logged() -> list[str]:
        if AIRFLOW_3:
            out, err = capfd.readouterr()
            lines.extend((out + err).splitlines())
        return lines

    handler = Collect(logging.INFO)
    logger = logging.getLogger("airflow.task")
    logger.addHandler(handler)
    try:
        yield logged
    finally:
        logger.removeHandler(handler)


@pytest.mark.parametrize(
    ("dag_id", "conf", "message"),
    [
        ("05_history", {"history_start": "yesterday"}, "param history_start: 'yesterday' is not a 'date'"),
        ("05_history", {"history_end": "2019-02-30"}, "param history_end: '2019-02-30' is not a 'date'"),
        ("05_history", {"history_end": 20190101}, "param history_end: 20190101 is not of type 'string'"),
        ("06_evaluation", {"cutoffs": ["2019-1-8"]}, "param cutoffs: '2019-1-8' is not a 'date'"),
        ("06_evaluation", {"cutoffs": "2019-01-08"}, "param cutoffs: '2019-01-08' is not of type 'array'"),
        ("06_evaluation", {"horizon_days": -5}, "param horizon_days: -5 is less than the minimum of 1"),
        ("06_evaluation", {"k": 0}, "param k: 0 is less than the minimum of 1"),
    ],
)
def test_a_conf_the_params_refuse_creates_no_run(dags, workspace, dag_id: str, conf: dict, message: str):
    with pytest.raises(ParamValidationError, match=f"^Invalid input for {message}"):
        run_dag_test(dags[dag_id], LOGICAL_DATE, run_conf=conf)
    assert workspace["db"].tables() == []


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        (
            {"history_start": "2019-01-10", "history_end": "2019-01-05"},
            "history_end 2019-01-05 must be after",
        ),
        (
            {"history_start": "2019-01-05", "history_end": "2019-01-05"},
            "history_end 2019-01-05 must be after",
        ),
        ({"history_start": "2019-01-01", "history_end": "2019-03-01"}, "history_end 2019-03-01 lies beyond"),
        ({"history_start": "1990-01-01", "history_end": "1990-02-01"}, "holds no rating of the dataset"),
    ],
)
def test_a_history_range_outside_the_dataset_fails_before_any_write(
    dags, workspace, task_log, conf: dict, message: str
) -> None:
    dag_run = run_dag_test(dags["05_history"], LOGICAL_DATE, run_conf=conf)
    assert dag_run.state == "failed"
    assert states(dag_run) == {"check_range": "failed", "load_history": "upstream_failed"}
    assert any(message in line for line in task_log()), task_log()[-5:]
    assert workspace["db"].tables() == []


def test_history_range_messages(movielens_api) -> None:
    with MovielensHook() as hook:
        assert check_history_range(hook, "2019-01-14", "2019-01-15") == {
            "history_start": "2019-01-14",
            "history_end": "2019-01-15",
            "ratings": hook.count_ratings("2019-01-14", "2019-01-15"),
        }
        cases = {
            ("01/01/2019", "2019-01-02"): "history_start must be a date in YYYY-MM-DD form, got '01/01/2019'",
            (
                "2019-01-01",
                None,
            ): "history_start and history_end are both required, got '2019-01-01' and None",
            ("2019-01-10", "2019-01-05"): "history_end 2019-01-05 must be after history_start 2019-01-10",
            ("2019-01-01", "2019-01-16"): (
                "history_end 2019-01-16 lies beyond the dataset, whose newest rating is of 2019-01-14: "
                "load up to 2019-01-15 at most (later days may still receive ratings)"
            ),
            ("2018-01-01", "2018-12-31"): (
                "[history_start, history_end) = [2018-01-01, 2018-12-31) holds no rating of the dataset "
                "(newest: 2019-01-14)"
            ),
        }
        for (start, end), message in cases.items():
            with pytest.raises(MovielensArgumentError) as caught:
                check_history_range(hook, start, end)
            assert str(caught.value) == message


def test_a_cutoff_beyond_the_loaded_ratings_fails_the_run_and_stores_nothing(dags, workspace, task_log):
    assert run_dag_test(dags["05_history"], LOGICAL_DATE, run_conf=HISTORY).state == "success"
    # a horizon past the data, no rating before the cutoff, far beyond the data
    for i, cutoffs in enumerate((["2019-01-12"], ["2019-01-01"], ["2030-01-01"]), start=1):
        dag_run = run_dag_test(
            dags["06_evaluation"],
            LOGICAL_DATE + dt.timedelta(days=i),
            run_conf={"cutoffs": cutoffs, "horizon_days": 5},
        )
        assert states(dag_run) == {"evaluate_rankings": "failed", "choose_list": "upstream_failed"}, cutoffs
        message = f"cutoffs: {cutoffs[0]} with a 5-day horizon lies beyond the loaded ratings"
        assert any(message in line for line in task_log()), task_log()[-5:]
    assert not any(table.endswith("ranking_evaluation") for table in workspace["db"].tables())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((["2019-01-08"], 0, 10), "horizon_days must be a whole number >= 1, got 0"),
        ((["2019-01-08"], "30", 10), "horizon_days must be a whole number >= 1, got '30'"),
        ((["2019-01-08"], True, 10), "horizon_days must be a whole number >= 1, got True"),
        ((["2019-01-08"], 30, -1), "k must be a whole number >= 1, got -1"),
        (("2019-01-08", 30, 10), "cutoffs must be a list of YYYY-MM-DD days, got '2019-01-08'"),
        ((["2019-01-08T06:00"], 30, 10), "cutoffs must be a date in YYYY-MM-DD form, got '2019-01-08T06:00'"),
        ((["2019-02-30"], 30, 10), "cutoffs is not a valid calendar date: '2019-02-30'"),
    ],
)
def test_evaluation_params_are_checked_before_anything_is_read(args, message: str) -> None:
    with pytest.raises(MovielensArgumentError) as caught:
        check_params(*args)
    assert str(caught.value) == message


def test_valid_evaluation_params_give_days() -> None:
    assert check_params(["2019-01-08", dt.date(2019, 2, 1)], 30, 10) == [
        dt.date(2019, 1, 8),
        dt.date(2019, 2, 1),
    ]
    assert check_params([], 1, 1) == []
