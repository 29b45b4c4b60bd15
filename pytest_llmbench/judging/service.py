"""Scoring samples in the item process: cache first, one call per distinct request, and a
budget, with the judge its mode names (mode.py) as Judges built it (judges.py). Judging
ahead (ahead.py) scores through here too."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import threading
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pytest_llmbench.benchmark.config import LLMBenchConfig, ScenarioConfig
from pytest_llmbench.benchmark.dataset import Sample
from pytest_llmbench.benchmark.judge_config import JudgeConfig
from pytest_llmbench.benchmark.prompts import (
    JudgePrompt,
    load_prompt,
    messages_sha256,
    render_messages,
)
from pytest_llmbench.errors import JudgeSetupError, os_reason
from pytest_llmbench.judging.ahead import JudgingAhead
from pytest_llmbench.judging.budget import (
    COMPLETION_TOKENS_UNSET,
    Budget,
    Refusal,
    Reservation,
    worst_case_cost,
)
from pytest_llmbench.judging.dry_run_ahead import DryRunAhead
from pytest_llmbench.judging.judge_protocol import ABSENT, NO_ROOM_AHEAD, Judge, JudgeRequest
from pytest_llmbench.judging.judges import HelperAt, Judges
from pytest_llmbench.judging.mode import Resolved, resolve_mode
from pytest_llmbench.judging.output_sources import OutputSource, OutputSources
from pytest_llmbench.judging.repeats import combine
from pytest_llmbench.judging.result import JudgeResult
from pytest_llmbench.judging.tally import Tally
from pytest_llmbench.results.problems import BUDGET_EXHAUSTED
from pytest_llmbench.results.schema import RunBudget

if TYPE_CHECKING:
    import asyncio

    from pytest_llmbench.judging.background_loop import BackgroundLoop
    from pytest_llmbench.judging.reply_cache import CachedReply, JudgeCache


@dataclass(frozen=True)
class Prepared:
    """A request for the judge, with what the service keeps beside it."""

    request: JudgeRequest
    digest: str | None  # sha256 of the rendered messages, for the record
    key: str  # the cache key; "" with no cache, the dry-run judge or no judged metrics


T = TypeVar("T")


class TakesAhead(Protocol):
    """Results judged ahead in this process for its own items (run/ahead_of_items)."""

    def take(
        self, scenario: ScenarioConfig, sample: Sample, output: str
    ) -> tuple[JudgeResult, Prepared] | None:
        """The result judged ahead for the sample, if it judged this very text (waiting for
        it if need be), and its request; once per sample. None: the item asks itself."""
        ...

# A call waiting for room in the budget looks at the ledger again this often (a settle in
# this process wakes it at once; another process's is seen here).
BUDGET_RECHECK_S = 0.1
# How long a reservation may be waited for: a call queued in the helper can take twice its
# bound (see helper_process), plus a margin for the pipe and the ledger.
HOLD_MARGIN_S = 30.0


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
        refresh_outputs: bool = False,
        listen: bool = False,
        helper_at: HelperAt | None = None,
    ) -> None:
        """`judges`: judges built elsewhere, by judge name, for live calls (see Judges);
        `refresh_outputs`: produce every `output:` function's output again (and store it).
        `listen`: this process (the xdist controller) starts the run's helper for the
        workers; `helper_at`: this process (a worker) connects to it."""
        self._cfg = cfg
        self._judges = Judges(
            cfg.judges,
            environ,
            use_process=judge_process,
            provided=judges,
            listen=listen,
            helper_at=helper_at,
        )
        self._option = option
        self._environ = environ
        self._cache_dir = cache_dir
        self.budget = budget
        self.budget_summary: RunBudget | None = None  # the ledger's, once closed
        self._budget_turn: asyncio.Lock | None = None  # made on the loop, at first use
        self._budget_settled: asyncio.Event | None = None
        self._modes: dict[str, Resolved] = {}
        self._prompts: dict[str, JudgePrompt] = {}
        self.outputs = OutputSources(
            cache_dir,
            refresh=refresh_outputs,
            loop=lambda: self._judges.started_loop,
            shown=self._shown,
            rootdir=cfg.rootdir,
        )
        self._cache: JudgeCache | None = None
        self._cache_lock = threading.Lock()
        self._cache_failed: str | None = None  # why it could not be opened
        # What the terminal should hear at the end of the run, once each: what went wrong
        # on disk and was lived with, and (once closed) the cache's own notes.
        self._notes: list[str] = []
        self._dropped = 0  # cache entries that failed their check, of a closed cache
        self.ahead = JudgingAhead(self)
        self.dry_ahead = DryRunAhead(self._score_dry)
        self._dry_ahead: dict[str, bool] = {}  # scenario -> scored ahead in a dry run
        self.tally = Tally()  # every request the judges answered in this process
        # The controller's judging ahead of stored outputs, when its items run in this very
        # process (no xdist): their results are taken from it (run/ahead_of_items).
        self.stored_ahead: TakesAhead | None = None

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
        return self.outputs.get(scenario)

    @property
    def cache(self) -> JudgeCache | None:
        with self._cache_lock:  # opened by the main thread or the blocking-call thread
            if self._cache is None and self._cache_dir is not None and not self._cache_failed:
                import sqlite3

                from pytest_llmbench.judging.reply_cache import JudgeCache

                try:
                    self._cache = JudgeCache(self._cache_dir, display=self._shown(self._cache_dir))
                except (OSError, sqlite3.Error) as error:
                    # A read-only or full disk: the run goes on, every call asked anew.
                    self._cache_failed = os_reason(error, self._cache_dir, self._cfg.rootdir)
                    self.note(
                        f"reply cache {self._shown(self._cache_dir)} not used: {self._cache_failed}"
                    )
                if self._cache is not None and self._cache.read_only:
                    self.note(
                        f"reply cache {self._shown(self._cache.path)} is read-only: "
                        "replies are read from it, new ones not kept"
                    )
            return self._cache

    # -- notes for the end of the run --------------------------------------------------

    def note(self, line: str) -> None:
        """Keep one line for the terminal (once, however often it is noted)."""
        if line not in self._notes:
            self._notes.append(line)

    @property
    def notes(self) -> list[str]:
        """This process's lines for the terminal, once each: what went wrong on disk and
        was lived with (a cache not used, read-only or full, a ledger moved), then the
        cache's own (a file moved aside, a lock that stayed). Kept past close()."""
        lines = list(self._notes)
        cache = self._cache
        if cache is not None:
            lines += [line for line in cache.notes if line not in lines]
        return lines + [line for line in self.outputs.notes if line not in lines]

    @property
    def dropped(self) -> int:
        """Cache entries this process dropped for failing their check (kept past close())."""
        cache = self._cache
        return self._dropped + (cache.stats.dropped if cache is not None else 0)

    def worker_report(self) -> dict[str, Any]:
        """What a worker hands the controller for its terminal (see run_notes)."""
        return {"notes": self.notes, "dropped": self.dropped}

    def run_notes(self, *, more: Sequence[str] = (), dropped: int = 0) -> list[str]:
        """The run's lines for the terminal, once each: this process's notes, then `more`
        (the workers'), then one line for the cache entries dropped here and in the
        workers (`dropped`), summed."""
        lines = list(dict.fromkeys([*self.notes, *more]))
        total = self.dropped + dropped
        if total and self._cache_dir is not None:
            from pytest_llmbench.judging.reply_cache import FILENAME, dropped_note

            lines.append(dropped_note(total, f"{self._shown(self._cache_dir)}/{FILENAME}"))
        return lines

    def _shown(self, path: Path) -> str:
        """`path` as messages show it: relative to the rootdir when under it."""
        if path.is_relative_to(self._cfg.rootdir):
            return str(path.relative_to(self._cfg.rootdir))
        return str(path)

    @property
    def loop(self) -> BackgroundLoop:
        return self._judges.loop

    @property
    def shares_calls(self) -> bool:
        """Live calls go through the run's one helper (helper_process.Calls): equal
        requests share one call, and a call judged ahead waits there for its item."""
        return self._judges.use_process

    def shares_calls_of(self, scenario: ScenarioConfig) -> bool:
        """The scenario's judge calls go through the run's helper (not a custom judge's)."""
        return self._judges.through_helper(self._cfg.judges[scenario.judge])

    def build_judge(self, scenario: ScenarioConfig) -> None:
        """Build a custom judge now (at collection) when it will run: its import or
        protocol error is then the scenario's collection error, naming the YAML line."""
        judge = self._cfg.judges[scenario.judge]
        if judge.custom and scenario.judged_metrics and self.mode(judge.name).mode == "live":
            self._judges.get(judge, "live")

    def start_shared_helper(self) -> HelperAt | None:
        """On the xdist controller: start the run's helper now and wait until it serves,
        so that every worker can connect to it; None when no judge needs it (or it could
        not start: each worker then starts its own)."""
        if not self._any_live(judging=True):
            return None
        return self._judges.start_shared_helper()

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

    # -- one request --------------------------------------------------------------------

    def prepare(
        self,
        scenario: ScenarioConfig,
        sample: Sample,
        output: str,
        *,
        ahead: bool = False,
        taken_here: bool = False,
    ) -> Prepared:
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
            scale=prompt.scale if prompt is not None else None,
            ahead=ahead,
            taken_here=taken_here,
        )
        if prompt is None or not metrics:
            return Prepared(request, None, "")
        digest = messages_sha256(messages)
        return Prepared(request, digest, self._key(scenario, request))

    def again(self, scenario: ScenarioConfig, prepared: Prepared, repeat: int) -> Prepared:
        """The same request as the sample's judgement number `repeat` (`repeats:`), a call
        of its own: another key in the cache and in the run's helper, nothing rendered."""
        if repeat == prepared.request.repeat:
            return prepared  # the first repeat is the request as prepared
        request = dataclasses.replace(prepared.request, repeat=repeat)
        return Prepared(request, prepared.digest, self._key(scenario, request))

    def _key(self, scenario: ScenarioConfig, request: JudgeRequest) -> str:
        prompt = self.prompt(scenario)
        if prompt is None or self._cache_dir is None or self.mode(scenario.judge).mode == "dry-run":
            return ""  # the key serves the cache only
        from pytest_llmbench.judging.reply_cache import cache_key

        judge = self._cfg.judges[scenario.judge]
        return cache_key(
            judge, request.messages, request.metrics, prompt.ref, prompt.sha256, request.repeat
        )

    async def _judge(self, scenario: ScenarioConfig, prepared: Prepared) -> JudgeResult:
        """Cache, budget, then the judge; runs on the background loop, and every SQLite
        call on its blocking-call thread, so that replies keep arriving meanwhile."""
        loop = self.loop
        if self._cache_dir is not None:
            hit = await loop.offload(self._cached, prepared)
            if hit is not None:
                return JudgeResult(
                    status="scored",
                    scores=dict(hit.scores),
                    raw_scores=hit.raw_scores,
                    reasoning=hit.reasoning,
                    raw_reply=hit.raw_reply,
                    cached=True,
                )
        judge = self._cfg.judges[scenario.judge]
        budget = self.budget
        held: Reservation | None = None
        through_helper = self._judges.through_helper(judge)
        if budget is not None and through_helper and not prepared.request.ahead:
            # Judged ahead (by any process) is paid for already: take it without asking
            # the budget for room.
            joined = await self._judges.get(judge, "live").score(
                dataclasses.replace(prepared.request, join_only=True)
            )
            if joined.reason != ABSENT:
                if joined.claimed:
                    self.tally.add(scenario.name, joined)
                keep = _to_keep(joined) if self._cache_dir is not None else None
                if keep is not None:
                    await loop.offload(self._record, prepared.key, None, None, keep)
                return joined
        if budget is not None:
            reserved = await self._reserve(budget, judge, prepared.request)
            if isinstance(reserved, JudgeResult):
                return reserved
            held = reserved
        # A call that raises or is cancelled keeps its reservation: it may have been paid.
        result = await self._judges.get(judge, "live").score(prepared.request)
        if result.usage_note:
            prefix = f"judge {judge.name}: a reply's token counts were not believed"
            if not any(line.startswith(prefix) for line in self._notes):
                self.note(f"{prefix} ({result.usage_note}); counted as unknown (0)")
        ahead = prepared.request.ahead
        if not ahead and result.claimed:
            # Counted once, under the item that took it (a call judged ahead: see adopt).
            self.tally.add(scenario.name, result)
        cost = None
        if budget is not None and judge.price is not None:
            cost = judge.price.cost(result.prompt_tokens, result.completion_tokens)
            if not result.started:
                cost = 0.0  # another request made the call, and paid for it
            elif held is not None and result.status == "unscored" and result.attempts == 0:
                # Lost on the way (the helper died or was killed): whatever the request
                # cost is unknown, so its worst case counts as spent.
                cost = held.amount
        # Judged ahead, it is stored once its item takes it: before that, the item would
        # find it in the cache and count it a cache hit.
        keep = _to_keep(result) if self._cache_dir is not None and not ahead else None
        if cost is not None or held is not None or keep is not None:
            await loop.offload(self._record, prepared.key, held, cost, keep)
        if held is not None and self._budget_settled is not None:
            self._budget_settled.set()
        return result

    async def _reserve(
        self, budget: Budget, judge: JudgeConfig, request: JudgeRequest
    ) -> Reservation | JudgeResult | None:
        """Room in the budget for this call's worst case, waiting while calls in flight
        hold it; the unscored result when there can be none. None: nothing to count."""
        amount = worst_case_cost(judge, request.messages, request.metrics)
        if amount is None:
            return None
        import asyncio  # on the loop only: a dry run never loads it

        if self._budget_turn is None or self._budget_settled is None:
            self._budget_turn, self._budget_settled = asyncio.Lock(), asyncio.Event()
        settled = self._budget_settled
        ahead = request.ahead
        # One call of this process asks at a time, first come first served: a call that
        # waits for room is not overtaken by a smaller one behind it.
        async with self._budget_turn:
            while True:
                settled.clear()
                reserve = (
                    functools.partial(budget.reserve, count_refusal=False)
                    if ahead
                    else budget.reserve
                )
                outcome = await self.loop.offload(
                    reserve, amount, 2 * judge.call_bound_s + HOLD_MARGIN_S
                )
                if isinstance(outcome, Reservation):
                    return outcome
                if ahead:
                    # Judged ahead only where the budget has room now: the item asks for
                    # itself otherwise, and is the one refused, counted and waiting.
                    return dataclasses.replace(_NO_ROOM_AHEAD)
                if isinstance(outcome, Refusal):
                    return _refused(outcome, budget.limit_usd, judge)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(settled.wait(), BUDGET_RECHECK_S)

    def _cached(self, prepared: Prepared) -> CachedReply | None:
        """The stored reply for the request, checked as a live one (on the blocking-call
        thread)."""
        cache = self.cache
        if cache is None:
            return None
        request = prepared.request
        import sqlite3

        try:
            return cache.get(prepared.key, request.metrics, request.scale)
        except (OSError, sqlite3.Error) as error:
            # A disk that fails under the cache (an I/O error): a miss, asked live.
            self.note(
                f"reply cache {self._shown(cache.path)}: a reply could not be read: "
                f"{os_reason(error, cache.path, self._cfg.rootdir)}"
            )
            return None

    def _record(
        self,
        key: str,
        held: Reservation | None,
        cost: float | None,
        keep: CachedReply | None,
    ) -> None:
        """Spend, then the reply to keep (on the blocking-call thread)."""
        if self.budget is not None:
            if held is not None:
                self.budget.settle(held, cost or 0.0)
            elif cost is not None:
                self.budget.add(cost)
        cache = self.cache
        if keep is not None and cache is not None and not cache.read_only:
            import sqlite3

            try:
                cache.put(key, keep)
            except (OSError, sqlite3.Error) as error:
                # A disk that filled up mid-run: keep the scores, stop storing replies.
                cache.read_only = True
                self.note(
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
        repeats = scenario.repeats
        if self.mode(scenario.judge).mode == "dry-run":
            done = self.dry_ahead.take(scenario, sample, output)
            return done if done is not None else self._score_dry(scenario, sample, output)
        done = self.ahead.take(scenario, sample, output)  # its first repeat, judged ahead
        if done is None and self.stored_ahead is not None:
            # Judged ahead by this process's controller: taken here, with no round trip to
            # the helper (which waits behind every reply it is reading) and no rendering.
            taken = self.stored_ahead.take(scenario, sample, output)
            if taken is not None:
                result, prepared_ahead = taken
                self.adopt(scenario, prepared_ahead, result)
                done = result, prepared_ahead.digest
        if done is not None and repeats == 1:
            return done
        prepared = self.prepare(scenario, sample, output)  # rendered here, not on the loop
        first = 0 if done is None else 1
        asked = [self.again(scenario, prepared, k) for k in range(first, repeats)]
        results = self.loop.run(self._judge_each(scenario, asked))
        if done is not None:
            results = [done[0], *results]
        return combine(results), prepared.digest

    def _score_dry(
        self, scenario: ScenarioConfig, sample: Sample, output: str
    ) -> tuple[JudgeResult, str | None]:
        """score() with the dry-run judge, in this thread."""
        prepared = self.prepare(scenario, sample, output)
        judge = self._judges.get(self._cfg.judges[scenario.judge], "dry-run")
        results = [
            _run_now(judge.score(self.again(scenario, prepared, k).request))
            for k in range(scenario.repeats)
        ]
        return combine(results), prepared.digest

    def scores_dry_ahead(self, scenario: ScenarioConfig) -> bool:
        """Whether the scenario's stored outputs are scored ahead, a batch at a time
        (dry_run_ahead): a dry run of judged metrics whose outputs are stored (no `output:`,
        or `output: <field>`), until a body judges other text."""
        if scenario.name not in self._dry_ahead:
            try:
                dry = self.mode(scenario.judge).mode == "dry-run"
            except JudgeSetupError:
                dry = False
            stored = scenario.output is None or ":" not in scenario.output
            self._dry_ahead[scenario.name] = dry and stored and bool(scenario.judged_metrics)
        return self._dry_ahead[scenario.name] and not self.dry_ahead.stopped(scenario)

    async def _judge_each(
        self, scenario: ScenarioConfig, asked: Sequence[Prepared]
    ) -> list[JudgeResult]:
        """A sample's repeats, all in flight at once (each within the judge's concurrency)."""
        if len(asked) == 1:
            return [await self._judge(scenario, asked[0])]
        import asyncio

        return list(await asyncio.gather(*(self._judge(scenario, p) for p in asked)))

    async def judge_ahead(
        self, scenario: ScenarioConfig, sample: Sample, output: str
    ) -> tuple[JudgeResult, Prepared]:
        """One sample judged ahead of its item, on the background loop. Through the run's
        helper the call is made "ahead": it counts (tally, cache) only once an item takes
        it, here (adopt) or in any other process (its own request, answered by the call)."""
        prepared = self.prepare(scenario, sample, output, ahead=self.shares_calls_of(scenario))
        return await self._judge(scenario, prepared), prepared

    async def judge_prepared(self, scenario: ScenarioConfig, prepared: Prepared) -> JudgeResult:
        """A request prepared elsewhere (the controller's judging ahead), on the loop."""
        return await self._judge(scenario, prepared)

    def judge_config(self, scenario: ScenarioConfig) -> JudgeConfig:
        return self._cfg.judges[scenario.judge]

    def adopt(self, scenario: ScenarioConfig, prepared: Prepared, result: JudgeResult) -> None:
        """An item of this process takes what it judged ahead: count and store it now."""
        if not prepared.request.ahead or result.cached:
            return  # counted and stored when it was made
        self.tally.add(scenario.name, result)
        self.store(prepared, result)

    def store(self, prepared: Prepared, result: JudgeResult) -> None:
        """Keep a reply judged ahead in the cache (from pytest's main thread): once its
        item took it, or at the end of the run for one no item took (an interrupted run's
        next run then pays nothing for it)."""
        keep = _to_keep(result) if self._cache_dir is not None and not result.cached else None
        if keep is not None and prepared.key:
            self.loop.run(self.loop.offload(self._record, prepared.key, None, None, keep))

    def close(self) -> None:
        self._judges.close()
        self.outputs.close()
        if self._cache is not None:
            cache = self._cache
            for line in cache.notes:  # kept for the terminal and the worker's report
                self.note(line)
            self._dropped += cache.stats.dropped
            self._cache = None
            cache.close()
        if self.budget is not None:
            self.budget_summary = self.budget.summary()
            self.budget.close()


# A call judged ahead that the budget had no room for now: not made (its item asks itself).
_NO_ROOM_AHEAD = JudgeResult(status="unscored", reason=NO_ROOM_AHEAD, started=False, claimed=False)


def _to_keep(result: JudgeResult) -> CachedReply | None:
    """What the cache stores of a result: a scored one only, so a failure is asked again."""
    if result.status != "scored":
        return None
    from pytest_llmbench.judging.reply_cache import CachedReply

    return CachedReply(result.scores, result.raw_scores, result.reasoning, result.raw_reply)


def _refused(refusal: Refusal, limit: float, judge: JudgeConfig) -> JudgeResult:
    stranded = (
        f", ${refusal.stranded:.4f} more held by calls that never returned"
        if refusal.stranded > 0
        else ""
    )
    # Without max_tokens the completion bound is a guess, and often most of the worst case.
    hint = (
        f" (judge {judge.name!r} sets no max_tokens: {COMPLETION_TOKENS_UNSET} assumed)"
        if judge.max_tokens is None
        else ""
    )
    return JudgeResult(
        status="unscored",
        reason_code=BUDGET_EXHAUSTED,
        reason=f"budget exhausted: ${refusal.spent:.4f} of ${limit:g} spent{stranded}; this "
        f"sample's call could cost up to ${refusal.amount:.4f}{hint}, so it was not sent",
    )
