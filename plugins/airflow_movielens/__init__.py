"""Apache Airflow provider for the Movie Rating API (MovieLens ratings): hook, operators, sensor, trigger.

Importable from Astro's ``plugins/`` folder and built as the ``airflow-movielens`` distribution (entry point
:func:`get_provider_info`). Importing the package stays cheap: the classes live in their modules.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "get_provider_info"]


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow's ``ProvidersManager`` (connection type, hook, triggers, version).

    The connection form is also declared (``conn-fields``, ``ui-field-behaviour``) for Airflow 3's UI;
    Airflow 2 ignores those keys and asks the hook's form methods.
    """
    from airflow_movielens.connection import DEFAULTS, conn_fields, ui_field_behaviour

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
                    key.replace("_", "-"): value for key, value in ui_field_behaviour(DEFAULTS).items()
                },
            }
        ],
        "triggers": [{"integration-name": "MovieLens", "python-modules": ["airflow_movielens.triggers"]}],
    }
