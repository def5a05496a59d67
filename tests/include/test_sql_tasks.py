"""The Airflow 3 path's table handles (include/movielens/sql_tasks.py) on real SQLite and PostgreSQL:
written, read back, reflected and dropped through the results connection; names that could leave their
quotes refused."""

from __future__ import annotations

import pandas as pd
import pytest

from airflow_movielens.exceptions import MovielensArgumentError
from tests.environment import other_airflow
from tests.support.compat import AIRFLOW_3

pytestmark = pytest.mark.skipif(
    not AIRFLOW_3,
    reason=other_airflow("sql_tasks is the Airflow 3 path (airflow.sdk); Airflow 2 runs the SDK's"),
)
CONN_ID = "movielens_results"


def test_a_frame_round_trips_through_a_temporary_table_that_cleanup_drops(results_db) -> None:
    from include.movielens.sql_tasks import _drop, read_table, table_metadata, temp_table, write_table

    frame = pd.DataFrame({"window_days": [1, 7], "movieId": [10, 20], "decayed": [0.5, 1.25]})
    handle = write_table(frame, temp_table(CONN_ID))
    assert handle["name"].startswith("_tmp_")
    pd.testing.assert_frame_equal(read_table(handle), frame)
    name, metadata = table_metadata(handle)
    assert (name, metadata.schema) == (handle["name"], "public" if results_db.kind == "postgres" else None)
    assert _drop([handle, None]) == [handle["name"]]
    assert handle["name"] not in [table.rsplit(".", 1)[-1] for table in results_db.tables()]


def test_a_named_table_is_never_dropped_by_cleanup(results_db) -> None:
    from include.movielens.sql_tasks import _drop, table, write_table

    handle = write_table(pd.DataFrame({"x": [1]}), table("kept", CONN_ID))
    assert _drop([handle]) == []
    assert f"{results_db.schema_prefix}kept" in results_db.tables()


@pytest.mark.parametrize("name", ['ratings"; DROP TABLE ratings; --', "two words", "", "9lives"])
def test_a_table_name_that_is_not_an_identifier_is_refused(name: str) -> None:
    from include.movielens.sql_tasks import table

    with pytest.raises(MovielensArgumentError, match="table must be a SQL identifier"):
        table(name, CONN_ID)


def test_a_schema_that_is_not_an_identifier_is_refused(results_db) -> None:
    from include.movielens.sql_tasks import read_table

    if results_db.kind == "sqlite":
        pytest.skip("SQLite has no schemas: the handle's schema is not used there")
    with pytest.raises(MovielensArgumentError, match="schema must be a SQL identifier"):
        read_table({"conn_id": CONN_ID, "name": "ratings", "schema": 'public"."x'})
