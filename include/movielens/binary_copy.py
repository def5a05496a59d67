"""PostgreSQL's binary ``COPY ... TO STDOUT`` of 8-byte numeric columns, straight into numpy columns.

The driver hands every row to a file's ``write``; behind a :class:`io.BufferedWriter` those calls only fill
a buffer, and each full buffer reaches :class:`ColumnSink`, which decodes its whole rows at once with a numpy
record type (every row: a field count, then a length and 8 bytes per column) into columns allocated at their
final size. No Python object per row or value is kept: the only full-size memory is the columns.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["BUFFER_BYTES", "ColumnSink", "copy_columns", "narrow"]

#: Bytes of COPY data decoded at a time (about 330,000 rows of four columns).
BUFFER_BYTES = 16 << 20
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_HEADER_BYTES = len(_SIGNATURE) + 8  # then flags and the length of a header extension, as int32
_TRAILER = b"\xff\xff"  # a field count of -1


def narrow(values: np.ndarray, dtype: type) -> np.ndarray:
    """``values`` as ``dtype`` where that keeps every value exactly, else as the wide type of its kind.

    An integer ``dtype`` that one value overflows gives int64; a float ``dtype`` that rounds one value
    (float32 keeps the multiples of 0.5 that ratings are, not 0.1) gives float64.
    """
    kind = np.dtype(dtype).kind
    if kind in "iu" and len(values):
        limits = np.iinfo(dtype)
        if not limits.min <= values.min() <= values.max() <= limits.max:
            return values.astype(np.int64)
    narrowed = values.astype(dtype)
    if kind == "f" and not np.array_equal(narrowed, values):
        return values.astype(np.float64)
    return narrowed


def copy_columns(cur: Any, query: str, rows: int, dtypes: Sequence[type]) -> list[np.ndarray]:
    """The ``rows`` rows of ``query`` as one numpy column per entry of ``dtypes``.

    :param cur: a psycopg2 cursor (Airflow 2's PostgresHook) or a psycopg 3 one (Airflow 3's).
    :param query: a ``SELECT`` whose columns are ``int8`` (for integer ``dtypes``) or ``float8``, never NULL.
    :param rows: how many rows it returns (counted in the same snapshot).
    :raises ValueError: the rows are not that (a NULL, another type, more or fewer rows).
    """
    sink = ColumnSink(rows, dtypes)
    with io.BufferedWriter(sink, buffer_size=BUFFER_BYTES) as buffered:
        statement = f"COPY ({query}) TO STDOUT (FORMAT binary)"
        if hasattr(cur, "copy_expert"):  # psycopg2
            cur.copy_expert(statement, buffered)
        else:  # psycopg 3
            with cur.copy(statement) as copy:
                for block in copy:
                    buffered.write(block)
    return sink.finish()


class ColumnSink(io.RawIOBase):
    """The raw file behind the buffer: decodes each buffer's whole rows into the columns."""

    def __init__(self, rows: int, dtypes: Sequence[type]) -> None:
        super().__init__()
        self.columns = [np.empty(rows, dtype=dtype) for dtype in dtypes]
        self.rows = 0
        fields = [("fields", ">i2")]
        for i, dtype in enumerate(dtypes):
            fields += [(f"bytes{i}", ">i4"), (f"value{i}", ">f8" if np.dtype(dtype).kind == "f" else ">i8")]
        self._layout = np.dtype(fields)
        self._pending = b""  # a partial row (or the header) waiting for the next buffer
        self._in_rows = False

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:
        buffer = b"".join((self._pending, data))
        start = 0
        if not self._in_rows:
            if len(buffer) >= _HEADER_BYTES and not buffer.startswith(_SIGNATURE):
                raise ValueError(f"not a binary COPY stream: it starts with {buffer[:11]!r}")
            start = _HEADER_BYTES + int.from_bytes(buffer[15:19], "big")  # + the header extension
            if len(buffer) < max(start, _HEADER_BYTES):
                self._pending = buffer
                return len(data)
            self._in_rows = True
        count = (len(buffer) - start) // self._layout.itemsize
        self._store(np.frombuffer(buffer, dtype=self._layout, count=count, offset=start))
        self._pending = buffer[start + count * self._layout.itemsize :]
        return len(data)

    def _store(self, rows: np.ndarray) -> None:
        end = self.rows + len(rows)
        if end > len(self.columns[0]):
            raise ValueError(f"COPY sent more than the {len(self.columns[0])} rows counted")
        width_ok = all(np.all(rows[f"bytes{i}"] == 8) for i in range(len(self.columns)))
        if not width_ok or np.any(rows["fields"] != len(self.columns)):
            raise ValueError(f"COPY sent a row that is not {len(self.columns)} 8-byte values (a NULL?)")
        for i, column in enumerate(self.columns):
            values = narrow(rows[f"value{i}"], column.dtype.type)
            if values.dtype != column.dtype:  # an id beyond int32, an inexact float32: the column widens
                self.columns[i] = column = column.astype(values.dtype)
            column[self.rows : end] = values
        self.rows = end

    def finish(self) -> list[np.ndarray]:
        """The columns, once the stream has ended with its trailer right after the counted rows."""
        if not self._in_rows or self._pending != _TRAILER:
            raise ValueError(
                f"COPY ended after {self.rows} rows with {self._pending[:12]!r}, not its trailer: a row that "
                f"is not {len(self.columns)} 8-byte values (a NULL?)"
            )
        if self.rows != len(self.columns[0]):
            raise ValueError(f"COPY sent {self.rows} rows, {len(self.columns[0])} counted")
        return self.columns
