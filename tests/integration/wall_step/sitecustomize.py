"""Test only: a host whose wall clock steps mid-run, for every Python process started with
this folder on its ``PYTHONPATH`` (``site`` imports ``sitecustomize`` at start-up).

Once the file named by ``QI_TEST_WALL_STEP_FILE`` exists, ``time.time()`` reads
``QI_TEST_WALL_STEP_S`` seconds later than the real clock (negative: earlier), as after an
NTP step; the monotonic clocks are left alone, as a real step leaves them."""

from __future__ import annotations

import os
import time

_TRIGGER = os.environ.get("QI_TEST_WALL_STEP_FILE", "")
_CHECK_S = 0.05
"""How often the trigger file is looked for: ``time.time()`` is called very often."""

if _TRIGGER:
    _step = float(os.environ["QI_TEST_WALL_STEP_S"])
    _real_time = time.time
    _state = {"checked": -1.0, "stepped": 0.0}

    def _stepped_time() -> float:
        now = time.perf_counter()
        if not _state["stepped"] and now - _state["checked"] >= _CHECK_S:
            _state["checked"] = now
            if os.path.exists(_TRIGGER):
                _state["stepped"] = _step
        return _real_time() + _state["stepped"]

    time.time = _stepped_time
