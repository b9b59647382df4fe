"""Strict decoding of records and samples that arrive over the network (workers, sidecars)."""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Hashable, Mapping
from functools import cache
from types import UnionType
from typing import Any, Final, TypeVar, cast

from qi_load.record.schema import HostSample, RequestRecord

__all__ = ["MAX_TEXT", "WireError", "checked_host_sample", "checked_record", "literal_values"]

MAX_TEXT: Final = 4096
"""Longest string field accepted from the wire (an error text is the longest legitimate one)."""
_INT_LIMIT: Final = 2**63
"""Integers must fit the int64 columns the reader loads them into."""

T = TypeVar("T")
_Spec = tuple[frozenset[type], frozenset[str] | None]


class WireError(ValueError):
    """A record or sample from the wire that does not have the record type's shape."""


def checked_record(data: Any) -> RequestRecord:
    """A ``RequestRecord`` from its wire dict, or ``WireError`` naming the bad field."""
    return _checked(RequestRecord, data)


def checked_host_sample(data: Any) -> HostSample:
    """A ``HostSample`` from its wire dict, or ``WireError`` naming the bad field."""
    return _checked(HostSample, data)


def literal_values(cls: type, name: str) -> frozenset[str] | None:
    """The words a ``Literal`` field of ``cls`` allows (None: any text)."""
    return _field_specs(cast(Hashable, cls))[0][name][1]


def _checked(cls: type[T], data: Any) -> T:
    if not isinstance(data, dict):
        raise WireError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
    specs, required = _field_specs(cast(Hashable, cls))
    for name, value in data.items():
        spec = specs.get(name) if isinstance(name, str) else None
        if spec is None:
            raise WireError(f"{cls.__name__}: unknown field {str(name)[:40]!r}")
        kind = type(value)
        if kind not in spec[0]:
            raise WireError(f"{cls.__name__}.{name}: bad value {_short(value)}")
        if kind is float or kind is int:
            ok = -_INT_LIMIT < value < _INT_LIMIT and (kind is int or math.isfinite(value))
        elif kind is str:
            ok = value in spec[1] if spec[1] is not None else len(value) <= MAX_TEXT
        else:
            ok = True
        if not ok:
            raise WireError(f"{cls.__name__}.{name}: bad value {_short(value)}")
    missing = required - data.keys()
    if missing:
        raise WireError(f"{cls.__name__}: missing {', '.join(sorted(missing))}")
    return cls(**data)


@cache
def _field_specs(cls: Hashable) -> tuple[Mapping[str, _Spec], frozenset[str]]:
    """Per field, the exact types its annotation allows (and a Literal's values); and the
    fields without default."""
    fields = dataclasses.fields(cast(Any, cls))
    hints = typing.get_type_hints(cls)
    specs = {f.name: _spec_for(hints[f.name]) for f in fields}
    required = frozenset(
        f.name
        for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    )
    return specs, required


def _spec_for(hint: Any) -> _Spec:
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return frozenset({str}), frozenset(typing.get_args(hint))
    if origin in (typing.Union, UnionType):
        parts = [_spec_for(arg) for arg in typing.get_args(hint)]
        literals = [lit for _, lit in parts if lit is not None]
        types = frozenset().union(*(t for t, _ in parts))
        return types, (frozenset().union(*literals) if literals else None)
    if hint is float:
        return frozenset({float, int}), None  # JSON writes 2.0 as 2
    if hint in (type(None), bool, int, str):
        return frozenset({hint}), None
    raise TypeError(f"no wire check for {hint!r}")


def _short(value: Any) -> str:
    if isinstance(value, dict | list):
        return f"({type(value).__name__} of {len(value)})"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
