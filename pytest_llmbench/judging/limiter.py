"""Adaptive concurrency for one judge: halve on a 429, grow back one slot at a time.

Additive increase, multiplicative decrease (as TCP does) lets a rate-limited server
recover without the run hammering it at full concurrency or crawling at one call.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from types import TracebackType


class AdaptiveLimiter:
    """Slots are handed to waiters first in, first out, one wake-up per free slot: with a
    window of judged-ahead calls queued behind a full set in flight, waking every waiter on
    each release (as a Condition's notify_all does) costs the loop a task step per waiter
    per reply, on the thread that also reads the replies."""

    def __init__(self, maximum: int) -> None:
        self.maximum = max(1, maximum)
        self.limit = self.maximum
        self.lowest = self.maximum  # the lowest limit reached, for the record
        self.throttles = 0
        self._in_use = 0
        self._successes = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def in_use(self) -> int:
        return self._in_use

    async def __aenter__(self) -> AdaptiveLimiter:
        if self._in_use < self.limit and not self._waiters:
            self._in_use += 1
            return self
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter  # _wake() counted the slot in for us before waking us
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                # Given a slot and cancelled before using it: pass it on.
                self._in_use -= 1
                self._wake()
            else:
                with contextlib.suppress(ValueError):  # already popped by _wake()
                    self._waiters.remove(waiter)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._in_use -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._in_use < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._in_use += 1
                waiter.set_result(None)

    def throttled(self) -> None:
        """The server said 429: halve the limit (never below one call)."""
        self.throttles += 1
        self.limit = max(1, self.limit // 2)
        self.lowest = min(self.lowest, self.limit)
        self._successes = 0

    async def succeeded(self) -> None:
        """One call went through: after `limit` in a row, allow one more in flight."""
        if self.limit >= self.maximum:
            return
        self._successes += 1
        if self._successes >= self.limit:
            self._successes = 0
            self.limit += 1
            self._wake()
