"""The ``movielens`` connection: its form in the Airflow UI, and the settings the hook resolves from it.

Caller arguments win over the connection's extras, which win over the hook's class defaults; a bad value
fails naming the connection, the field and the value. The form is described once, rendered as wtforms widgets
for Airflow 2 (imported inside the function: only the webserver needs them) and as the provider info's
``conn-fields`` for Airflow 3. No Airflow import: the provider info reads this while Airflow may be starting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_movielens.dates import argument_error

if TYPE_CHECKING:
    from airflow.models.connection import Connection

#: A read timeout in seconds, or a ``(connect, read)`` pair.
Timeout = float | tuple[float, float]

_TINY = 1e-3  # a zero timeout would fail every request


@dataclass(frozen=True)
class HookSettings:
    """What the hook uses for every request."""

    base_url: str
    timeout: tuple[float, float]
    max_retries: int
    backoff: float
    batch_size: int


@dataclass(frozen=True)
class Defaults:
    """The hook's class defaults: what neither the caller nor the connection sets."""

    scheme: str = "http"
    port: int = 5000
    connect_timeout: float = 5.0
    timeout: float = 60.0
    max_retries: int = 5
    backoff: float = 1.0
    batch_size: int = 10_000  # ratings per request: the API's ``limit``


#: The defaults of :class:`~airflow_movielens.hooks.MovielensHook` (a subclass may change its own).
DEFAULTS = Defaults()


@dataclass(frozen=True)
class Overrides:
    """Values the caller passed to the hook; ``None`` means "not given"."""

    timeout: Timeout | None = None
    max_retries: int | None = None
    backoff: float | None = None
    batch_size: int | None = None


def resolve_settings(
    conn: Connection, conn_id: str, conn_type: str, overrides: Overrides, defaults: Defaults
) -> HookSettings:
    """Merge caller overrides, the connection's extras and the defaults into checked settings (a value of the
    wrong kind or out of range, or a connection without host, is an argument error)."""
    extras = conn.extra_dejson if conn.extra else {}
    of_conn = f"of connection '{conn_id}'"

    def extra(name: str) -> Any:
        # The UI stores form fields either plain or with the legacy "extra__<conn_type>__" prefix.
        value = extras.get(name, extras.get(f"extra__{conn_type}__{name}"))
        return None if value == "" else value

    def pick(name: str, caller: Any, extra_value: Any, default: Any, least: float, kind: type = float) -> Any:
        """The caller's value, else the connection's extra, else the default."""
        for source, value in (("argument", caller), ("connection extra", extra_value)):
            if value is not None:
                return _checked(f"{source} {name!r} {of_conn}", value, kind, least)
        return default

    caller_connect, caller_read = _split_timeout(overrides.timeout, f"argument 'timeout' {of_conn}")
    extra_connect, extra_read = _split_timeout(extra("timeout"), f"connection extra 'timeout' {of_conn}")
    if extra_connect is None:
        extra_connect = extra("connect_timeout")
    connect = pick("connect_timeout", caller_connect, extra_connect, defaults.connect_timeout, _TINY)
    read = pick("timeout", caller_read, extra_read, defaults.timeout, _TINY)
    return HookSettings(
        base_url=base_url(conn, conn_id, defaults),
        timeout=(connect, read),
        max_retries=pick(
            "max_retries", overrides.max_retries, extra("max_retries"), defaults.max_retries, 0, int
        ),
        backoff=pick("backoff", overrides.backoff, extra("backoff"), defaults.backoff, 0),
        batch_size=pick("batch_size", overrides.batch_size, extra("batch_size"), defaults.batch_size, 1, int),
    )


def basic_auth(conn: Connection) -> tuple[str, str] | None:
    """``(login, password)`` of a connection, ``None`` when it has no login."""
    return (conn.login, conn.password or "") if conn.login else None


def base_url(conn: Connection, conn_id: str, defaults: Defaults) -> str:
    """``scheme://host:port`` of the API from the connection (host may already hold a scheme or port)."""
    host = (conn.host or "").strip().rstrip("/")
    if not host:
        raise argument_error(f"connection '{conn_id}' has no host (got {conn.host!r})")
    if "://" not in host:
        host = f"{conn.schema or defaults.scheme}://{host}"
    parts = urlsplit(host)
    if parts.port is None:
        host = host.replace(parts.netloc, f"{parts.netloc}:{conn.port or defaults.port}", 1)
    return host


def _checked(where: str, value: Any, kind: type, least: float) -> Any:
    """``value`` as a ``kind`` (never a ``bool``) of at least ``least``; ``where`` names it in errors."""
    try:
        number = kind(value)
        if isinstance(value, bool) or (kind is int and number != float(value)):
            raise ValueError
    except (TypeError, ValueError):
        kind_name = "an integer" if kind is int else "a number"
        raise argument_error(f"{where} must be {kind_name}, got {value!r}") from None
    if number < least:
        raise argument_error(f"{where} must be >= {least}, got {value!r}")
    return number


def _split_timeout(value: Any, where: str) -> tuple[Any, Any]:
    """``(connect, read)`` from a ``(connect, read)`` pair or a single read timeout."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise argument_error(f"{where} must be a number or a (connect, read) pair, got {value!r}")
        return value[0], value[1]
    return None, value


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
            **{name: str(int(getattr(defaults, name))) for name in EXTRA_FIELDS},
            "extra": '{"connect_timeout": 5, "backoff": 1.0}',
        },
    }
