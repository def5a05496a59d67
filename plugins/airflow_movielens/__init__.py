"""Apache Airflow provider for the Movie Rating API (MovieLens ratings): hook, operator and sensor.

One source of truth: this package is importable from Astro's ``plugins/`` folder and is also built as the
``airflow-movielens`` distribution, whose ``apache_airflow_provider`` entry point is
:func:`get_provider_info`. Importing the package stays cheap; the classes live in ``hooks``, ``operators``
and ``sensors``.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "get_provider_info"]


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow's ``ProvidersManager`` (connection type, hook, triggers, version).

    The connection type also carries the form declaratively (``conn-fields``, ``ui-field-behaviour``), as
    Airflow 3's UI reads it; Airflow 2 ignores those keys and asks the hook's form methods instead.
    """
    from airflow_movielens.connection import DEFAULTS, conn_fields, ui_field_behaviour

    behaviour = ui_field_behaviour(DEFAULTS)
    return {
        "package-name": "airflow-movielens",
        "name": "MovieLens",
        "description": "Hook, operator, sensor and trigger for the Movie Rating API (MovieLens ratings).",
        "versions": [__version__],
        "connection-types": [
            {
                "connection-type": "movielens",
                "hook-class-name": "airflow_movielens.hooks.MovielensHook",
                "hook-name": "MovieLens Rating API",
                "conn-fields": conn_fields(DEFAULTS),
                "ui-field-behaviour": {
                    "hidden-fields": behaviour["hidden_fields"],
                    "relabeling": behaviour["relabeling"],
                    "placeholders": behaviour["placeholders"],
                },
            }
        ],
        "triggers": [
            {
                "integration-name": "MovieLens",
                "python-modules": ["airflow_movielens.triggers"],
            }
        ],
    }
