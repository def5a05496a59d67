"""``transform``, ``dataframe`` and ``cleanup`` without the Astro SDK: TaskFlow tasks over common-sql hooks.

The Airflow 3 side of :mod:`include.movielens.compat`, keeping the SDK's contract so that
:mod:`include.movielens.pipeline` is written once. A **table handle** is a small dict ``{"conn_id", "name",
"schema"}`` that travels through XCom (:func:`temp_table`: a fresh ``_tmp_<hex>`` table, which :func:`cleanup`
drops). A ``@transform`` function returns a ``SELECT`` whose Jinja placeholders render a table argument as its
quoted, validated name and any other argument as a bind parameter; its rows go into ``output_table`` with
``CREATE TABLE ... AS``. A ``@dataframe`` function gets its ``pd.DataFrame``-annotated table arguments (the
*runtime* annotation, as the SDK reads it) as frames; a returned frame is written to ``output_table``,
anything else is returned as it is. Tasks get no metadata-database session on Airflow 3: every read and
write goes through the connection.
"""

from __future__ import annotations

import functools
import inspect
import typing
import uuid
from collections.abc import Callable
from typing import Any

import jinja2
import pandas as pd
import sqlalchemy as sa
from airflow.sdk import task

from airflow_movielens.ratings_table import quoted_name, sql_identifier
from include.movielens.database import ResultsDb

__all__ = ["cleanup", "dataframe", "read_table", "table", "table_metadata", "temp_table", "transform"]

#: Marks a handle that asks for a fresh temporary table (given its name when the task runs).
_TEMP = "__temporary__"


def table(name: str, conn_id: str, schema: str | None = None) -> dict:
    """A named table of ``conn_id`` (the schema applies where the database has schemas)."""
    return {"conn_id": conn_id, "name": sql_identifier(name, "table"), "schema": schema}


def temp_table(conn_id: str) -> dict:
    """A temporary output table of ``conn_id``: named when the task writes it, dropped by :func:`cleanup`."""
    return {"conn_id": conn_id, "name": _TEMP, "schema": None}


def is_handle(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"conn_id", "name", "schema"}


def _resolved(handle: dict) -> tuple[sa.engine.Engine, str, str | None]:
    """The engine, checked name and schema (SQLite: none; else the handle's or the results schema)."""
    db = ResultsDb.connect(handle["conn_id"])
    name = sql_identifier(handle["name"], "table")
    if db.schema is None:
        return db.engine, name, None
    return db.engine, name, sql_identifier(handle["schema"], "schema") if handle["schema"] else db.schema


def _named(output: dict) -> dict:
    """The output handle with a fresh temporary name where one was asked for."""
    return {**output, "name": f"_tmp_{uuid.uuid4().hex}"} if output["name"] == _TEMP else output


def _quoted(handle: dict) -> tuple[sa.engine.Engine, str]:
    """The engine and the quoted (schema-qualified) name of a handle's table."""
    engine, name, schema = _resolved(handle)
    return engine, quoted_name(name, schema)


def table_metadata(handle: dict) -> tuple[str, sa.MetaData]:
    """``(name, MetaData with its schema)`` of a handle, to reflect the table."""
    _, name, schema = _resolved(handle)
    return name, sa.MetaData(schema=schema)


def read_table(handle: dict) -> pd.DataFrame:
    """Every row of a handle's table, as a DataFrame."""
    engine, name = _quoted(handle)
    with engine.connect() as conn:
        return pd.read_sql_query(sa.text(f"SELECT * FROM {name}"), conn)


def write_table(frame: pd.DataFrame, output: dict) -> dict:
    """Write ``frame`` into the (new) table of ``output``; return the handle that names it."""
    output = _named(output)
    engine, name, schema = _resolved(output)
    with engine.begin() as conn:
        frame.to_sql(name, conn, schema=schema, index=False, if_exists="replace", chunksize=1000)
    return output


def _task(func: Callable, run: Callable, task_kwargs: dict) -> Any:
    """The task of ``run``, with ``func``'s signature plus the keyword ``output_table`` (TaskFlow binds by
    signature)."""
    signature = inspect.signature(func)
    extra = inspect.Parameter("output_table", inspect.Parameter.KEYWORD_ONLY, default=None)
    functools.update_wrapper(run, func)
    del run.__wrapped__
    run.__signature__ = signature.replace(parameters=[*signature.parameters.values(), extra])
    return task(**task_kwargs)(run)


def transform(**task_kwargs: Any) -> Callable[[Callable], Any]:
    """A task that runs the ``SELECT`` its function returns into ``output_table`` (see the module doc)."""

    def decorate(func: Callable) -> Any:
        def run(*args: Any, output_table: dict | None = None, **kwargs: Any) -> dict:
            if output_table is None:
                raise ValueError(f"{func.__name__}: a transform needs an output_table")
            bound = inspect.signature(func).bind(*args, **kwargs).arguments
            names = {arg: _quoted(v)[1] if is_handle(v) else f":{arg}" for arg, v in bound.items()}
            params = {arg: v for arg, v in bound.items() if not is_handle(v)}
            select = jinja2.Environment(autoescape=False).from_string(func(*args, **kwargs)).render(names)
            output = _named(output_table)
            engine, name = _quoted(output)
            with engine.begin() as conn:
                conn.execute(sa.text(f"CREATE TABLE {name} AS {select}"), params)
            return output

        return _task(func, run, task_kwargs)

    return decorate


def dataframe(**task_kwargs: Any) -> Callable[[Callable], Any]:
    """A task that hands its ``pd.DataFrame`` arguments over as frames and stores a returned frame in
    ``output_table`` (see the module doc)."""

    def decorate(func: Callable) -> Any:
        hints = typing.get_type_hints(func)
        frames = {arg for arg, hint in hints.items() if arg != "return" and hint is pd.DataFrame}

        def run(*args: Any, output_table: dict | None = None, **kwargs: Any) -> Any:
            bound = inspect.signature(func).bind(*args, **kwargs)
            for arg in frames & set(bound.arguments):
                if is_handle(bound.arguments[arg]):
                    bound.arguments[arg] = read_table(bound.arguments[arg])
            result = func(*bound.args, **bound.kwargs)
            if isinstance(result, pd.DataFrame) and output_table is not None:
                return write_table(result, output_table)
            return result

        return _task(func, run, task_kwargs)

    return decorate


def _drop(handles: list[dict | None]) -> list[str]:
    """Drop the temporary tables of ``handles`` (``None``: a skipped task wrote none); the names dropped."""
    temporary = [handle for handle in handles if is_handle(handle) and handle["name"].startswith("_tmp_")]
    for handle in temporary:
        engine, name = _quoted(handle)
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
    return [handle["name"] for handle in temporary]


def cleanup(tables: list, **task_kwargs: Any) -> Any:
    """A task that drops the run's temporary tables, whatever happened upstream (make it a teardown)."""
    return task(**{"trigger_rule": "all_done", **task_kwargs})(_drop)(tables)
