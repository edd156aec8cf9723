"""The in-flight gate of a load run: at most N requests at once, the rest wait in order."""

from __future__ import annotations

import asyncio
from collections import deque

__all__ = ["InFlightGate"]


class InFlightGate:
    """At most ``limit`` requests in flight; the rest wait in arrival order.

    asyncio.Semaphore wakes a waiter by scanning its queue, which turns quadratic when a
    stall leaves hundreds waiting, just when the generator most needs to catch up.
    Here a release hands its slot straight to the oldest live waiter.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.peak = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def __aenter__(self) -> None:
        if self.used < self.limit and not self._waiters:
            self.used += 1
            self.peak = max(self.peak, self.used)
            return
        handed = asyncio.get_running_loop().create_future()
        self._waiters.append(handed)
        try:
            await handed  # release() passed its slot on: ``used`` already counts it
        except asyncio.CancelledError:
            if handed.done() and not handed.cancelled():
                self.release()  # the slot arrived just as the wait was cancelled
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        self.release()

    def release(self) -> None:
        while self._waiters:
            handed = self._waiters.popleft()
            if not handed.done():  # cancelled waiters are skipped
                handed.set_result(None)
                return
        self.used -= 1
