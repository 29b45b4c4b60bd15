"""Adaptive concurrency for one judge: halve on a 429, grow back one slot at a time.

Additive increase, multiplicative decrease (as TCP does) lets a rate-limited server
recover without the run hammering it at full concurrency or crawling at one call.
"""

from __future__ import annotations

import asyncio
from types import TracebackType


class AdaptiveLimiter:
    def __init__(self, maximum: int) -> None:
        self.maximum = max(1, maximum)
        self.limit = self.maximum
        self.lowest = self.maximum  # the lowest limit reached, for the record
        self.throttles = 0
        self._in_use = 0
        self._successes = 0
        self._changed = asyncio.Condition()  # create inside the loop that uses it

    @property
    def in_use(self) -> int:
        return self._in_use

    async def __aenter__(self) -> AdaptiveLimiter:
        async with self._changed:
            await self._changed.wait_for(lambda: self._in_use < self.limit)
            self._in_use += 1
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        async with self._changed:
            self._in_use -= 1
            self._changed.notify_all()

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
            async with self._changed:
                self.limit += 1
                self._changed.notify_all()
