"""Metrics a user's function computes: `source: module:function`, or `source: NAME` for a
function an installed package registers in the `pytest_llmbench.metrics` entry-point group.

The function is called as ``function(sample, output)`` (``output`` the text judged, as
``judge()`` got it) in the item process, once the output is known, and may be sync or
async (an async one runs on the item process's background loop). It returns a number, or
a dict of numbers: a metric then reads its `key:` (default: its own name), so one function
may feed several metrics, and it is called once per sample however many read it.

A call that raises, or a value that is not a finite number (NaN, a string, a missing
key), leaves that metric unscored for that sample with the reason; nothing else stops.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from pytest_llmbench.benchmark.config import MetricConfig, ScenarioConfig
from pytest_llmbench.benchmark.extensions import METRICS_GROUP, ImportFailed, load
from pytest_llmbench.errors import UserError
from pytest_llmbench.results.validation import MAX_NUMBER

__all__ = ["Computed", "CustomMetrics", "value_of"]

REASON_LIMIT = 200  # characters of an exception's message kept in a reason
RunAsync = Callable[[Coroutine[Any, Any, Any]], Any]


@dataclass
class Computed:
    """One sample's custom metrics: the scores, and why the others have none."""

    scores: dict[str, float] = field(default_factory=dict)
    unscored: dict[str, str] = field(default_factory=dict)  # metric -> reason


class CustomMetrics:
    """The custom metrics of one scenario, each function loaded once (at collection):
    UserError naming the YAML line of the `source:` that cannot be loaded."""

    def __init__(self, scenario: ScenarioConfig) -> None:
        self.metrics = tuple(m for m in scenario.metrics if m.custom)
        self._functions: dict[str, Callable[..., Any]] = {}
        for metric in self.metrics:
            if metric.source not in self._functions:
                self._functions[metric.source] = _function(metric)

    def compute(self, sample: Any, output: str, run_async: RunAsync) -> Computed:
        """Call each source once; an async one through `run_async` (the background loop)."""
        computed = Computed()
        returned: dict[str, tuple[Any, str | None]] = {}
        for metric in self.metrics:
            if metric.source not in returned:
                returned[metric.source] = _call(
                    self._functions[metric.source], sample, output, run_async
                )
            value, failure = returned[metric.source]
            score, reason = (None, failure) if failure else value_of(value, metric)
            if score is not None:
                computed.scores[metric.name] = score
            else:
                computed.unscored[metric.name] = f"{metric.source}: {reason}"
        return computed


def _function(metric: MetricConfig) -> Callable[..., Any]:
    fix = "give an importable module:function, or install the package that registers it"
    try:
        function = load(metric.source, METRICS_GROUP)
    except ImportFailed as error:
        raise UserError(
            f"{metric.source_at}: {metric.source!r} cannot be loaded ({error}); {fix}"
        ) from None
    if not callable(function):
        raise UserError(
            f"{metric.source_at}: {metric.source!r} is not callable; "
            "name a function of (sample, output) returning a number or a dict of numbers"
        )
    return function  # type: ignore[no-any-return]


def _call(
    function: Callable[..., Any], sample: Any, output: str, run_async: RunAsync
) -> tuple[Any, str | None]:
    """What the function returned, or (None, why it did not)."""
    try:
        value = function(sample, output)
        if inspect.isawaitable(value):
            value = run_async(_awaited(value))
    except Exception as error:  # a user's function: its failure is data
        words = " ".join(str(error).split())[:REASON_LIMIT]
        return None, f"raised {type(error).__name__}" + (f": {words}" if words else "")
    return value, None


async def _awaited(value: Any) -> Any:
    return await value


def value_of(value: Any, metric: MetricConfig) -> tuple[float | None, str]:
    """The metric's score in what its function returned, or (None, why there is none)."""
    if isinstance(value, dict):
        key = metric.key or metric.name
        if key not in value:
            # repr, bounded: a key is the function's data, and the reason is one line.
            keys = ", ".join(sorted(repr(str(k))[:40] for k in value)[:10]) or "none"
            return None, f"returned no key {key!r} (its keys: {keys})"
        value = value[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None, f"returned {type(value).__name__}, not a number"
    if isinstance(value, int) and abs(value) > MAX_NUMBER:
        return None, f"returned an integer beyond ±{MAX_NUMBER:g}"
    number = float(value)
    if not math.isfinite(number) or abs(number) > MAX_NUMBER:
        return None, f"returned {number}, not a finite number"
    return number, ""
