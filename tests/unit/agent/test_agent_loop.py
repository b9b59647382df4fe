"""The agent's event loop: timeouts reach the kernel unrounded, I/O and timers still work."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="epoll is Linux's")


@pytest.fixture(scope="module")
def probe() -> dict[str, Any]:
    # Its own process: this one is gevent-patched, which replaces select and selectors.
    done = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("loop_probe.py"))],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_the_loop_uses_the_precise_selector(probe: dict[str, Any]) -> None:
    assert probe["selector"] == "_PreciseEpollSelector"


def test_a_sub_millisecond_timeout_is_waited_for_exactly(probe: dict[str, Any]) -> None:
    # epoll_wait would round 0.3 ms up to 1 ms; select() gets the exact remainder.
    waits = probe["waits"]
    assert waits and all(w is not None and 0 < w <= 0.0003 for w in waits), waits


def test_timers_never_fire_early(probe: dict[str, Any]) -> None:
    assert min(probe["lateness"]) >= 0.0, probe["lateness"]


def test_sockets_are_served_while_a_timer_is_pending(probe: dict[str, Any]) -> None:
    assert probe["received"] == "token"
