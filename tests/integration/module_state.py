"""Module globals that hold state: what the check of ``qi_load.generate`` looks for.

A global is state when it holds a mutable value (a dict, list, set, counter or any other
object) that is not a declared ``Final`` constant, or when its value changed while Locust
ran. Definitions (modules, functions, classes, type aliases, loggers, patterns) and
immutable values (numbers, strings, tuples of them, frozensets, enum members) are not.
"""

from __future__ import annotations
import __future__

import enum
import logging
import re
import sys
import types
import typing
from typing import Any

__all__ = ["fingerprints", "generate_modules", "is_constant", "state_globals"]

_IMMUTABLE = (type(None), bool, int, float, complex, str, bytes, range, frozenset, enum.Enum)
_DEFINITIONS = (
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.GenericAlias,
    types.UnionType,
    type,
    typing.TypeVar,
    logging.Logger,
    re.Pattern,
)


def is_constant(value: Any) -> bool:
    """Whether ``value`` cannot hold state: an immutable value or a definition."""
    if isinstance(value, __future__._Feature):
        return True
    if isinstance(value, tuple):
        return all(is_constant(item) for item in value)
    if isinstance(value, _IMMUTABLE + _DEFINITIONS):
        return True
    if callable(value) and not str(getattr(value, "__module__", "")).startswith("qi_load"):
        return True  # another library's function (its caches are its own business)
    return type(value).__module__ in ("typing", "typing_extensions")


def generate_modules() -> list[types.ModuleType]:
    """Every loaded ``qi_load.generate`` module."""
    return [
        module
        for name, module in sorted(sys.modules.items())
        if name == "qi_load.generate" or name.startswith("qi_load.generate.")
    ]


def _public(module: types.ModuleType) -> dict[str, Any]:
    return {k: v for k, v in vars(module).items() if not (k.startswith("__") and k.endswith("__"))}


def _fingerprint(value: Any) -> str:
    # A definition is the same object or another one (a logger's repr shows its level).
    return (
        f"<{type(value).__name__} {id(value)}>" if isinstance(value, _DEFINITIONS) else repr(value)
    )


def fingerprints(modules: list[types.ModuleType]) -> dict[str, dict[str, str]]:
    """A fingerprint of each global of each module, to compare after a run."""
    return {m.__name__: {k: _fingerprint(v) for k, v in _public(m).items()} for m in modules}


def state_globals(module: types.ModuleType, before: dict[str, str] | None = None) -> list[str]:
    """The globals of ``module`` that hold state (``before``: its earlier ``fingerprints``)."""
    annotations = getattr(module, "__annotations__", {})
    finals = {k for k, a in annotations.items() if str(a).startswith(("Final", "typing.Final"))}
    found = []
    for name, value in _public(module).items():
        where = f"{module.__name__}.{name}"
        if before is not None and name in before and before[name] != _fingerprint(value):
            found.append(f"{where}: changed while Locust ran")
        elif before is not None and name not in before and not is_constant(value):
            found.append(f"{where}: appeared while Locust ran")
        elif not is_constant(value) and name not in finals:
            found.append(f"{where}: holds a {type(value).__name__}")
    return found
