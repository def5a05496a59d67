"""Airflow 2.10 and 3.x: the one place that knows where Airflow's base classes and exceptions live.

Airflow 3 exposes them through the task SDK (``airflow.sdk``), which Airflow 2 does not have. Each name is
resolved on first use, on its own (PEP 562 module ``__getattr__``): importing this module imports nothing
from Airflow, so a hook module can take ``BaseHook`` without pulling in the operator and sensor bases —
Airflow 3's ``ProvidersManager`` imports hooks while ``airflow.sdk`` may still be initialising.
"""

from __future__ import annotations

from importlib import import_module
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


def _module_of(name: str) -> str:
    sdk, legacy = LOCATIONS[name]
    try:
        import_module("airflow.sdk")
    except ModuleNotFoundError as exc:
        if exc.name not in ("airflow.sdk", "airflow"):
            raise
        return legacy
    return sdk


def __getattr__(name: str) -> Any:
    if name not in LOCATIONS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_module_of(name)), name)
    globals()[name] = value  # resolved once
    return value
