"""Airflow 2.10 and 3.x: the one place that knows where Airflow's base classes and exceptions live.

Airflow 3 keeps them in the task SDK (``airflow.sdk``). Each name is resolved on first use, on its own (PEP
562 module ``__getattr__``), so a hook module takes ``BaseHook`` without pulling in the operator and sensor
bases: Airflow 3's ``ProvidersManager`` imports hooks while ``airflow.sdk`` may still be initialising.
"""

from __future__ import annotations

from importlib import import_module
from importlib.util import find_spec
from typing import Any

#: name -> (Airflow 3 module, Airflow 2 module)
LOCATIONS: dict[str, tuple[str, str]] = {
    "BaseHook": ("airflow.sdk", "airflow.hooks.base"),
    "BaseOperator": ("airflow.sdk", "airflow.models"),
    "BaseSensorOperator": ("airflow.sdk", "airflow.sensors.base"),
    "AirflowException": ("airflow.sdk.exceptions", "airflow.exceptions"),
    "AirflowFailException": ("airflow.sdk.exceptions", "airflow.exceptions"),
    "AirflowSensorTimeout": ("airflow.sdk.exceptions", "airflow.exceptions"),
    "AirflowSkipException": ("airflow.sdk.exceptions", "airflow.exceptions"),
}

__all__ = sorted(LOCATIONS)


def __getattr__(name: str) -> Any:
    if name not in LOCATIONS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    sdk, legacy = LOCATIONS[name]
    value = getattr(import_module(sdk if find_spec("airflow.sdk") else legacy), name)
    globals()[name] = value  # resolved once
    return value
