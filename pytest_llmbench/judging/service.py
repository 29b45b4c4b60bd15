"""Scoring samples in the item process: cache first, one call per distinct request, and a
budget, with the judge its mode names (mode.py) as Judges built it (judges.py). Judging
ahead (ahead.py) scores through here too."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pytest_llmbench.benchmark.config import LLMBenchConfig, ScenarioConfig
from pytest_llmbench.benchmark.dataset import Sample
from pytest_llmbench.benchmark.prompts import (
    JudgePrompt,
    load_prompt,
    messages_sha256,
    render_messages,
)
from pytest_llmbench.errors import JudgeSetupError, os_reason
from pytest_llmbench.judging.ahead import JudgingAhead
from pytest_llmbench.judging.budget import Budget
from pytest_llmbench.judging.judge_protocol import Judge, JudgeRequest
from pytest_llmbench.judging.judges import Judges
from pytest_llmbench.judging.mode import Resolved, resolve_mode
from pytest_llmbench.judging.output_sources import OutputSource
from pytest_llmbench.judging.result import JudgeResult
from pytest_llmbench.judging.tally import Tally
from pytest_llmbench.results.problems import BUDGET_EXHAUSTED

if TYPE_CHECKING:
    from pytest_llmbench.judging.background_loop import BackgroundLoop
    from pytest_llmbench.judging.reply_cache import JudgeCache


@dataclass(frozen=True)
class Prepared:
    """A request for the judge, with what the service keeps beside it."""

    request: JudgeRequest
    digest: str | None  # sha256 of the rendered messages, for the record
    key: str  # the cache key; "" with no cache, the dry-run judge or no judged metrics


T = TypeVar("T")


def _run_now(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (the dry-run judge's) to its end in this thread:
    a dry run scores through the Judge protocol without starting an event loop."""
    try:
        coro.send(None)
    except StopIteration as done:
        value: T = done.value
        return value
    coro.close()
    raise RuntimeError("the dry-run judge awaited something; it must answer at once")


class JudgeService:
    """Scores samples for every scenario of one process; live judges share one loop."""

    def __init__(
        self,
        cfg: LLMBenchConfig,
        option: str,
        environ: Mapping[str, str],
        *,
        cache_dir: Path | None = None,
        budget: Budget | None = None,
        judge_process: bool = True,
        judges: Mapping[str, Judge] | None = None,
    ) -> None:
        """`judges`: judges built elsewhere, by judge name, for live calls (see Judges)."""
        self._cfg = cfg
        self._judges = Judges(cfg.judges, environ, use_process=judge_process, provided=judges)
        self._option = option
        self._environ = environ
        self._cache_dir = cache_dir
        self.budget = budget
        self._modes: dict[str, Resolved] = {}
        self._prompts: dict[str, JudgePrompt] = {}
        self._outputs: dict[str, OutputSource] = {}
        self._cache: JudgeCache | None = None
        self._cache_lock = threading.Lock()
        self._cache_failed: str | None = None  # why it could not be opened
        # What went wrong on disk and was lived with, for the end of the run.
        self.notes: list[str] = []
        self.ahead = JudgingAhead(self)
        self.tally = Tally()  # every request the judges answered in this process

    # -- configuration, resolved once per process ---------------------------------------

    def mode(self, judge_name: str) -> Resolved:
        if judge_name not in self._modes:
            self._modes[judge_name] = resolve_mode(
                self._option, self._cfg.judges[judge_name], self._environ
            )
        return self._modes[judge_name]

    def prompt(self, scenario: ScenarioConfig) -> JudgePrompt | None:
        if not scenario.prompt:
            return None
        if scenario.prompt not in self._prompts:
            self._prompts[scenario.prompt] = load_prompt(
                self._cfg.prompts_dir, scenario.prompt, rootdir=self._cfg.rootdir
            )
        return self._prompts[scenario.prompt]

    def output_source(self, scenario: ScenarioConfig) -> OutputSource | None:
        if scenario.output is None:
            return None
        if scenario.name not in self._outputs:
            self._outputs[scenario.name] = OutputSource(scenario.name, scenario.output)
        return self._outputs[scenario.name]

    @property
    def cache(self) -> JudgeCache | None:
        with self._cache_lock:  # opened by the main thread or the blocking-call thread
            if self._cache is None and self._cache_dir is not None and not self._cache_failed:
                import sqlite3

                from pytest_llmbench.judging.reply_cache import JudgeCache

                try:
                    self._cache = JudgeCache(self._cache_dir)
                except (OSError, sqlite3.Error) as error:
                    # A read-only or full disk: the run goes on, every call asked anew.
                    self._cache_failed = os_reason(error, self._cache_dir, self._cfg.rootdir)
                    self.notes.append(
                        f"reply cache {self._shown(self._cache_dir)} not used: {self._cache_failed}"
                    )
                if self._cache is not None and self._cache.read_only:
                    self.notes.append(
                        f"reply cache {self._shown(self._cache.path)} is read-only: "
                        "replies are read from it, new ones not kept"
                    )
            return self._cache

    @property
    def loop(self) -> BackgroundLoop:
        return self._judges.loop

    def warm_up(self) -> None:
        """Start the helper process now, while pytest collects, if any judge is live and
        calls are likely. With replies already cached (a re-run) it waits for the first
        miss: a warm run then starts no process at all."""
        if not self._judges.use_process or not self._any_live(judging=True):
            return
        if self.cache is not None and len(self.cache) > 0:
            return
        self._judges.start_helper()

    def _any_live(self, *, judging: bool) -> bool:
        """Whether a scenario's judge is live (with `judging`: and it has metrics to judge)."""
        for scenario in self._cfg.scenarios.values():
            if judging and not scenario.judged_metrics:
                continue
            with contextlib.suppress(JudgeSetupError):
                if self.mode(scenario.judge).mode == "live":
                    return True
        return False

    def describe_cache_and_budget(self) -> str:
        live = self._any_live(judging=False)
        if self._cache_dir is None:
            text = "cache off"
        elif not live:
            text = "cache unused (no live judge)"
        elif self.cache is None:
            text = f"cache {self._shown(self._cache_dir)} not used: {self._cache_failed}"
        else:
            stored = f"{len(self.cache)} replies stored"
            if self.cache.read_only:
                stored += ", read-only: new replies are not kept"
            text = f"cache {self._shown(self._cache_dir)} ({stored})"
        if self.budget is not None:
            text += f", budget ${self.budget.limit_usd:g}"
        return text

    def _shown(self, path: Path) -> Path:
        return (
            path.relative_to(self._cfg.rootdir) if path.is_relative_to(self._cfg.rootdir) else path
        )

    # -- one request --------------------------------------------------------------------

    def prepare(self, scenario: ScenarioConfig, sample: Sample, output: str) -> Prepared:
        metrics = scenario.judged_metrics
        prompt = self.prompt(scenario)
        messages = [] if prompt is None or not metrics else render_messages(prompt, sample, output)
        request = JudgeRequest(
            messages,
            metrics,
            temperature=prompt.temperature if prompt is not None else None,
            sample_id=sample.id,
            output=output,
            ground_truth=sample.ground_truth,
        )
        if prompt is None or not metrics:
            return Prepared(request, None, "")
        digest = messages_sha256(messages)
        if self.mode(scenario.judge).mode == "dry-run" or self._cache_dir is None:
            return Prepared(request, digest, "")  # the key serves the cache only
        from pytest_llmbench.judging.reply_cache import cache_key

        judge = self._cfg.judges[scenario.judge]
        key = cache_key(judge, messages, metrics, prompt.ref, prompt.sha256)
        return Prepared(request, digest, key)

    async def _judge(self, scenario: ScenarioConfig, prepared: Prepared) -> JudgeResult:
        """Cache, budget, then the judge; runs on the background loop, and every SQLite
        call on its blocking-call thread, so that replies keep arriving meanwhile."""
        loop = self.loop
        if self._cache_dir is not None:
            hit = await loop.offload(self._cached, prepared.key)
            if hit is not None:
                return JudgeResult(status="scored", scores=dict(hit["scores"]), cached=True)
        judge = self._cfg.judges[scenario.judge]
        budget = self.budget
        if budget is not None and await loop.offload(budget.exhausted):
            spent = await loop.offload(budget.spent)
            return JudgeResult(
                status="unscored",
                reason_code=BUDGET_EXHAUSTED,
                reason=f"budget exhausted: ${spent:.4f} of "
                f"${budget.limit_usd:g} spent before this sample was judged",
            )
        result = await self._judges.get(judge, "live").score(prepared.request)
        self.tally.add(scenario.name, result)
        cost = None
        if budget is not None and judge.price is not None:
            cost = judge.price.cost(result.prompt_tokens, result.completion_tokens)
        scores = result.scores if result.status == "scored" else None
        if cost is not None or (scores is not None and self._cache_dir is not None):
            await loop.offload(self._record, prepared.key, cost, scores)
        return result

    def _cached(self, key: str) -> dict[str, Any] | None:
        """The stored reply for `key` (on the blocking-call thread)."""
        cache = self.cache
        return cache.get(key) if cache is not None else None

    def _record(self, key: str, cost: float | None, scores: dict[str, float] | None) -> None:
        """Spend, then the reply to keep (on the blocking-call thread)."""
        if cost is not None and self.budget is not None:
            self.budget.add(cost)
        cache = self.cache
        if scores is not None and cache is not None and not cache.read_only:
            import sqlite3

            try:
                cache.put(key, {"scores": scores})
            except (OSError, sqlite3.Error) as error:
                # A disk that filled up mid-run: keep the scores, stop storing replies.
                cache.read_only = True
                self.notes.append(
                    f"reply cache {self._shown(cache.path)}: new replies not kept: "
                    f"{os_reason(error, cache.path, self._cfg.rootdir)}"
                )

    def score(
        self, scenario: ScenarioConfig, sample: Sample, output: str
    ) -> tuple[JudgeResult, str | None]:
        """The judged metrics of one sample and the hash of the rendered prompt."""
        metrics = scenario.judged_metrics
        if not metrics:
            return JudgeResult(status="scored"), None
        if self.mode(scenario.judge).mode == "dry-run":
            prepared = self.prepare(scenario, sample, output)
            judge = self._judges.get(self._cfg.judges[scenario.judge], "dry-run")
            return _run_now(judge.score(prepared.request)), prepared.digest
        done = self.ahead.take(scenario, sample, output)
        if done is not None:
            return done
        prepared = self.prepare(scenario, sample, output)  # rendered here, not on the loop
        return self.loop.run(self._judge(scenario, prepared)), prepared.digest

    async def ascore(
        self, scenario: ScenarioConfig, sample: Sample, output: str
    ) -> tuple[JudgeResult, str | None]:
        """score() for a live judge, on the background loop (for judging ahead)."""
        prepared = self.prepare(scenario, sample, output)
        return await self._judge(scenario, prepared), prepared.digest

    def close(self) -> None:
        self._judges.close()
        if self._cache is not None:
            self._cache.close()
            self._cache = None
        if self.budget is not None:
            self.budget.close()
