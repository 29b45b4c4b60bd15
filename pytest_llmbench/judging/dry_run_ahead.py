"""A dry run scores its samples' stored outputs a batch at a time, ahead of their items.

Rendering the prompt is most of a dry-run item's own work, and in pytest's loop, between
one item's hooks and the next one's, it runs from cold caches: about five times slower
than the same renderings done one after another. So before an item whose sample is not
scored yet, the item process scores the stored outputs (``sample.output``, what the plain
body ``judge(sample.output)`` judges, or the ``output: <field>``) of that item and the
next ones, DRY_RUN_BATCH at most, and an item's ``judge(output)`` takes its result only
when it judges exactly that text. A sample whose prompt does not render keeps its
PromptError, which its own item raises, as it would have rendering there. The first body
that judges other text stops it for its scenario (the rest is scored item by item).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeAlias

from pytest_llmbench.benchmark.config import ScenarioConfig
from pytest_llmbench.benchmark.dataset import Sample
from pytest_llmbench.errors import PromptError
from pytest_llmbench.judging.result import JudgeResult

__all__ = ["DRY_RUN_BATCH", "DryRunAhead"]

# Samples scored in one go: enough for warm caches, few enough to hold (a result each).
DRY_RUN_BATCH = 256

Scored: TypeAlias = tuple[JudgeResult, "str | None"]  # the result and the prompt's hash


class DryRunAhead:
    """The samples of one item process scored ahead by the dry-run judge, until their
    items take them (or are done without)."""

    def __init__(self, score: Callable[[ScenarioConfig, Sample, str], Scored]) -> None:
        self._score = score
        self._done: dict[tuple[str, str], tuple[str, Scored | PromptError]] = {}
        self._stopped: set[str] = set()  # scenarios whose body judged other text

    def stopped(self, scenario: ScenarioConfig) -> bool:
        return scenario.name in self._stopped

    def has(self, scenario: ScenarioConfig, sample: Sample) -> bool:
        return (scenario.name, sample.id) in self._done

    def score(self, batch: Iterable[tuple[ScenarioConfig, Sample, str]]) -> None:
        """Score each sample's stored output (the text its test will judge) now. A
        PromptError is kept for its item; any other error leaves the sample to its item,
        which meets it again."""
        for scenario, sample, text in batch:
            try:
                outcome: Scored | PromptError = self._score(scenario, sample, text)
            except PromptError as error:
                outcome = error
            except Exception:  # its item scores it again, and reports it there
                continue
            self._done[(scenario.name, sample.id)] = (text, outcome)

    def take(self, scenario: ScenarioConfig, sample: Sample, output: str) -> Scored | None:
        """What was scored ahead for this very text (raising the PromptError it met);
        None when the item must score its output itself."""
        found = self._done.pop((scenario.name, sample.id), None)
        if found is None:
            return None
        text, outcome = found
        if text != output:
            self._stopped.add(scenario.name)
            self._done = {k: v for k, v in self._done.items() if k[0] != scenario.name}
            return None
        if isinstance(outcome, PromptError):
            raise outcome
        return outcome

    def discard(self, scenario: ScenarioConfig, sample: Sample) -> None:
        """Forget the sample of an item that is done (skipped, or failed before judging)."""
        self._done.pop((scenario.name, sample.id), None)
