"""Locust's default options are built once per process: a spawn message costs no seconds."""

from __future__ import annotations

import time

import locust.argument_parser

from qi_load.generate.spawn_options import cache_default_args


def test_default_options_are_built_once_and_stay_the_same() -> None:
    cache_default_args()
    patched = locust.argument_parser.default_args_dict
    cache_default_args()  # idempotent: not wrapped twice
    assert locust.argument_parser.default_args_dict is patched
    first = patched()
    first["scribbled"] = 1  # a caller's copy: the cache keeps its own
    second = patched()
    assert "scribbled" not in second and "host" in second
    # Locust's spawn check calls it once per option of the master (~150 with qi-load's).
    started = time.perf_counter()
    for _ in range(150):
        assert "num_users" in locust.argument_parser.default_args_dict()
    assert time.perf_counter() - started < 0.5
