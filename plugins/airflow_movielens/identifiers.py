"""SQL identifiers that come from arguments (the transfer operator's templated ``table`` and ``schema``, a
schema setting): checked before they reach SQL, where they are interpolated inside double quotes.

A name holding a quote, a semicolon, whitespace or anything but letters, digits, ``_`` and ``$`` could leave
its quotes and run as SQL; it is refused with :class:`~airflow_movielens.exceptions.MovielensArgumentError`
naming the argument. The rule is PostgreSQL's for an unquoted identifier (without its folding to lower case:
names stay quoted, so their case is kept), at most 63 bytes (PostgreSQL's ``NAMEDATALEN - 1``); every name
that passes is also a valid SQLite name.
"""

from __future__ import annotations

import re

from airflow_movielens.exceptions import MovielensArgumentError

__all__ = ["MAX_IDENTIFIER_LENGTH", "sql_identifier"]

MAX_IDENTIFIER_LENGTH = 63
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


def sql_identifier(value: object, name: str) -> str:
    """``value`` if it is a plain SQL identifier, else :class:`MovielensArgumentError` naming ``name``."""
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
        raise MovielensArgumentError(
            f"{name} must be a SQL identifier (a letter or _, then letters, digits, _ or $), got {value!r}"
        )
    if len(value.encode("utf-8")) > MAX_IDENTIFIER_LENGTH:
        raise MovielensArgumentError(
            f"{name} must be at most {MAX_IDENTIFIER_LENGTH} bytes long, got {value!r} ({len(value)})"
        )
    return value
