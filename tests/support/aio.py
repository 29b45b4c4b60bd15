"""asyncio for tests: a coroutine run to its end, or failed if it hangs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def run(make: Callable[[], Awaitable[T]], timeout_s: float = 60.0) -> T:
    """asyncio.run of what `make()` returns; a hang fails after `timeout_s`, never blocks."""

    async def go() -> T:
        return await asyncio.wait_for(make(), timeout=timeout_s)

    return asyncio.run(go())
