"""The item process's part: samples to test items, the judge call, the payload."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from pytest_llmbench.benchmark.config import LLMBenchConfig, ScenarioConfig, Variant
from pytest_llmbench.benchmark.dataset import Dataset, Sample, load_dataset
from pytest_llmbench.datasets import frozen
from pytest_llmbench.errors import OutputError, PromptError
from pytest_llmbench.judging import dry_run_ahead
from pytest_llmbench.judging.custom_metrics import CustomMetrics
from pytest_llmbench.judging.output_sources import Produced
from pytest_llmbench.judging.perplexity import compute as perplexity_scores
from pytest_llmbench.judging.reference_metrics import compute as reference_scores
from pytest_llmbench.judging.reference_metrics import corpus_statistics
from pytest_llmbench.judging.result import JudgeResult
from pytest_llmbench.judging.service import JudgeService
from pytest_llmbench.judging.similarity import compute as similarity_scores
from pytest_llmbench.reporting.text_format import printable
from pytest_llmbench.results.schema import ManifestFingerprint, SamplePayload
from pytest_llmbench.run import payload
from pytest_llmbench.run.ahead_of_items import stored_text
from pytest_llmbench.run.selection import Selection, item_key

MARKER = "llmbench"


@dataclass
class ItemState:
    scenario: ScenarioConfig
    sample: Sample
    judged: JudgeResult | None = None
    prompt_sha256: str | None = None
    extra_scores: dict[str, float] = field(default_factory=dict)
    reference_stats: dict[str, list[float]] = field(default_factory=dict)  # aggregate: corpus
    # A metric computed here (similarity, a custom source) that has no score: why.
    unscored_metrics: dict[str, str] = field(default_factory=dict)
    ahead: bool | None = None  # may it be judged ahead of its turn (None: not yet decided)
    output_cached: bool | None = None  # the `output` fixture's came from the output cache
    # The `output` fixture's value when an output function produced it (for the record's
    # samples[].output: a reviewed run exported to the next dataset); else not produced.
    produced: Produced | None = None
    output_seconds: float | None = None  # the output function's time for the `output` fixture


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
            # A collection error, like every other dataset mistake: a UsageError raised
            # while collecting escapes as a traceback through pluggy.
            raise pytest.Collector.CollectError(
                f"scenario {scenario.name!r}: smoke ids not in {dataset.display}: "
                f"{', '.join(missing)}; fix the smoke: list in the llmbench config"
            )
        chosen.update(scenario.smoke)
    return chosen


def in_shard(sample_id: str, index: int, count: int) -> bool:
    """Shard K of N by a hash of the sample id: stable across runs, machines and Pythons
    (unlike hash()), and independent of file order."""
    digest = hashlib.sha256(sample_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count == index - 1


class ItemSide:
    """Everything an item process (single process or xdist worker) does."""

    def __init__(
        self, cfg: LLMBenchConfig, service: JudgeService, shard: tuple[int, int] | None = None
    ) -> None:
        self.cfg = cfg
        self.service = service
        self.shard = shard
        self._datasets: dict[str, Dataset] = {}
        self._manifests: dict[str, ManifestFingerprint | None] = {}  # scenario -> its manifest
        self._owners: dict[str, str] = {}  # scenario -> the test function that runs it
        self._custom: dict[str, CustomMetrics] = {}  # scenario -> its custom metrics
        self._computes: dict[str, bool] = {}  # scenario -> a metric is computed here

    def dataset(self, scenario: ScenarioConfig) -> Dataset:
        """The scenario's dataset, read once; one with a manifest beside it is verified
        against it first (a changed frozen dataset is a DatasetError: no item, no call)."""
        if scenario.name not in self._datasets:
            data = load_dataset(scenario.dataset, scenario.dataset_display, scenario.fields)
            self._manifests[scenario.name] = frozen.checked(data, self.cfg.rootdir)
            self._datasets[scenario.name] = data
        return self._datasets[scenario.name]

    def manifest(self, scenario: ScenarioConfig) -> ManifestFingerprint | None:
        """The frozen manifest the scenario's dataset matched (None: not frozen)."""
        self.dataset(scenario)
        return self._manifests[scenario.name]

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
        owner = self._owners.setdefault(name, metafunc.definition.nodeid)
        if owner != metafunc.definition.nodeid:
            # Two functions would write one sample's result twice, and the record keeps one.
            raise pytest.Collector.CollectError(
                f"{metafunc.definition.nodeid}: scenario {name!r} is already run by {owner}; "
                "one test function per scenario: give this test a scenario of its own "
                "(it may share the dataset), or put both checks in one test"
            )
        dataset = self.dataset(scenario)
        self.custom_metrics(scenario)  # loaded now: an import error is a collection error
        smoke = smoke_ids(scenario, dataset)
        samples = [s for s in dataset.samples if self.shard is None or in_shard(s.id, *self.shard)]
        if scenario.variants:  # each (sample, variant) is one item, a sample's variants together
            samples = [
                dataclasses.replace(s, item_id=f"{s.item_id}-{v.name}", item_variant=v)
                for s in samples
                for v in scenario.variants
            ]
        params = [
            pytest.param(s, id=s.item_id, marks=(pytest.mark.smoke,) if s.id in smoke else ())
            for s in samples
        ]
        metafunc.parametrize("sample", params)

    def custom_metrics(self, scenario: ScenarioConfig) -> CustomMetrics | None:
        """The scenario's `source: module:function` (or entry point) metrics; None for none."""
        if not any(m.custom for m in scenario.metrics):
            return None
        if scenario.name not in self._custom:
            self._custom[scenario.name] = CustomMetrics(scenario)
        return self._custom[scenario.name]

    def selection(self, items: Sequence[pytest.Item]) -> Selection:
        """{scenario: {node id: sample id}} of the collected (and not deselected) items."""
        found: Selection = {}
        for item in items:
            state = self.state(item)
            if state is not None:
                key = item_key(*state.sample.item_key)
                found.setdefault(state.scenario.name, {})[item.nodeid] = key
        return found

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

    def output(self, state: ItemState) -> Any:
        """The scenario's output for this sample: judged ahead when it could be."""
        source = self.service.output_source(state.scenario)
        if source is None:
            raise pytest.UsageError(
                f"scenario {state.scenario.name!r} declares no output:; use sample.output "
                "or add output: <field> or output: module:function to the scenario"
            )
        produced = self.service.ahead.output(state.scenario, state.sample)
        if not isinstance(produced, Produced):
            try:
                produced = source.produce_sync(state.sample)
            except OutputError as error:
                raise pytest.UsageError(str(error)) from None
        state.output_cached = produced.cached
        if source.calls_function:
            state.produced = produced
        state.output_seconds = produced.seconds
        return produced.value

    def prefetch_ahead(self, upcoming: Iterable[pytest.Item]) -> None:
        """Judge the next samples while this one runs, up to the window."""
        if not self.prefetchable:
            return
        room = self.window - self.service.ahead.pending()
        if room <= 0:
            return
        # Every item taken from `upcoming` is examined: it does not hand it out again.
        for item in upcoming:
            state = self.state(item)
            if state is None:
                continue
            if state.ahead is None:
                # Decided once per item: the window is walked again before every item.
                state.ahead = self.service.ahead.can_prefetch(state.scenario) and not (
                    item.get_closest_marker("skip") or item.get_closest_marker("skipif")
                )
            if state.ahead and self.service.ahead.prefetch(state.scenario, state.sample):
                room -= 1
                if room <= 0:
                    return

    def score_dry_ahead(
        self, item: pytest.Item, upcoming: Callable[[], Iterable[pytest.Item]]
    ) -> None:
        """A dry run: before an item whose sample is not scored yet, score its stored output
        and the next items' at once (judging/dry_run_ahead)."""
        state = self.state(item)
        dry = self.service.dry_ahead
        if state is None or dry.has(state.scenario, state.sample):
            return
        if not self.service.scores_dry_ahead(state.scenario):
            return
        batch = []
        for other in itertools.islice(upcoming(), dry_run_ahead.DRY_RUN_BATCH):
            found = self.state(other)
            if found is not None and self.service.scores_dry_ahead(found.scenario):
                text = stored_text(found.scenario, found.sample)
                if text is not None:
                    batch.append((found.scenario, found.sample, text))
        dry.score(batch)

    @functools.cached_property
    def scores_dry_runs_ahead(self) -> bool:
        """Whether any scenario is scored ahead in a dry run (see score_dry_ahead)."""
        return any(self.service.scores_dry_ahead(s) for s in self.cfg.scenarios.values())

    @functools.cached_property
    def prefetchable(self) -> bool:
        return any(
            s.output is not None and self.service.mode(s.judge).mode == "live"
            for s in self.cfg.scenarios.values()
        )

    @functools.cached_property
    def window(self) -> int:
        # Twice the concurrency: a full set in flight while finished ones wait for their
        # item; and room for every output the function may produce at once beside them.
        live = [
            max(self.cfg.judges[s.judge].concurrency, s.output_concurrency)
            for s in self.cfg.scenarios.values()
            if s.output is not None and self.service.mode(s.judge).mode == "live"
        ]
        return 2 * max(live, default=0)

    def judge(self, state: ItemState, output: object) -> dict[str, float]:
        """Score one output; record it on the item; fail the item when unscored."""
        text = "" if output is None else str(output)
        try:
            result, digest = self.service.score(state.scenario, state.sample, text)
        except PromptError as error:
            # The user's template, not the plugin, is at fault: its message names the prompt
            # file and the fix, and a traceback through the plugin would only hide it.
            pytest.fail(printable(str(error)), pytrace=False)
        state.judged, state.prompt_sha256 = result, digest
        if self._computes_metrics(state.scenario):
            self._compute_metrics(state, text)
        else:
            state.extra_scores, state.reference_stats, state.unscored_metrics = {}, {}, {}
        if result.status != "scored":
            reason = printable(str(result.reason))  # a judge's words: no terminal control
            pytest.fail(f"sample {state.sample.id!r} unscored: {reason}", pytrace=False)
        if state.unscored_metrics:
            reason = printable(payload.unscored_reason(state.unscored_metrics))
            pytest.fail(f"sample {state.sample.id!r} unscored: {reason}", pytrace=False)
        return {**result.scores, **state.extra_scores}

    def _compute_metrics(self, state: ItemState, text: str) -> None:
        """The metrics computed here, not by the judge: reference, similarity, perplexity
        and custom ones, with the reasons of those left unscored."""
        state.extra_scores = reference_scores(state.scenario.metrics, text, state.sample)
        state.reference_stats = corpus_statistics(state.scenario.metrics, text, state.sample)
        similar, unscored = similarity_scores(
            state.scenario.metrics, self.cfg.judges, text, state.sample
        )
        state.extra_scores.update(similar)
        fluent, not_fluent = perplexity_scores(state.scenario.metrics, self.cfg.judges, text)
        state.extra_scores.update(fluent)
        unscored = {**unscored, **not_fluent}
        custom = self.custom_metrics(state.scenario)
        if custom is not None:
            computed = custom.compute(state.sample, text, lambda c: self.service.loop.run(c))
            state.extra_scores.update(computed.scores)
            unscored = {**unscored, **computed.unscored}
        state.unscored_metrics = unscored

    def _computes_metrics(self, scenario: ScenarioConfig) -> bool:
        """Whether a metric of the scenario is computed here (decided once per scenario):
        a scenario of judged and stored (`source: field`) metrics only skips the work."""
        found = self._computes.get(scenario.name)
        if found is None:
            found = self._computes[scenario.name] = any(
                m.source not in ("judge", "field") or m.stemmer or m.aggregate == "corpus"
                for m in scenario.metrics
            )
        return found

    def payload(self, item: pytest.Item, report: pytest.TestReport) -> SamplePayload | None:
        state = self.state(item)
        if state is None:
            return None
        # Built once per item: let its state (scores, judge result) go with it.
        del item.stash[ITEM_STATE]
        self.service.ahead.discard(state.scenario, state.sample)
        self.service.dry_ahead.discard(state.scenario, state.sample)
        if report.skipped:
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
            live=self.service.mode(scenario.judge).mode == "live",
            judged_metrics=scenario.judged_metrics,
            field_values={
                m.name: fields.get(m.field or m.name)
                for m in scenario.metrics
                if m.source == "field"
            },
            extra_scores=state.extra_scores,
            unscored_metrics=state.unscored_metrics,
            prompt_sha256=state.prompt_sha256,
            failure=failure,
            output_cached=state.output_cached,
            reference_stats=state.reference_stats,
            produced=state.produced,
            variant=state.sample.item_key[1],
            output_seconds=state.output_seconds,
        )

    def variant(self, state: ItemState) -> Variant | None:
        """The `variant` fixture: the variant this item runs; None without `variants:`."""
        return state.sample.item_variant


def _crash_line(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    message = getattr(crash, "message", None) or str(report.longrepr).strip().splitlines()[-1:]
    text = message if isinstance(message, str) else " ".join(message)
    return text.strip().splitlines()[0][:300] if text.strip() else f"{report.when} failed"
