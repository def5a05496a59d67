"""Default templates of the provider's window arguments (no Airflow import: the DAGs' settings use them too).

The run's data interval, as whole days: ``[data_interval_start, data_interval_end)`` as ``YYYY-MM-DD``. These
context keys exist on Airflow 2.10 and 3.x alike.
"""

from __future__ import annotations

__all__ = ["DEFAULT_END_TEMPLATE", "DEFAULT_START_TEMPLATE"]

DEFAULT_START_TEMPLATE = "{{ data_interval_start | ds }}"
DEFAULT_END_TEMPLATE = "{{ data_interval_end | ds }}"
