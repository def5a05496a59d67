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
    """Describe the provider to Airflow's ``ProvidersManager`` (connection type, hook, version)."""
    return {
        "package-name": "airflow-movielens",
        "name": "MovieLens",
        "description": "Hook, operator and sensor for the Movie Rating API serving MovieLens ratings.",
        "versions": [__version__],
        "connection-types": [
            {"connection-type": "movielens", "hook-class-name": "airflow_movielens.hooks.MovielensHook"}
        ],
    }
