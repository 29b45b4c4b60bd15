"""The controller's judging ahead over the whole selection, for stored outputs.

A scenario whose outputs are in the dataset (``output: <field>``, or no ``output:`` and
samples with an ``output`` field, judged by the plain body ``judge(sample.output)``) needs
no item process to know what will be judged. The run's controller (the single process, or
the xdist controller) renders those requests in selection order and sends them to the
run's helper as "ahead" calls, within `judging.ahead_window.Window` (twice the judge's
concurrency judged ahead and not yet begun, served from the places the processes are at).
The helper keeps each result until an item asks for that very request (helper_process.Calls):
the item's own `judge(x)` is then answered by it, with no second call, and counts it as
its call (not a cache hit). A body that judges anything else asks anew; its first such
sample stops judging ahead for the scenario, and the calls made ahead and never taken are
counted in the record (``usage.ahead_unused``).

In a single process (no xdist) the items run where the results arrive: an item takes its
result here (`take`, through JudgeService.stored_ahead), with no round trip to the helper
and no second rendering, and the helper forgets each call once done ("taken_here"). That
round trip was the run's pace at high concurrency: items run one at a time, and each one
waited for the helper's loop, busy reading hundreds of replies (issue 12).
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import functools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_llmbench.benchmark.config import ScenarioConfig
from pytest_llmbench.benchmark.dataset import Dataset, Sample
from pytest_llmbench.errors import JudgeSetupError
from pytest_llmbench.judging.ahead_window import Window
from pytest_llmbench.judging.judge_protocol import NOT_MADE
from pytest_llmbench.judging.result import JudgeResult
from pytest_llmbench.judging.service import JudgeService, Prepared

__all__ = ["AheadOfItems", "serial_reason", "stored_text"]

# How long the xdist controller waits for a worker's selection file (written right after
# its collection, as xdist reports it).
SELECTION_WAIT_S = 30.0

if TYPE_CHECKING:
    import asyncio  # imported where it runs, on the loop: a dry run never loads it


def stored_text(scenario: ScenarioConfig, sample: Sample) -> str | None:
    """The text the scenario's test will judge for `sample`, when the dataset holds it:
    ``output: <field>``'s value, or (no ``output:``) the sample's ``output``, as
    ``judge(x)`` sends it; None when it is not known before the test runs."""
    if scenario.output is None:
        value = sample.output
    elif ":" in scenario.output:
        return None  # produced by a function, in the item process
    elif scenario.output in sample.fields:
        value = sample.fields[scenario.output]
    else:
        return None
    return None if value is None else str(value)


def serial_reason(service: JudgeService, scenario: ScenarioConfig) -> str | None:
    """Why a live scenario's samples are judged one call at a time per process (each
    `judge(x)` waits for its reply), or None when they are judged ahead: by the
    controller (stored outputs) or by each item process (`output:`)."""
    if scenario.output is not None:
        return None  # judged ahead in each process, or by the controller
    if AheadOfItems.eligible(service, scenario):
        return None  # the plain body: judged ahead while its requests match
    if service.judge_config(scenario).custom:
        return "a custom judge kind and no output:"
    if not service.shares_calls:
        return "llmbench_judge_process = false and no output:"
    return "a budget is set and no output:"


@dataclass(frozen=True)
class _Entry:
    scenario: ScenarioConfig
    sample: Sample
    text: str
    nodeid: str


class AheadOfItems:
    """Judging ahead over the selection (built on the controller once it is known)."""

    def __init__(
        self, service: JudgeService, entries: Sequence[_Entry], size: int, *, local: bool = False
    ) -> None:
        """`local`: the items run in this process, and take their results here."""
        self._service = service
        self._local = local
        # position -> its result, for `take` on pytest's main thread (local only)
        self._done: dict[int, concurrent.futures.Future[JudgeResult]] = {}
        self._entries = list(entries)
        self._position = {(e.scenario.name, e.sample.id): i for i, e in enumerate(entries)}
        self._of_node = {e.nodeid: i for i, e in enumerate(entries)}
        self._window = Window(len(self._entries), size)
        self._prepared: dict[int, Prepared] = {}
        self._results: dict[int, JudgeResult] = {}
        self._taken: set[int] = set()
        self.stopped: dict[str, str] = {}  # scenario -> the sample whose body judged other text
        self._tasks: set[asyncio.Task[None]] = set()
        # Items begun, not yet told to the loop (appended by pytest's thread, drained there).
        self._begun: collections.deque[int] = collections.deque()
        self._wake_pending = False
        self._batch = max(1, size // 16)

    # -- building ---------------------------------------------------------------------

    @classmethod
    def eligible(cls, service: JudgeService, scenario: ScenarioConfig) -> bool:
        # With a budget, each item process judges ahead what it runs next (judging/ahead),
        # as before: the budget is then spent in the order the items run, not raced by
        # the controller's calls.
        if not (
            service.shares_calls_of(scenario)
            and service.budget is None
            and bool(scenario.judged_metrics)
            and (scenario.output is None or ":" not in scenario.output)
        ):
            return False
        try:
            return service.mode(scenario.judge).mode == "live"
        except JudgeSetupError:
            return False  # said where the scenario is collected

    @classmethod
    def build(
        cls,
        service: JudgeService,
        chosen: Sequence[tuple[ScenarioConfig, Sample, str]],
        *,
        local: bool = False,
    ) -> AheadOfItems | None:
        """From the selection in run order (scenario, sample, node id); None when nothing
        can be judged ahead. `local`: the items run in this process (no xdist)."""
        entries: list[_Entry] = []
        ok: dict[str, bool] = {}
        seen: set[tuple[str, str]] = set()
        for scenario, sample, nodeid in chosen:
            if (scenario.name, sample.id) in seen:
                continue  # a repeat of the sample (pytest-repeat): judged by its own item
            seen.add((scenario.name, sample.id))
            if scenario.name not in ok:
                ok[scenario.name] = cls.eligible(service, scenario)
            text = stored_text(scenario, sample) if ok[scenario.name] else None
            if text is not None:
                entries.append(_Entry(scenario, sample, text, nodeid))
        if not entries:
            return None
        size = 2 * max(service.judge_config(e.scenario).concurrency for e in entries)
        return cls(service, entries, size, local=local)

    def start(self) -> None:
        if self._local:
            self._service.stored_ahead = self
            # The first window is issued before the first item runs, so that its item finds
            # it here rather than asking for itself while it is being issued.
            self._service.loop.run(self._start())
        else:
            self._service.loop.loop.call_soon_threadsafe(self._fill)

    async def _start(self) -> None:
        self._fill()

    # -- events, from pytest's main thread ---------------------------------------------

    def begin(self, nodeid: str) -> None:
        """An item began, in any process (pytest_runtest_logstart). Told to the loop a
        batch at a time: waking it is a system call per item, a tenth of pytest's thread
        at concurrency 256. A batch is smaller than the window, so the calls it holds back
        are never the ones an item waits for."""
        position = self._of_node.get(nodeid)
        if position is None:
            return
        self._begun.append(position)
        if not self._wake_pending and len(self._begun) >= self._batch:
            self._wake_pending = True
            self._service.loop.loop.call_soon_threadsafe(self._begin_all)

    def reported(self, payload: dict[str, Any]) -> None:
        """A sample's payload arrived: did its test take what was judged ahead?"""
        position = self._position.get((payload.get("scenario"), payload.get("sample_id")))  # type: ignore[arg-type]
        if position is None or position not in self._prepared:
            return
        if payload.get("prompt_sha256") == self._prepared[position].digest:
            self._taken.add(position)
            return
        if payload.get("status") == "error":
            return  # failed before judging: says nothing about what the body judges
        scenario = self._entries[position].scenario.name
        self.stopped.setdefault(scenario, str(payload.get("sample_id")))

    def take(
        self, scenario: ScenarioConfig, sample: Sample, output: str
    ) -> tuple[JudgeResult, Prepared] | None:
        """The item's result judged ahead, if the body judges the very text judged ahead,
        waiting for it if still in flight (local only; pytest's main thread). Once per
        sample: the same sample's item run again asks for itself, as through the helper."""
        position = self._position.get((scenario.name, sample.id))
        if position is None or self._entries[position].text != output:
            return None
        future = self._done.pop(position, None)
        if future is None:
            return None  # not judged ahead (yet), or taken already
        try:
            result = future.result()
        except (Exception, concurrent.futures.CancelledError):
            return None  # the item asks for itself, and says what went wrong
        if result.reason in NOT_MADE:
            return None
        # As the helper answers an item's request joining a call made ahead.
        return dataclasses.replace(result, started=False, claimed=True), self._prepared[position]

    def finish(self) -> None:
        """At session finish, before the loop closes: judge nothing more, and keep in the
        cache what was judged ahead and never taken (an interrupted run's next run, or a
        body that judged other text, finds it there)."""
        self._window.size = 0
        if self._service.stored_ahead is self:
            self._service.stored_ahead = None
        for position, result in list(self._results.items()):
            if position not in self._taken and result.started and result.status == "scored":
                self._service.store(self._prepared[position], result)

    def unused(self) -> dict[str, int]:
        """Per scenario: calls made ahead that no item took (read after the loop closed)."""
        counts: dict[str, int] = {}
        for position, result in self._results.items():
            if position in self._taken or not result.started or not result.attempts:
                continue
            name = self._entries[position].scenario.name
            counts[name] = counts.get(name, 0) + 1
        return counts

    # -- on the loop --------------------------------------------------------------------

    def _begin_all(self) -> None:
        self._wake_pending = False  # before draining: a later append wakes the loop again
        while self._begun:
            self._window.begin(self._begun.popleft())
        self._fill()

    def _usable(self, position: int) -> bool:
        return self._entries[position].scenario.name not in self.stopped

    def _fill(self) -> None:
        import asyncio  # on the loop only

        for position in self._window.next(self._usable):
            task = asyncio.ensure_future(self._one(position))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            if self._local:
                future: concurrent.futures.Future[JudgeResult] = concurrent.futures.Future()
                self._done[position] = future
                task.add_done_callback(functools.partial(self._hand, future, position))

    def _hand(
        self, future: concurrent.futures.Future[JudgeResult], position: int, _: object
    ) -> None:
        result = self._results.get(position)
        if result is None:
            future.cancel()  # cancelled, or the call raised: its item asks for itself
        else:
            future.set_result(result)

    async def _one(self, position: int) -> None:
        entry = self._entries[position]
        service = self._service
        prepared = service.prepare(
            entry.scenario, entry.sample, entry.text, ahead=True, taken_here=self._local
        )
        self._prepared[position] = prepared
        self._results[position] = await service.judge_prepared(entry.scenario, prepared)


def from_worker_selection(
    service: JudgeService,
    path: Path,
    ids: Sequence[str],
    scenarios: dict[str, ScenarioConfig],
    dataset_of: Callable[[ScenarioConfig], Dataset],
) -> AheadOfItems | None:
    """The xdist controller's: the selection a worker wrote (waited for), in the order of
    the node ids xdist reported; on the loop's blocking-call thread."""
    until = time.monotonic() + SELECTION_WAIT_S
    data: Any = None
    while data is None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            if time.monotonic() > until:
                return None
            time.sleep(0.02)
    if not isinstance(data, dict):
        return None
    by_node: dict[str, tuple[ScenarioConfig, Sample, str]] = {}
    for name, items in data.items():
        scenario = scenarios.get(name) if isinstance(name, str) else None
        if scenario is None or not isinstance(items, dict):
            continue
        samples = {s.id: s for s in dataset_of(scenario).samples}
        for nodeid, sample_id in items.items():
            sample = samples.get(sample_id) if isinstance(sample_id, str) else None
            if sample is not None and isinstance(nodeid, str):
                by_node[nodeid] = (scenario, sample, nodeid)
    chosen = [by_node[n] for n in ids if n in by_node]
    return AheadOfItems.build(service, chosen)
