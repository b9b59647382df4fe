"""An asyncio event loop whose timers fire within tens of microseconds of their deadline.

The reference agent is the truth that client timing is measured against, so its tokens must
leave when configured. asyncio's default selector waits in ``epoll_wait``, whose timeout
CPython rounds *up* to whole milliseconds: every timer fires 0 to 1 ms late (0.8 ms at p50 on
a quiet 2-core VM). ``select()`` takes a microsecond timeout and accepts the epoll file
descriptor itself (readable when any registered socket is), so the loop waits there for the
exact time and then collects the events with a non-blocking ``epoll_wait``: 0.14 ms at p50.
"""

from __future__ import annotations

import asyncio
import select
import selectors

__all__ = ["new_event_loop"]


if hasattr(selectors, "EpollSelector"):

    class _PreciseEpollSelector(selectors.EpollSelector):
        def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
            if timeout is not None and timeout > 0:
                select.select([self.fileno()], [], [], timeout)
                timeout = 0
            return super().select(timeout)

    def new_event_loop() -> asyncio.AbstractEventLoop:
        """A selector event loop with microsecond timer precision (epoll + select)."""
        return asyncio.SelectorEventLoop(_PreciseEpollSelector())

else:  # pragma: no cover - macOS/Windows: the platform's default loop, no precision fix

    def new_event_loop() -> asyncio.AbstractEventLoop:
        """The platform's default event loop (only epoll rounds its timeout up to 1 ms)."""
        return asyncio.new_event_loop()
