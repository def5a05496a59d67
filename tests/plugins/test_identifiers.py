"""SQL identifiers from arguments (airflow_movielens.ratings_table), and the transfer operator refusing
``table`` / ``schema`` values before any SQL, on a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import pytest

from airflow_movielens.exceptions import MovielensArgumentError
from airflow_movielens.ratings_table import MAX_IDENTIFIER_LENGTH, sql_identifier
from airflow_movielens.transfers import MovielensRatingsToSqlOperator

DAY, NEXT_DAY = "2019-01-07", "2019-01-08"
HOSTILE = [
    'ratings"; DROP TABLE "victim',
    "ratings; DROP TABLE victim",
    'rat"ings',
    "ratings victim",
    "ratings\tx",
    "ratings\n",
    "ratings--",
    "public.ratings",
    "1ratings",
    "",
    "rätings",
]


@pytest.mark.parametrize("name", ["ratings", "_x", "Ratings_2019", "a$b", "x" * MAX_IDENTIFIER_LENGTH])
def test_plain_identifiers_pass(name: str) -> None:
    assert sql_identifier(name, "table") == name


@pytest.mark.parametrize("value", HOSTILE)
def test_anything_else_is_refused_naming_the_argument(value: str) -> None:
    with pytest.raises(MovielensArgumentError) as caught:
        sql_identifier(value, "schema")
    assert str(caught.value) == (
        f"schema must be a SQL identifier (a letter or _, then letters, digits, _ or $), got {value!r}"
    )


@pytest.mark.parametrize("value", [None, 7, b"ratings"])
def test_non_strings_are_refused(value) -> None:
    with pytest.raises(MovielensArgumentError, match=f"^table must be a SQL identifier .*got {value!r}$"):
        sql_identifier(value, "table")


def test_longer_than_postgres_keeps_is_refused() -> None:
    name = "x" * (MAX_IDENTIFIER_LENGTH + 1)
    with pytest.raises(MovielensArgumentError, match=f"^table must be at most 63 bytes long, got '{name}'"):
        sql_identifier(name, "table")


@pytest.mark.parametrize("argument", ["table", "schema"])
@pytest.mark.parametrize("value", ['ratings"; DROP TABLE "victim', 'x" (a int); DROP TABLE "victim"; --'])
def test_the_operator_refuses_an_injection_before_any_sql(results_db, argument: str, value: str) -> None:
    """A rendered template holding SQL fails the task with a message naming the argument; no table of the
    database changed (the canary table and its row are intact, no other table was created)."""
    results_db.execute(f'CREATE TABLE {results_db.schema_prefix}victim ("id" INTEGER)')
    results_db.execute(f"INSERT INTO {results_db.schema_prefix}victim VALUES (1)")
    before = results_db.tables()
    args = {"table": "ratings", "schema": "public", argument: value}
    task = MovielensRatingsToSqlOperator(
        task_id="load", sql_conn_id="movielens_results", interval_start=DAY, interval_end=NEXT_DAY, **args
    )
    with pytest.raises(MovielensArgumentError, match=f"^{argument} must be a SQL identifier"):
        task.execute({})
    assert results_db.tables() == before
    assert results_db.query(f"SELECT id FROM {results_db.schema_prefix}victim")["id"].tolist() == [1]


@pytest.mark.parametrize("argument", ["table", "schema", "days_table"])
def test_the_loader_refuses_an_injection_before_any_sql(results_db, argument: str) -> None:
    """The loader itself (what every DAG's load step calls) checks the names it interpolates."""
    from airflow.hooks.base import BaseHook

    from airflow_movielens.ratings_table import replace_interval

    results_db.execute(f'CREATE TABLE {results_db.schema_prefix}victim ("id" INTEGER)')
    before = results_db.tables()
    hook = BaseHook.get_connection("movielens_results").get_hook()
    names = {"schema": "public", argument: 'x" (a int); DROP TABLE "victim"; --'}
    with pytest.raises(MovielensArgumentError, match=f"^{argument} must be a SQL identifier"):
        replace_interval(hook, DAY, NEXT_DAY, [], **names)
    assert results_db.tables() == before
