"""Judging ahead: producing a sample's output (a scenario's `output:`) and judging it on
the background loop before its item runs, so that one item process keeps many judge calls
in flight while pytest runs the items one at a time."""

from __future__ import annotations

import concurrent.futures
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_llmbench.benchmark.config import ScenarioConfig
from pytest_llmbench.benchmark.dataset import Sample
from pytest_llmbench.judging.judge_protocol import NOT_MADE
from pytest_llmbench.judging.output_sources import Produced
from pytest_llmbench.judging.result import JudgeResult

if TYPE_CHECKING:
    from pytest_llmbench.judging.service import JudgeService, Prepared

__all__ = ["NOT_PREFETCHED", "JudgingAhead"]

NOT_PREFETCHED = object()  # output(): nothing judged ahead (None is an output)


@dataclass(frozen=True)
class _Done:
    """A sample judged ahead of its item."""

    output: Produced  # as the `output:` callable returned it, and whence
    text: str  # the output's text as judge(output) sends it
    result: JudgeResult
    prepared: Prepared


class JudgingAhead:
    """The samples of one item process judged ahead, until their items take them."""

    def __init__(self, service: JudgeService) -> None:
        self._service = service
        self._started: dict[tuple[str, str, str], concurrent.futures.Future[_Done]] = {}

    def can_prefetch(self, scenario: ScenarioConfig) -> bool:
        """Whether this item process judges the scenario ahead itself: an `output:`
        function's outputs are produced here; stored outputs are judged ahead by the run's
        controller (run/ahead_of_items) when calls go through the run's helper."""
        stored = scenario.output is not None and ":" not in scenario.output
        if self._service.shares_calls_of(scenario) and stored and self._service.budget is None:
            return False
        return (
            scenario.output is not None
            and bool(scenario.judged_metrics)
            and self._service.mode(scenario.judge).mode == "live"
        )

    def prefetch(self, scenario: ScenarioConfig, sample: Sample) -> bool:
        """Produce the sample's output and judge it on the loop, ahead of its item.
        False when it already was."""
        if _key(scenario, sample) in self._started:
            return False
        service = self._service
        source = service.output_source(scenario)
        assert source is not None

        async def ahead() -> _Done:
            produced = await source.produce(sample)
            value = produced.value
            text = "" if value is None else str(value)  # as judge(output) sends it
            result, prepared = await service.judge_ahead(scenario, sample, text)
            return _Done(produced, text, result, prepared)

        self._started[_key(scenario, sample)] = service.loop.submit(ahead())
        return True

    def take(
        self, scenario: ScenarioConfig, sample: Sample, output: str
    ) -> tuple[JudgeResult, str | None] | None:
        """What was judged ahead, if it was this very text (waiting for it if need be);
        None when the item must judge its output itself."""
        started = self._started.pop(_key(scenario, sample), None)
        if started is None:
            return None
        try:
            done = started.result()
        except Exception:
            # Producing the output ahead failed, but this test judges an output of its
            # own: judge that, the failure is not this call's.
            return None
        # The test judged the text judged ahead: same request, no second rendering.
        if done.text != output or done.result.reason in NOT_MADE:
            return None
        self._service.adopt(scenario, done.prepared, done.result)
        return done.result, done.prepared.digest

    def discard(self, scenario: ScenarioConfig, sample: Sample) -> None:
        """Forget what was judged ahead for an item that is done (it may not have used it:
        the test failed first, or judged another output)."""
        self._started.pop(_key(scenario, sample), None)

    def output(self, scenario: ScenarioConfig, sample: Sample) -> Produced | object:
        """The output produced ahead, exactly as `output:` returned it (None included), or
        NOT_PREFETCHED."""
        started = self._started.get(_key(scenario, sample))
        if started is None:
            return NOT_PREFETCHED
        try:
            return started.result().output
        except Exception:
            # The prefetch failed (the app raised); the item produces it again and
            # reports the error itself.
            del self._started[_key(scenario, sample)]
            return NOT_PREFETCHED

    def pending(self) -> int:
        return len(self._started)


def _key(scenario: ScenarioConfig, sample: Sample) -> tuple[str, str, str]:
    """An item's key: (scenario, sample id, variant or "")."""
    return (scenario.name, *sample.item_key)
