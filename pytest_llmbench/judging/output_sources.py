"""Where a scenario's outputs come from (`output:`): a sample field or `module:function`."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

from pytest_llmbench.benchmark.dataset import Sample
from pytest_llmbench.errors import OutputError


class OutputSource:
    def __init__(self, scenario: str, spec: str) -> None:
        self.scenario = scenario
        self.spec = spec
        self._function: Callable[[Sample], Any] | None = None
        self.is_async = False
        if ":" in spec:
            module_name, _, attribute = spec.partition(":")
            try:
                module = importlib.import_module(module_name)
                function = getattr(module, attribute)
            except (ImportError, AttributeError) as error:
                raise OutputError(
                    f"scenario {scenario!r}: output: {spec!r} cannot be imported ({error}); "
                    "give a sample field name or an importable module:function"
                ) from None
            if not callable(function):
                raise OutputError(f"scenario {scenario!r}: output: {spec!r} is not callable")
            self._function = function
            self.is_async = inspect.iscoroutinefunction(function)

    def from_field(self, sample: Sample) -> Any:
        if self.spec not in sample.fields:
            raise OutputError(
                f"scenario {self.scenario!r}: sample {sample.id!r} has no field "
                f"{self.spec!r} (output: {self.spec})"
            )
        return sample.fields[self.spec]

    def produce_sync(self, sample: Sample) -> Any:
        """The output, in the calling thread (async functions get a loop of their own)."""
        if self._function is None:
            return self.from_field(sample)
        if self.is_async:
            import asyncio  # not for fields: a dry run never loads asyncio

            return asyncio.run(self._function(sample))
        return self._function(sample)

    async def produce(self, sample: Sample) -> Any:
        """The output, from the judge loop: sync functions run in a worker thread."""
        if self._function is None:
            return self.from_field(sample)
        if self.is_async:
            return await self._function(sample)
        import asyncio

        return await asyncio.to_thread(self._function, sample)
