"""An asyncio event loop on a virtual clock, for tests of timing logic (rate limits, retries, Retry-After).

``asyncio.sleep(100)`` takes no real time and timers keep their order, so a test checks spacing exactly
whatever the machine's load (no test measures wall-clock time).
"""

from __future__ import annotations

import asyncio
import selectors


class JumpSelector(selectors.DefaultSelector):
    """Never waits for a timer: when nothing is ready it moves the loop's clock to the next timer."""

    loop: VirtualTimeLoop

    def select(self, timeout=None):
        if timeout is None:                       # nothing scheduled: a real wait (e.g. for a thread)
            return super().select(None)
        events = super().select(0)
        if not events and timeout > 0:
            self.loop.now += timeout
        return events


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An asyncio loop on a virtual clock: ``asyncio.sleep(100)`` takes no real time, timers keep their order."""

    def __init__(self):
        self.now = 0.0
        selector = JumpSelector()
        selector.loop = self
        super().__init__(selector)

    def time(self) -> float:
        return self.now
