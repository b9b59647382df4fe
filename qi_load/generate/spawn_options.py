"""A worker takes the master's options from a spawn message in microseconds, not seconds."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Final

import locust.argument_parser

__all__ = ["cache_default_args"]

_CACHED: Final = "_qi_load_cached"


def cache_default_args() -> None:
    """Build Locust's default options once per process (idempotent).

    A worker handling a ``spawn`` message keeps the master's options that are not Locust's
    defaults, and Locust's check calls ``default_args_dict()`` once per option: a whole
    argument parser built and parsed each time, ~20 ms on a busy 2-core machine, times
    ~150 options with qi-load's: seconds during which the worker's hub runs nothing, at
    every stage change and every rebalancing. Its requests in flight then read late, its
    heartbeats stop, and a burst of spawn messages (a worker joining mid-run) got every
    worker declared missing. Only the option names are used (``in``), and those are fixed
    for the process; each call gets its own copy of the first result.
    """
    build: Callable[[], dict[str, Any]] = locust.argument_parser.default_args_dict
    if getattr(build, _CACHED, False):
        return
    first = functools.cache(build)

    def default_args_dict() -> dict[str, Any]:
        return dict(first())

    setattr(default_args_dict, _CACHED, True)
    locust.argument_parser.default_args_dict = default_args_dict
