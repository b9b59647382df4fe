"""Columnar record batches: how a worker packs its records for the master, and the master's
strict, vectorised check of what arrives.

One msgpack map per batch, ``{"v": 1, "n": N, "cols": {field: column}}``, a column per
``RequestRecord`` field (the schema's field table): floats and integers as little-endian
float64 / int64 bytes, flags as uint8 bytes, text as a list of N strings; a field that may
be ``None`` is ``[values, nulls]`` with ``nulls`` N uint8 bytes (1 = ``None``). A column the
batch leaves out takes the field's default (a required one may not be left out).

The master checks each column with numpy in one pass instead of each value in Python: a
batch of the wrong shape (unknown or missing column, wrong length or type) is refused whole
(``WireError``); a row with a bad value (a non-finite or out-of-range number, a word not in
its vocabulary, a text longer than ``MAX_TEXT``) is dropped alone and counted.
"""

from __future__ import annotations

import dataclasses
import itertools
import operator
from collections.abc import Sequence
from typing import Any, Final

import msgpack
import numpy as np
import numpy.typing as npt

from qi_load.record.schema import REQUEST_TABLE, RequestRecord
from qi_load.record.wire_check import MAX_TEXT, WireError, literal_values

__all__ = ["BATCH_VERSION", "DecodedBatch", "decode_batch", "encode_batch"]

BATCH_VERSION: Final = 1
_LIMIT: Final = float(2**63)
"""Numbers must fit the int64 columns the reader loads them into."""
_DTYPES: Final[dict[type, str]] = {float: "<f8", int: "<i8", bool: "u1"}
_FILL: Final[dict[type, Any]] = {float: 0.0, int: 0, bool: False, str: ""}
"""What stands in a ``None`` slot of a nullable column (ignored by the reader)."""
_FIELDS: Final = tuple(f.name for f in REQUEST_TABLE)
_GETTERS: Final = tuple(operator.attrgetter(name) for name in _FIELDS)
_Mask = npt.NDArray[np.bool_]


@dataclasses.dataclass(frozen=True, slots=True)
class DecodedBatch:
    """The valid records of a batch, and what was wrong with the rows that were not."""

    records: list[RequestRecord]
    invalid: int
    """Rows dropped for a bad value."""
    reason: str
    """The first bad value's field and value (empty when every row was valid)."""


def encode_batch(records: Sequence[RequestRecord]) -> bytes:
    """The worker side: ``records`` as one columnar batch."""
    n = len(records)
    cols: dict[str, Any] = {}
    for f, get in zip(REQUEST_TABLE, _GETTERS, strict=True):
        values = list(map(get, records))
        if not f.optional:
            cols[f.name] = _pack(f.kind, values)
        elif None in values:
            nulls = bytes([v is None for v in values])
            fill = _FILL[f.kind]
            cols[f.name] = [_pack(f.kind, [fill if v is None else v for v in values]), nulls]
        else:
            cols[f.name] = [_pack(f.kind, values), bytes(n)]
    return bytes(msgpack.packb({"v": BATCH_VERSION, "n": n, "cols": cols}))


def _pack(kind: type, values: Sequence[Any]) -> Any:
    if kind is str:
        return list(values)
    return np.array(values, dtype=_DTYPES[kind]).tobytes()


def decode_batch(body: bytes, max_records: int) -> DecodedBatch:
    """The master side: the records of a batch; ``WireError`` when its shape is wrong."""
    try:
        data = msgpack.unpackb(body)
    except Exception:  # msgpack's errors (nesting, truncation, types) share no base class
        raise WireError("not msgpack") from None
    if not isinstance(data, dict) or data.get("v") != BATCH_VERSION:
        raise WireError("not a record batch of this version")
    n, cols = data.get("n"), data.get("cols")
    if type(n) is not int or not 0 <= n <= max_records or not isinstance(cols, dict):
        raise WireError("bad batch header")
    unknown = cols.keys() - set(_FIELDS)
    if unknown:
        raise WireError(f"unknown column {str(next(iter(unknown)))[:40]!r}")
    bad = np.zeros(n, dtype=bool)
    reasons: list[str] = []
    columns = [_column(f, cols, n, bad, reasons) for f in REQUEST_TABLE]
    if not n:
        return DecodedBatch([], 0, "")
    invalid = int(bad.sum())
    if invalid:
        keep = (~bad).tolist()
        columns = [list(itertools.compress(column, keep)) for column in columns]
    records = list(map(RequestRecord, *columns))
    return DecodedBatch(records, invalid, reasons[0] if reasons else "")


def _column(f: Any, cols: dict[Any, Any], n: int, bad: _Mask, reasons: list[str]) -> list[Any]:
    """One field's N values as Python objects; marks rows with bad values in ``bad``."""
    if f.name not in cols:
        if f.required:
            raise WireError(f"missing column {f.name!r}")
        return [f.default] * n
    raw = cols[f.name]
    nulls: _Mask | None = None
    if f.optional:
        if not (isinstance(raw, list) and len(raw) == 2 and type(raw[1]) is bytes):
            raise WireError(f"column {f.name!r}: expected [values, nulls]")
        raw, null_bytes = raw
        if len(null_bytes) != n:
            raise WireError(f"column {f.name!r}: {len(null_bytes)} nulls for {n} rows")
        flags = np.frombuffer(null_bytes, dtype="u1")
        _mark(f, flags > 1, bad, reasons, flags)
        nulls = flags == 1
    values = _values(f, raw, n, bad, reasons, nulls)
    if nulls is not None and nulls.any():
        return [None if z else v for v, z in zip(values, nulls.tolist(), strict=True)]
    return values


def _values(
    f: Any, raw: Any, n: int, bad: _Mask, reasons: list[str], nulls: _Mask | None
) -> list[Any]:
    if f.kind is str:
        if not isinstance(raw, list) or len(raw) != n:
            raise WireError(f"column {f.name!r}: expected a list of {n} strings")
        allowed = literal_values(RequestRecord, f.name)
        if set(map(type, raw)) - {str} or (
            max(map(len, raw), default=0) > MAX_TEXT if allowed is None else not set(raw) <= allowed
        ):
            odd = [
                type(v) is not str or (len(v) > MAX_TEXT if allowed is None else v not in allowed)
                for v in raw
            ]
            _mark(f, np.array(odd, dtype=bool), bad, reasons, raw)
        return raw
    size = np.dtype(_DTYPES[f.kind]).itemsize
    if type(raw) is not bytes or len(raw) != n * size:
        raise WireError(f"column {f.name!r}: expected {n * size} bytes")
    array = np.frombuffer(raw, dtype=_DTYPES[f.kind])
    wrong: _Mask | None = None  # every int64 fits the int64 columns
    if f.kind is float:
        wrong = ~(np.isfinite(array) & (np.abs(array) < _LIMIT))
    elif f.kind is bool:
        wrong = array > 1
    if wrong is not None:
        if nulls is not None:
            wrong &= ~nulls
        _mark(f, wrong, bad, reasons, array)
    values: list[Any] = (array == 1).tolist() if f.kind is bool else array.tolist()
    return values


def _mark(f: Any, wrong: _Mask, bad: _Mask, reasons: list[str], values: Any) -> None:
    if not wrong.any():
        return
    bad |= wrong
    if not reasons:
        first = int(np.argmax(wrong))
        value = values[first]
        text = repr(value.item() if isinstance(value, np.generic) else value)
        reasons.append(f"RequestRecord.{f.name}: bad value {text[:37]}")
