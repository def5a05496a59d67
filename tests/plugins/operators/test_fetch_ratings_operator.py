"""MovielensFetchRatingsOperator against the real API: every output format, reruns, checks, dag.test()."""

from __future__ import annotations

import datetime as dt
import inspect
import json

import pandas as pd
import pendulum
import pytest
from airflow.utils.state import DagRunState, TaskInstanceState

from airflow_movielens.exceptions import MovielensArgumentError, MovielensDataChangedError
from airflow_movielens.hooks import RATING_DTYPES, MovielensHook
from airflow_movielens.operators import MovielensFetchRatingsOperator
from tests.support.compat import DAG, DAILY, daily_test_dag, run_dag_test

DAY, NEXT_DAY = "2019-01-07", "2019-01-08"


def read_back(path) -> pd.DataFrame:
    """Read an output file with plain libraries (not the provider's own reader)."""
    if path.suffix == ".json":
        return pd.DataFrame(
            json.loads(path.read_text()), columns=["userId", "movieId", "rating", "timestamp"]
        )
    if path.suffix == ".jsonl":
        return pd.DataFrame([json.loads(line) for line in path.read_text().splitlines()])
    if path.suffix == ".csv":
        return pd.read_csv(path)
    return pd.read_parquet(path)


def test_signature_and_template_fields():
    params = inspect.signature(MovielensFetchRatingsOperator.__init__).parameters
    assert all(p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD) for name, p in params.items() if name != "self")
    assert params["conn_id"].default == "movielens"
    assert params["interval_start"].default == "{{ data_interval_start | ds }}"
    assert params["interval_end"].default == "{{ data_interval_end | ds }}"
    assert MovielensFetchRatingsOperator.template_fields == ("interval_start", "interval_end", "output_path")


@pytest.mark.parametrize("suffix", [".json", ".jsonl", ".csv", ".parquet"])
def test_writes_each_format_atomically_and_reruns_identically(
    movielens_api, expected_ratings, tmp_path, suffix
):
    path = tmp_path / "out" / f"ratings{suffix}"
    op = MovielensFetchRatingsOperator(
        task_id="fetch", interval_start=DAY, interval_end=NEXT_DAY, output_path=path, batch_size=700
    )
    result = op.execute({})
    expected = expected_ratings(DAY, NEXT_DAY)
    assert result == {"path": str(path), "count": len(expected), "start_date": DAY, "end_date": NEXT_DAY}
    pd.testing.assert_frame_equal(read_back(path), expected, check_dtype=False)
    first = path.read_bytes()

    op.execute({})
    assert path.read_bytes() == first, "a rerun must write the same bytes"
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name], "no temporary files left"


def test_json_is_a_list_of_records_like_the_seed(movielens_api, tmp_path):
    path = tmp_path / "ratings.json"
    MovielensFetchRatingsOperator(
        task_id="f", interval_start=DAY, interval_end=NEXT_DAY, output_path=path
    ).execute({})
    records = json.loads(path.read_text())
    assert isinstance(records, list)
    assert set(records[0]) == {"userId", "movieId", "rating", "timestamp"}
    assert isinstance(records[0]["rating"], float)
    assert isinstance(records[0]["userId"], int)


@pytest.mark.parametrize("suffix", [".json", ".jsonl", ".csv", ".parquet"])
@pytest.mark.parametrize(
    ("start", "end", "window"),
    [("2018-12-31", "2019-01-01", "closed"), ("2019-02-01", "2019-02-02", "still open")],
)
def test_empty_window_writes_an_empty_valid_file(
    movielens_api, tmp_path, caplog, capsys, suffix, start, end, window
):
    path = tmp_path / f"empty{suffix}"
    op = MovielensFetchRatingsOperator(task_id="f", interval_start=start, interval_end=end, output_path=path)
    with caplog.at_level("INFO"):
        assert op.execute({})["count"] == 0
    logged = caplog.text + capsys.readouterr().out  # Airflow 3's task logger is structlog, on stdout
    assert f"the window is {window}: storing an empty result" in logged
    if suffix == ".json":
        assert json.loads(path.read_text()) == []
    elif suffix == ".jsonl":
        assert path.read_text() == ""
    elif suffix == ".csv":
        assert path.read_text() == "userId,movieId,rating,timestamp\n"
    else:
        frame = pd.read_parquet(path)
        assert frame.empty
        assert frame.dtypes.astype(str).to_dict() == RATING_DTYPES


def test_count_mismatch_fails_and_keeps_the_previous_file(movielens_api, tmp_path, monkeypatch):
    path = tmp_path / "ratings.csv"
    path.write_text("previous\n")
    real_count = MovielensHook.count_ratings
    monkeypatch.setattr(MovielensHook, "count_ratings", lambda self, *a: real_count(self, *a) + 1)
    op = MovielensFetchRatingsOperator(
        task_id="f", interval_start=DAY, interval_end=NEXT_DAY, output_path=path
    )
    with pytest.raises(MovielensDataChangedError, match=", nothing was written$"):
        op.execute({})
    assert path.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["ratings.csv"]


def test_unknown_extension_fails_before_fetching(tmp_path):
    op = MovielensFetchRatingsOperator(
        task_id="f",
        conn_id="no_such_connection",
        interval_start=DAY,
        interval_end=NEXT_DAY,
        output_path=tmp_path / "x.xml",
    )
    with pytest.raises(MovielensArgumentError, match="use one of the extensions"):
        op.execute({})


def test_default_args_dates_do_not_hijack_the_interval():
    scheduling_start = pendulum.datetime(2018, 12, 1, tz="UTC")
    with DAG(
        "movielens_operator_default_args",
        schedule=DAILY,
        start_date=scheduling_start,
        default_args={"start_date": scheduling_start, "end_date": pendulum.datetime(2030, 1, 1, tz="UTC")},
    ):
        op = MovielensFetchRatingsOperator(task_id="f", output_path="/tmp/x.json")
    assert op.interval_start == "{{ data_interval_start | ds }}"
    assert op.interval_end == "{{ data_interval_end | ds }}"
    assert op.start_date == scheduling_start  # BaseOperator still gets its scheduling start


def test_in_dag_test_renders_the_data_interval(movielens_api, airflow_db, expected_ratings, tmp_path):
    with daily_test_dag("movielens_operator_dag_test") as dag:
        MovielensFetchRatingsOperator(task_id="fetch", output_path=str(tmp_path / "{{ ds }}.parquet"))

    # dag.test() makes a manual run: for @daily at 2019-01-09 its data interval is [01-08, 01-09).
    run = run_dag_test(dag, pendulum.datetime(2019, 1, 9, tz="UTC"))

    assert run.state == DagRunState.SUCCESS
    ti = run.get_task_instance("fetch")
    assert ti.state == TaskInstanceState.SUCCESS
    start, end = run.data_interval_start.date().isoformat(), run.data_interval_end.date().isoformat()
    assert (start, end) == ("2019-01-08", "2019-01-09")
    expected = expected_ratings(start, end)
    assert ti.xcom_pull(task_ids="fetch") == {
        "path": str(tmp_path / "2019-01-09.parquet"),
        "count": len(expected),
        "start_date": start,
        "end_date": end,
    }
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "2019-01-09.parquet"), expected)


@pytest.mark.parametrize(
    ("conn", "tries"),
    [
        ({"password": "wrong"}, 1),  # rejected credentials: failed at once, Airflow's retries unused
        ({"port": 1, "extra": {"max_retries": 0}}, 2),  # unavailable: Airflow retries the task
    ],
    ids=["auth-fails-fast", "unavailable-retried"],
)
def test_error_policy_in_dag_test(movielens_api, airflow_db, add_connection, tmp_path, conn, tries):
    conn_id = add_connection(f"ml_policy_{tries}", **{**movielens_api.connection(), **conn})
    start = pendulum.datetime(2019, 1, 1, tz="UTC")
    with DAG(
        f"movielens_operator_policy_{tries}",
        schedule=DAILY,
        start_date=start,
        catchup=False,
        default_args={"retries": 1, "retry_delay": dt.timedelta(0)},
    ) as dag:
        MovielensFetchRatingsOperator(task_id="fetch", conn_id=conn_id, output_path=str(tmp_path / "r.json"))
    run = run_dag_test(dag, pendulum.datetime(2019, 1, 9, tz="UTC"))
    ti = run.get_task_instance("fetch")
    assert ti.state == TaskInstanceState.FAILED
    assert ti.try_number == tries
    assert not (tmp_path / "r.json").exists()


def test_zero_length_window_is_rejected_with_a_hint(tmp_path):
    op = MovielensFetchRatingsOperator(
        task_id="f",
        interval_start=DAY,
        interval_end=DAY,
        output_path=tmp_path / "r.json",
        conn_id="no_such_connection",
    )
    with pytest.raises(
        MovielensArgumentError, match=r"\[2019-01-07, 2019-01-07\) is empty.*CronDataIntervalTimetable"
    ):
        op.execute({})
