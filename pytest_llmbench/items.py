"""The item process's part: samples to test items, the judge call, the payload."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from . import payload
from .config import LLMBenchConfig, ScenarioConfig
from .dataset import Dataset, Sample, load_dataset
from .judge_result import JudgeResult
from .judging import JudgeService
from .reference_metrics import compute as reference_scores

MARKER = "llmbench"


@dataclass
class ItemState:
    scenario: ScenarioConfig
    sample: Sample
    judged: JudgeResult | None = None
    prompt_sha256: str | None = None
    extra_scores: dict[str, float] = field(default_factory=dict)


ITEM_STATE = pytest.StashKey[ItemState]()


def smoke_ids(scenario: ScenarioConfig, dataset: Dataset) -> set[str]:
    """The first N samples by file order, a list of ids, plus samples marked smoke: true."""
    chosen = {s.id for s in dataset.samples if s.fields.get("smoke") is True}
    if isinstance(scenario.smoke, int):
        chosen.update(s.id for s in dataset.samples[: scenario.smoke])
    else:
        known = {s.id for s in dataset.samples}
        missing = [i for i in scenario.smoke if i not in known]
        if missing:
            raise pytest.UsageError(
                f"scenario {scenario.name!r}: smoke ids not in {dataset.display}: "
                f"{', '.join(missing)}; fix the smoke: list in the llmbench config"
            )
        chosen.update(scenario.smoke)
    return chosen


class ItemSide:
    """Everything an item process (single process or xdist worker) does."""

    def __init__(self, cfg: LLMBenchConfig, service: JudgeService) -> None:
        self.cfg = cfg
        self.service = service
        self._datasets: dict[str, Dataset] = {}

    def dataset(self, scenario: ScenarioConfig) -> Dataset:
        if scenario.name not in self._datasets:
            self._datasets[scenario.name] = load_dataset(
                scenario.dataset, scenario.dataset_display, scenario.fields
            )
        return self._datasets[scenario.name]

    def scenario(self, name: str) -> ScenarioConfig:
        if name not in self.cfg.scenarios:
            known = ", ".join(sorted(self.cfg.scenarios)) or "none"
            raise pytest.Collector.CollectError(
                f"@pytest.mark.llmbench({name!r}): no such scenario in "
                f"{self.cfg.path.name}; defined scenarios: {known}"
            )
        return self.cfg.scenarios[name]

    def parametrize(self, metafunc: pytest.Metafunc, name: str) -> None:
        scenario = self.scenario(name)
        if "sample" not in metafunc.fixturenames:
            raise pytest.Collector.CollectError(
                f"{metafunc.function.__name__} is marked llmbench({name!r}) but takes no "
                f"'sample' argument; add it: def {metafunc.function.__name__}(sample, judge)"
            )
        dataset = self.dataset(scenario)
        smoke = smoke_ids(scenario, dataset)
        params = [
            pytest.param(s, id=s.item_id, marks=(pytest.mark.smoke,) if s.id in smoke else ())
            for s in dataset.samples
        ]
        metafunc.parametrize("sample", params)

    def state(self, item: pytest.Item) -> ItemState | None:
        state = item.stash.get(ITEM_STATE, None)
        if state is not None:
            return state
        marker = item.get_closest_marker(MARKER)
        callspec = getattr(item, "callspec", None)
        if marker is None or callspec is None or "sample" not in callspec.params:
            return None
        sample = callspec.params["sample"]
        if not isinstance(sample, Sample):
            return None
        state = ItemState(self.cfg.scenarios[marker.args[0]], sample)
        item.stash[ITEM_STATE] = state
        return state

    def judge(self, state: ItemState, output: object) -> dict[str, float]:
        """Score one output; record it on the item; fail the item when unscored."""
        text = "" if output is None else str(output)
        result, digest = self.service.score(state.scenario, state.sample, text)
        state.judged, state.prompt_sha256 = result, digest
        state.extra_scores = reference_scores(state.scenario.metrics, text, state.sample)
        if result.status != "scored":
            pytest.fail(f"sample {state.sample.id!r} unscored: {result.reason}", pytrace=False)
        return {**result.scores, **state.extra_scores}

    def payload(self, item: pytest.Item, report: pytest.TestReport) -> dict[str, Any] | None:
        state = self.state(item)
        if state is None or report.skipped:
            return None
        failure = None
        if report.failed and state.judged is None:
            failure = _crash_line(report)
        scenario = state.scenario
        fields: Mapping[str, Any] = state.sample.fields
        return payload.build(
            scenario=scenario.name,
            sample_id=state.sample.id,
            item_id=state.sample.item_id,
            position=state.sample.position,
            nodeid=item.nodeid,
            outcome=report.outcome,
            judged=state.judged,
            judged_metrics=scenario.judged_metrics,
            field_values={
                m.name: fields.get(m.field or m.name)
                for m in scenario.metrics
                if m.source == "field"
            },
            extra_scores=state.extra_scores,
            prompt_sha256=state.prompt_sha256,
            failure=failure,
        )


def _crash_line(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    message = getattr(crash, "message", None) or str(report.longrepr).strip().splitlines()[-1:]
    text = message if isinstance(message, str) else " ".join(message)
    return text.strip().splitlines()[0][:300] if text.strip() else f"{report.when} failed"
