"""The one place that decides, at import time, which path the DAGs take: Astro SDK or TaskFlow + common-sql.

* **Airflow 2.10 with astro-sdk-python** (the default image): ``transform``/``dataframe``/``cleanup`` are the
  SDK's ``aql`` ones, tables and ``movie_rankings`` (a Dataset) are SDK ``Table`` objects.
* **Airflow 3.x** (the SDK cannot import there): the same decorators from :mod:`include.movielens.sql_tasks`,
  ``movie_rankings`` an ``airflow.sdk.Asset`` with the SDK Table's URI, names from ``airflow.sdk``, and the
  daily schedule ``CronDataIntervalTimetable("@daily", timezone="UTC")`` (a plain ``"@daily"`` has
  zero-length data intervals on Airflow 3).

The DAG files and :mod:`include.movielens.pipeline` import from here only; the choice is what is installed,
never a setting.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import Any

from airflow import __version__ as AIRFLOW_VERSION

from include.movielens import settings

__all__ = [
    "AIRFLOW_3",
    "ASTRO_SDK",
    "DAG",
    "DAILY",
    "RANKINGS_ASSET",
    "AirflowFailException",
    "AirflowSkipException",
    "BaseNotifier",
    "ObjectStoragePath",
    "Param",
    "TaskGroup",
    "cleanup",
    "dataframe",
    "get_current_context",
    "read_table",
    "table",
    "table_metadata",
    "task",
    "temp_table",
    "transform",
]

AIRFLOW_3 = int(AIRFLOW_VERSION.split(".")[0]) >= 3
#: The Astro SDK path: Airflow 2 with astro-sdk-python installed (it does not import on Airflow 3).
ASTRO_SDK = not AIRFLOW_3 and find_spec("astro") is not None
if not AIRFLOW_3 and not ASTRO_SDK:
    raise ImportError("the DAGs need astro-sdk-python on Airflow 2 (or Airflow 3, where they use TaskFlow)")

#: The URI of ``movie_rankings`` as a Dataset/Asset: the SDK Table's, so that a consumer scheduled on it (06)
#: keeps its schedule across the upgrade.
RANKINGS_URI = f"astro://{settings.RESULTS_CONN_ID}@?table={settings.RESULTS_TABLE}"

if AIRFLOW_3:
    from airflow.sdk import (
        DAG,
        Asset,
        BaseNotifier,
        CronDataIntervalTimetable,
        ObjectStoragePath,
        Param,
        TaskGroup,
        get_current_context,
        task,
    )
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from include.movielens.sql_tasks import (
        cleanup,
        dataframe,
        read_table,
        table,
        table_metadata,
        temp_table,
        transform,
    )

    DAILY: Any = CronDataIntervalTimetable("@daily", timezone="UTC")
    RANKINGS_ASSET: Any = Asset(name=settings.RESULTS_TABLE, uri=RANKINGS_URI)
else:
    from airflow.decorators import task
    from airflow.exceptions import AirflowFailException, AirflowSkipException
    from airflow.io.path import ObjectStoragePath
    from airflow.models.dag import DAG
    from airflow.models.param import Param
    from airflow.notifications.basenotifier import BaseNotifier
    from airflow.operators.python import get_current_context
    from airflow.utils.task_group import TaskGroup
    from astro import sql as aql
    from astro.table import Metadata, Table

    DAILY = "@daily"
    dataframe = aql.dataframe
    transform = aql.transform

    def cleanup(tables: list, **kwargs: Any) -> Any:
        return aql.cleanup(tables_to_cleanup=tables, **kwargs)

    def table(name: str, conn_id: str, schema: str | None = None) -> Table:
        """A named table of ``conn_id`` (SQLite ignores the schema)."""
        return Table(name=name, conn_id=conn_id, metadata=Metadata(schema=schema))

    def temp_table(conn_id: str) -> Table:
        """An unnamed (temporary) output table of ``conn_id``, dropped by :func:`cleanup`."""
        return Table(conn_id=conn_id)

    def read_table(handle: Any) -> Any:
        from astro.databases import create_database

        return create_database(handle.conn_id).export_table_to_pandas_dataframe(handle)

    def table_metadata(handle: Any) -> tuple[str, Any]:
        return handle.name, handle.sqlalchemy_metadata

    RANKINGS_ASSET = Table(name=settings.RESULTS_TABLE, conn_id=settings.RESULTS_CONN_ID)
