"""The ``movielens`` connection form of the Airflow UI: extra fields, labels and placeholders.

wtforms and flask-appbuilder are imported inside the function: only the webserver needs them.
"""

from __future__ import annotations

from typing import Any

from airflow_movielens.settings import Defaults

__all__ = ["connection_form_widgets", "ui_field_behaviour"]


def connection_form_widgets() -> dict[str, Any]:
    """Extra fields of the connection form (stored in the connection's extras)."""
    from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import IntegerField
    from wtforms.validators import NumberRange, Optional

    def field(label: str, least: int) -> IntegerField:
        return IntegerField(
            lazy_gettext(label), widget=BS3TextFieldWidget(), validators=[Optional(), NumberRange(min=least)]
        )

    return {
        "timeout": field("Read timeout (seconds)", 1),
        "batch_size": field("Page size (ratings per request)", 1),
        "max_retries": field("Retries", 0),
    }


def ui_field_behaviour(defaults: Defaults) -> dict[str, Any]:
    """Labels and placeholders of the connection form, showing the hook's defaults."""
    return {
        "hidden_fields": [],
        "relabeling": {"schema": "Scheme (http or https)", "login": "Username"},
        "placeholders": {
            "host": "movielens-api",
            "port": str(defaults.port),
            "schema": defaults.scheme,
            "login": "airflow",
            "password": "airflow",
            "timeout": str(int(defaults.timeout)),
            "batch_size": str(defaults.batch_size),
            "max_retries": str(defaults.max_retries),
            "extra": '{"connect_timeout": 5, "backoff": 1.0}',
        },
    }
