"""Where a scenario's outputs come from (`output:`): a sample field or `module:function`.

A function's calls are bounded by the scenario's `output_concurrency` wherever they are
made, judged ahead on the background loop or asked for by an item: a sync function runs
in a thread pool of that size (never the loop's default executor, whose size follows the
CPU count) under a semaphore of that size that the item's own calls take too; an async
one under an asyncio semaphore of that size on the background loop. With `output_cache:`
each output is looked up first and stored once produced (output_cache.py).
"""

from __future__ import annotations

import concurrent.futures
import inspect
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_llmbench.benchmark.config import ScenarioConfig
from pytest_llmbench.benchmark.dataset import Sample
from pytest_llmbench.benchmark.extensions import ImportFailed, load
from pytest_llmbench.errors import OutputError, os_reason

if TYPE_CHECKING:
    import asyncio

    from pytest_llmbench.judging.background_loop import BackgroundLoop
    from pytest_llmbench.judging.output_cache import OutputCache

__all__ = ["OutputSource", "OutputSources", "Produced"]


@dataclass(frozen=True)
class Produced:
    """One sample's output, as `output:` gave it (None included)."""

    value: Any
    cached: bool | None = None  # from the output cache; None: no function, or no cache
    # The function's wall time, when it was called (a timing: not part of what it gave).
    seconds: float | None = field(default=None, compare=False)


class OutputSource:
    """The outputs of one scenario. `store` gives the output cache (None: off or not
    usable); `loop` gives the background loop once it runs (None before)."""

    def __init__(
        self,
        scenario: ScenarioConfig,
        *,
        store: Callable[[], OutputCache | None] | None = None,
        refresh: bool = False,
        loop: Callable[[], BackgroundLoop | None] | None = None,
    ) -> None:
        assert scenario.output is not None
        self.scenario = scenario.name
        self.spec = scenario.output
        self.concurrency = scenario.output_concurrency
        self._version = scenario.output_version
        self._store = store if scenario.output_cache else None
        self._refresh = refresh
        self._loop = loop or (lambda: None)
        self._function: Callable[..., Any] | None = None
        self.is_async = False
        # Sync calls, from any thread; the pool (made at first use) runs the loop's.
        self._slots = threading.BoundedSemaphore(self.concurrency)
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._async_slots: asyncio.Semaphore | None = None  # made on the loop
        if ":" in self.spec:
            try:
                function = load(self.spec)
            except ImportFailed as error:
                raise OutputError(
                    f"scenario {self.scenario!r}: output: {self.spec!r} cannot be imported "
                    f"({error}); give a sample field name or an importable module:function"
                ) from None
            if not callable(function):
                raise OutputError(
                    f"scenario {self.scenario!r}: output: {self.spec!r} is not callable"
                )
            self._function = function
            self.is_async = inspect.iscoroutinefunction(function)

    def from_field(self, sample: Sample) -> Any:
        if self.spec not in sample.fields:
            raise OutputError(
                f"scenario {self.scenario!r}: sample {sample.id!r} has no field "
                f"{self.spec!r} (output: {self.spec})"
            )
        return sample.fields[self.spec]

    def key(self, sample: Sample) -> str:
        """The sample's output cache key (see output_cache.output_key)."""
        from pytest_llmbench.judging.output_cache import output_key

        variant = sample.item_variant
        fingerprint = variant.fingerprint if variant is not None else ""
        return output_key(self.spec, self._version, sample.id, sample.input, fingerprint)

    def produce_sync(self, sample: Sample) -> Produced:
        """The output, asked for by an item (in the main thread). Once the background loop
        runs (a live judge), a function's call goes through it, under the same limit as
        the calls judged ahead; before, an async function gets a loop of its own."""
        if self._function is None:
            return Produced(self.from_field(sample))
        loop = self._loop()
        if loop is not None:
            return loop.run(self.produce(sample))
        store = self._cache()
        key = self.key(sample) if store is not None else ""
        if store is not None and not self._refresh:
            hit = store.get(key)
            if hit is not None:
                return Produced(hit.value, cached=True)
        if self.is_async:
            import asyncio  # not for fields: a dry run never loads asyncio

            began = time.perf_counter()
            value = asyncio.run(self._function(*self._arguments(sample)))
            seconds = time.perf_counter() - began
        else:
            value, seconds = self._call(sample)
        if store is not None:
            store.put(key, value)
        return Produced(value, cached=False if store is not None else None, seconds=seconds)

    async def produce(self, sample: Sample) -> Produced:
        """The output, on the background loop (judging ahead, or for an item)."""
        if self._function is None:
            return Produced(self.from_field(sample))
        loop = self._loop()
        assert loop is not None, "produce() runs on the background loop"
        store = await loop.offload(self._cache)  # opened (once) off the loop
        key = self.key(sample) if store is not None else ""
        if store is not None and not self._refresh:
            hit = await loop.offload(store.get, key)
            if hit is not None:
                return Produced(hit.value, cached=True)
        if self.is_async:
            import asyncio

            if self._async_slots is None:
                self._async_slots = asyncio.Semaphore(self.concurrency)
            async with self._async_slots:
                began = time.perf_counter()
                value = await self._function(*self._arguments(sample))
                seconds = time.perf_counter() - began
        else:
            value, seconds = await loop.loop.run_in_executor(
                self._thread_pool(), self._call, sample
            )
        if store is not None:
            await loop.offload(store.put, key, value)
        return Produced(value, cached=False if store is not None else None, seconds=seconds)

    def _call(self, sample: Sample) -> tuple[Any, float]:
        """A sync function's call, in any thread, holding one of the slots: (its value,
        its seconds)."""
        assert self._function is not None
        with self._slots:
            began = time.perf_counter()
            value = self._function(*self._arguments(sample))
            return value, time.perf_counter() - began

    def _arguments(self, sample: Sample) -> tuple[Any, ...]:
        """`function(sample)`, or with `variants:` `function(sample, variant)`."""
        if sample.item_variant is not None:
            return (sample, sample.item_variant)
        return (sample,)

    def _thread_pool(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(
                    self.concurrency, f"llmbench-output-{self.scenario}"
                )
            return self._pool

    def _cache(self) -> OutputCache | None:
        return self._store() if self._store is not None else None

    def close(self) -> None:
        """Stop the pool; a call still running (judged ahead for an item that never came)
        ends on its own, and nothing waits for it."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


class OutputSources:
    """Every scenario's OutputSource in one process, and the output cache they share
    (opened at first use, under the judge reply cache's directory)."""

    def __init__(
        self,
        cache_dir: Path | None,
        *,
        refresh: bool = False,
        loop: Callable[[], BackgroundLoop | None] | None = None,
        shown: Callable[[Path], str] = str,
        rootdir: Path | None = None,
    ) -> None:
        """`refresh`: produce every output again (and store it), reading no stored one;
        `shown`: a path as messages show it."""
        self._cache_dir = cache_dir
        self._refresh = refresh
        self._loop = loop
        self._shown = shown
        self._rootdir = rootdir
        self._sources: dict[str, OutputSource] = {}
        self._cache: OutputCache | None = None
        self._cache_lock = threading.Lock()
        self._cache_failed = False
        self._notes: list[str] = []

    def get(self, scenario: ScenarioConfig) -> OutputSource | None:
        if scenario.output is None:
            return None
        if scenario.name not in self._sources:
            self._sources[scenario.name] = OutputSource(
                scenario, store=self.cache, refresh=self._refresh, loop=self._loop
            )
        return self._sources[scenario.name]

    def cache(self) -> OutputCache | None:
        """The output cache; None with no cache directory, or one that cannot be opened
        (noted: the run goes on, every output produced)."""
        with self._cache_lock:  # opened from the main thread or the loop's
            if self._cache is None and self._cache_dir is not None and not self._cache_failed:
                import sqlite3

                from pytest_llmbench.judging.output_cache import OutputCache

                shown = self._shown(self._cache_dir)
                try:
                    self._cache = OutputCache(self._cache_dir, display=shown)
                except (OSError, sqlite3.Error) as error:
                    self._cache_failed = True
                    reason = os_reason(error, self._cache_dir, self._rootdir)
                    self._notes.append(f"output cache {shown} not used: {reason}")
                if self._cache is not None and self._cache.read_only:
                    self._notes.append(
                        f"output cache {self._shown(self._cache.path)} is read-only: "
                        "outputs are read from it, new ones not kept"
                    )
            return self._cache

    @property
    def notes(self) -> list[str]:
        """What went wrong with the output cache and was lived with, once each."""
        cache = self._cache
        lines = [*self._notes, *(cache.notes if cache is not None else [])]
        return list(dict.fromkeys(lines))

    def close(self) -> None:
        for source in self._sources.values():
            source.close()
        with self._cache_lock:
            cache, self._cache = self._cache, None
        if cache is not None:
            self._notes.extend(cache.notes)  # kept for the terminal past close()
            cache.close()
