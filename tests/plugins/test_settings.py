"""Fast unit tests of airflow_movielens.connection: precedence, checks and the base URL (no network)."""

from __future__ import annotations

import pytest

from airflow_movielens.connection import Overrides, resolve_settings
from airflow_movielens.exceptions import MovielensArgumentError
from airflow_movielens.hooks import MovielensHook

try:
    from airflow.sdk import Connection
except ImportError:
    from airflow.models.connection import Connection


def resolve(overrides: Overrides = Overrides(), **conn):  # noqa: B008 (immutable dataclass)
    connection = Connection(conn_id="ml", conn_type="movielens", **{"host": "api.test", **conn})
    return resolve_settings(
        connection,
        conn_id="ml",
        conn_type="movielens",
        overrides=overrides,
        defaults=MovielensHook.defaults(),
    )


def test_defaults():
    settings = resolve()
    assert settings.base_url == "http://api.test:5000"
    assert settings.timeout == (MovielensHook.default_connect_timeout, MovielensHook.default_timeout)
    assert (settings.max_retries, settings.backoff, settings.batch_size) == (5, 1.0, 10_000)


def test_caller_wins_over_extras_which_win_over_defaults():
    extra = '{"timeout": [2, 20], "max_retries": 7, "backoff": 0.5, "batch_size": "50"}'
    from_extras = resolve(extra=extra)
    assert from_extras.timeout == (2.0, 20.0)
    assert (from_extras.max_retries, from_extras.backoff, from_extras.batch_size) == (7, 0.5, 50)
    caller = resolve(Overrides(timeout=3, max_retries=0, backoff=0, batch_size=9), extra=extra)
    assert caller.timeout == (2.0, 3.0), "a single caller timeout replaces only the read timeout"
    assert (caller.max_retries, caller.backoff, caller.batch_size) == (0, 0.0, 9)


@pytest.mark.parametrize(
    ("overrides", "extra", "message"),
    [
        (Overrides(batch_size=0), None, "argument 'batch_size' of connection 'ml' must be >= 1, got 0"),
        (Overrides(max_retries=1.5), None, "argument 'max_retries' .* must be an integer, got 1.5"),
        (
            Overrides(timeout=(1, 2, 3)),
            None,
            r"must be a number or a \(connect, read\) pair, got \(1, 2, 3\)",
        ),
        (Overrides(), '{"timeout": "soon"}', "connection extra 'timeout' .* must be a number, got 'soon'"),
        (Overrides(), '{"batch_size": true}', "must be an integer, got True"),
        (Overrides(), '{"connect_timeout": 0}', "must be >= 0.001, got 0"),
    ],
)
def test_bad_values_are_argument_errors_naming_the_value(overrides, extra, message):
    with pytest.raises(MovielensArgumentError, match=message):
        resolve(overrides, extra=extra)


def test_missing_host_is_an_argument_error():
    with pytest.raises(MovielensArgumentError, match="connection 'ml' has no host"):
        resolve(host="  ")


def test_settings_are_resolved_once(add_connection):
    add_connection("ml_once", conn_type="movielens", host="api.test")
    hook = MovielensHook("ml_once")
    first = hook.settings
    add_connection("ml_once", conn_type="movielens", host="elsewhere.test")
    assert hook.settings is first
    assert hook.base_url == "http://api.test:5000"
