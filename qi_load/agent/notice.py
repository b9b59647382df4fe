"""One stderr line per interval for a condition that may recur thousands of times a second."""

from __future__ import annotations

import sys
import time
from typing import Final

__all__ = ["NOTICE_INTERVAL_S", "Notice"]

NOTICE_INTERVAL_S: Final = 10.0


class Notice:
    """`notice.say(text)` prints at most once per interval, with how often it happened since."""

    def __init__(self, interval_s: float = NOTICE_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._last = -float("inf")
        self._suppressed = 0

    def say(self, text: str) -> bool:
        """True if the line was printed (False: counted, to be reported with the next one)."""
        now = time.monotonic()
        if now - self._last < self.interval_s:
            self._suppressed += 1
            return False
        more = f" (and {self._suppressed} more times in the last {now - self._last:.0f} s)"
        print(
            f"qi-load target: {text}{more if self._suppressed else ''}",
            file=sys.stderr,
            flush=True,
        )
        self._last = now
        self._suppressed = 0
        return True
