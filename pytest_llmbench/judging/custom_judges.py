"""A user's judge: `kind: module:Class`, or `kind: NAME` for a class an installed package
registers in the `pytest_llmbench.judges` entry-point group.

The class is called with the judge's config, ``Class(config: JudgeConfig)`` (the YAML's
`options:` mapping is ``config.options``; `model`, `base_url`, `api_key_env`, `concurrency`
and the rest are there too), once per item process, and the object must implement the
`Judge` protocol (`async score(JudgeRequest) -> JudgeResult` and `async aclose()`). It runs
on the item process's background loop, never in the helper process (which only speaks
OpenAI-compatible HTTP), behind the same reply cache, budget and tally as every judge.

`Checked` wraps it so that what it does stays data: a `score` that raises, returns
something else than a JudgeResult, or scores that are not finite numbers for every
metric asked, leaves the sample unscored with the reason.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import time
from typing import Any

from pytest_llmbench.benchmark.extensions import JUDGES_GROUP, ImportFailed, load
from pytest_llmbench.benchmark.judge_config import JudgeConfig
from pytest_llmbench.errors import JudgeSetupError
from pytest_llmbench.judging.judge_protocol import Judge, JudgeRequest
from pytest_llmbench.judging.result import JudgeResult
from pytest_llmbench.results.validation import MAX_NUMBER

__all__ = ["Checked", "build"]

REASON_LIMIT = 200

_PROTOCOL = "async def score(self, request: JudgeRequest) -> JudgeResult and async def aclose(self)"


def build(config: JudgeConfig) -> Checked:
    """The judge `config.kind` names, built and checked: JudgeSetupError naming the YAML
    line of `kind:` when it cannot be loaded, built, or is not a Judge."""
    where = config.kind_at or f"judges.{config.name}.kind"
    try:
        factory = load(config.kind, JUDGES_GROUP)
    except ImportFailed as error:
        raise JudgeSetupError(
            f"{where}: {config.kind!r} cannot be loaded ({error}); give an importable "
            "module:Class, or install the package that registers it"
        ) from None
    if not callable(factory):
        raise JudgeSetupError(f"{where}: {config.kind!r} is not a class; {_fix()}")
    try:
        judge = factory(config)
    except Exception as error:  # a user's constructor
        words = " ".join(str(error).split())[:REASON_LIMIT]
        raise JudgeSetupError(
            f"{where}: {config.kind}(config) raised {type(error).__name__}: {words}; "
            "check the judge's options:"
        ) from None
    if not isinstance(judge, Judge) or not all(
        inspect.iscoroutinefunction(getattr(judge, name)) for name in ("score", "aclose")
    ):
        raise JudgeSetupError(
            f"{where}: {config.kind} does not implement the Judge protocol; {_fix()}"
        )
    return Checked(judge, config.kind, config.concurrency)


def _fix() -> str:
    return f"give a class taking (config) whose objects define {_PROTOCOL}"


class Checked:
    """A user's judge, its answers checked (see the module's docstring)."""

    def __init__(self, judge: Judge, kind: str, concurrency: int) -> None:
        self.judge, self.kind, self.concurrency = judge, kind, concurrency
        self._slots: asyncio.Semaphore | None = None  # made on the loop, at first use

    async def score(self, request: JudgeRequest) -> JudgeResult:
        """At most the judge's `concurrency` calls at once in this process."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.concurrency)
        async with self._slots:
            started = time.monotonic()
            result = await self._score(request)
        # One call, however the class counts: the tally and the record say it was made.
        result.attempts = max(1, result.attempts) if result.status == "scored" else result.attempts
        result.latency_s = result.latency_s or time.monotonic() - started
        return result

    async def _score(self, request: JudgeRequest) -> JudgeResult:
        try:
            result: Any = await self.judge.score(request)
        except Exception as error:  # a user's judge: its failure is data
            words = " ".join(str(error).split())[:REASON_LIMIT]
            return _unscored(f"judge {self.kind} raised {type(error).__name__}: {words}")
        if not isinstance(result, JudgeResult):
            shown = type(result).__name__
            return _unscored(f"judge {self.kind} returned {shown}, not a JudgeResult")
        if result.status != "scored":
            if result.status != "unscored":
                return _unscored(f"judge {self.kind} returned status {str(result.status)[:40]!r}")
            return result
        problem = _scores_problem(result.scores, request.metrics)
        if problem:
            return _unscored(f"judge {self.kind} {problem}")
        result.scores = {name: float(result.scores[name]) for name in request.metrics}
        return result

    async def aclose(self) -> None:
        await self.judge.aclose()


def _scores_problem(scores: Any, metrics: tuple[str, ...]) -> str:
    if not isinstance(scores, dict):
        return f"gave scores as {type(scores).__name__}, not a dict"
    for name in metrics:
        value = scores.get(name)
        if value is None:
            return f"gave no score for {name}"
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or abs(value) > MAX_NUMBER
            or not math.isfinite(value)
        ):
            return f"gave {name} = {str(value)[:40]!r}, not a finite number"
    return ""


def _unscored(reason: str) -> JudgeResult:
    return JudgeResult(status="unscored", reason=reason)
