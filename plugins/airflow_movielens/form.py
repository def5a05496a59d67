"""The ``movielens`` connection form of the Airflow UI: extra fields, labels and placeholders.

One description, two renderings: the wtforms widgets of Airflow 2's UI (``get_connection_form_widgets``;
wtforms and flask-appbuilder are imported inside the function, only the webserver needs them) and the
declarative ``conn-fields`` / ``ui-field-behaviour`` of the provider info that Airflow 3's UI reads.
"""

from __future__ import annotations

from typing import Any

from airflow_movielens.settings import Defaults

__all__ = ["EXTRA_FIELDS", "conn_fields", "connection_form_widgets", "ui_field_behaviour"]

#: Extra fields of the form: name -> (label, smallest value). All integers, all optional.
EXTRA_FIELDS: dict[str, tuple[str, int]] = {
    "timeout": ("Read timeout (seconds)", 1),
    "batch_size": ("Page size (ratings per request)", 1),
    "max_retries": ("Retries", 0),
}


def connection_form_widgets() -> dict[str, Any]:
    """Extra fields as wtforms widgets (Airflow 2)."""
    from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import IntegerField
    from wtforms.validators import NumberRange, Optional

    return {
        name: IntegerField(
            lazy_gettext(label), widget=BS3TextFieldWidget(), validators=[Optional(), NumberRange(min=least)]
        )
        for name, (label, least) in EXTRA_FIELDS.items()
    }


def conn_fields(defaults: Defaults) -> dict[str, Any]:
    """Extra fields as the provider info's declarative ``conn-fields`` (Airflow 3)."""
    return {
        name: {
            "label": label,
            "schema": {"type": ["integer", "null"], "minimum": least, "default": getattr(defaults, name)},
        }
        for name, (label, least) in EXTRA_FIELDS.items()
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
