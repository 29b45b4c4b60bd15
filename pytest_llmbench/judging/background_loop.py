"""One asyncio loop per process, on a daemon thread, so that test bodies stay plain sync
calls while many judge requests are in flight at once; and one thread beside it for the
blocking calls its coroutines make (SQLite), so that the loop itself never blocks."""

from __future__ import annotations

import asyncio
import concurrent.futures
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class BackgroundLoop:
    def __init__(
        self, name: str = "llmbench-judge", switch_interval_s: float | None = None
    ) -> None:
        # The loop thread shares the GIL with pytest's main thread. When it makes the HTTP
        # calls itself (no helper process), at CPython's default 5 ms switch interval
        # replies wait behind item bookkeeping and calls in flight drop: a short interval
        # while the loop runs keeps the judge's I/O moving.
        self._previous_interval = sys.getswitchinterval()
        if switch_interval_s is not None:
            sys.setswitchinterval(min(self._previous_interval, switch_interval_s))
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()
        self._closers: list[Callable[[], Awaitable[None]]] = []
        # One worker, started on first use: the reply cache and the budget ledger each have
        # one SQLite connection, and one thread keeps their calls in order.
        self._blocking = concurrent.futures.ThreadPoolExecutor(1, f"{name}-blocking")

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.submit(coro).result()

    async def offload(self, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)` on the blocking-call thread, awaited from the loop."""
        return await self._loop.run_in_executor(self._blocking, function, *args)

    def on_close(self, closer: Callable[[], Awaitable[None]]) -> None:
        """Register an async clean-up (an HTTP client's aclose) run by close()."""
        self._closers.append(closer)

    def close(self) -> None:
        if self._loop.is_closed():
            return

        async def shutdown() -> None:
            for closer in reversed(self._closers):
                await closer()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.run(shutdown())
        finally:
            # Before the loop stops: a blocking call still running hands its result to it.
            self._blocking.shutdown(wait=True)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()
            sys.setswitchinterval(self._previous_interval)
