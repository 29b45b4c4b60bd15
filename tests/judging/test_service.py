"""JudgeService on its own, without a pytest run: it scores through any object that
implements the Judge protocol (here a rule-based fake), cache first and within the budget,
and reads and writes the reply cache and the budget ledger off the background loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from support.project import PROMPT, config_yaml, make_samples

from pytest_llmbench.benchmark.config import LLMBenchConfig, ScenarioConfig, load_config
from pytest_llmbench.benchmark.dataset import Sample, load_dataset
from pytest_llmbench.judging.budget import Budget, worst_case_cost
from pytest_llmbench.judging.judge_protocol import Judge, JudgeRequest
from pytest_llmbench.judging.output_sources import Produced
from pytest_llmbench.judging.reply_cache import CachedReply
from pytest_llmbench.judging.result import JudgeResult
from pytest_llmbench.judging.service import JudgeService

T = TypeVar("T")
URL = "http://127.0.0.1:9"  # never reached: these tests' replies come from elsewhere
ENVIRON = {"TEST_LLM_URL": URL}


PRICED_JUDGE = (
    "judges:\n"
    "  default:\n"
    "    kind: openai\n"
    "    base_url: ${TEST_LLM_URL}\n"
    "    model: test-model\n"
    "    price: {input_per_mtok: 1000, output_per_mtok: 4000}\n"  # a call: $0.1 + $0.04
)


def write_project(root: Path) -> LLMBenchConfig:
    (root / "prompts" / "digest_judge").mkdir(parents=True)
    (root / "prompts" / "digest_judge" / "v1.yaml").write_text(PROMPT, encoding="utf-8")
    (root / "data").mkdir()
    samples = make_samples([(0.9, 0.8), (0.7, 0.6)])
    samples[1]["output"] = "Сводка 2: ничего не случилось."
    lines = [json.dumps(s, ensure_ascii=False) for s in samples]
    (root / "data" / "digest.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "benchmarks").mkdir()
    config = config_yaml(judge_block=PRICED_JUDGE).replace(
        "    judge: default\n", "    judge: default\n    output: output\n"
    )
    (root / "benchmarks" / "llmbench.yaml").write_text(config, encoding="utf-8")
    return load_config(root / "benchmarks" / "llmbench.yaml", root, ENVIRON)


@pytest.fixture
def cfg(tmp_path: Path) -> LLMBenchConfig:
    return write_project(tmp_path)


def digest_samples(cfg: LLMBenchConfig) -> tuple[ScenarioConfig, tuple[Sample, ...]]:
    scenario = cfg.scenarios["digest"]
    dataset = load_dataset(scenario.dataset, scenario.dataset_display, scenario.fields)
    return scenario, dataset.samples


def digest_sample(cfg: LLMBenchConfig) -> tuple[ScenarioConfig, Sample]:
    scenario, samples = digest_samples(cfg)
    return scenario, samples[0]


class RuleJudge:
    """A Judge of its own: coverage 1.0 when the output names the station, else 0.0, and
    accuracy 0.5. It records every request and the thread it ran on."""

    def __init__(self) -> None:
        self.requests: list[JudgeRequest] = []
        self.threads: set[str] = set()
        self.closed = False

    async def score(self, request: JudgeRequest) -> JudgeResult:
        self.requests.append(request)
        self.threads.add(threading.current_thread().name)
        await asyncio.sleep(0)  # a real judge awaits its answer
        scores = {"coverage": 1.0 if "станц" in request.output else 0.0, "accuracy": 0.5}
        return JudgeResult(
            status="scored",
            scores={m: scores[m] for m in request.metrics},
            attempts=1,
            prompt_tokens=100,
            completion_tokens=10,
        )

    async def aclose(self) -> None:
        self.closed = True


@pytest.fixture
def rule_judge() -> RuleJudge:
    return RuleJudge()


@pytest.fixture
def service(cfg: LLMBenchConfig, tmp_path: Path, rule_judge: RuleJudge) -> Iterator[JudgeService]:
    made = JudgeService(
        cfg,
        "live",
        ENVIRON,
        cache_dir=tmp_path / "cache",
        judge_process=False,
        judges={"default": rule_judge},
    )
    yield made
    made.close()


class LoopWatch:
    """Wraps blocking calls so that each waits until a coroutine submitted to the judge
    loop has run. Made on the loop itself, the call would keep that coroutine from running:
    `ran` records False for it (after a bound that only stops a hang)."""

    def __init__(self, service: JudgeService) -> None:
        self.service = service
        self.ran: list[bool] = []

    def wrap(self, function: Callable[..., T]) -> Callable[..., T]:
        def blocking(*args: Any) -> T:
            ticked = threading.Event()

            async def tick() -> None:
                ticked.set()

            self.service.loop.submit(tick())
            self.ran.append(ticked.wait(timeout=30))
            return function(*args)

        return blocking


def test_slow_reply_cache_reads_and_writes_leave_the_judge_loop_running(
    service: JudgeService, cfg: LLMBenchConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario, (stored, new) = digest_samples(cfg)
    prepared = service.prepare(scenario, stored, str(stored.output))
    cache = service.cache
    assert cache is not None
    cache.put(prepared.key, CachedReply({"coverage": 0.5, "accuracy": 0.25}))
    watch = LoopWatch(service)
    monkeypatch.setattr(cache, "get", watch.wrap(cache.get))
    monkeypatch.setattr(cache, "put", watch.wrap(cache.put))

    hit, digest = service.score(scenario, stored, str(stored.output))
    miss, _ = service.score(scenario, new, str(new.output))

    assert watch.ran == [True, True, True]  # the hit's read; the miss's read and write
    assert (hit.status, hit.scores, hit.cached) == (
        "scored",
        {"coverage": 0.5, "accuracy": 0.25},
        True,
    )
    assert digest == prepared.digest
    assert (miss.status, miss.cached) == ("scored", False)
    assert cache.stats.writes == 2


def test_the_service_scores_through_a_judge_of_its_own_cache_first(
    service: JudgeService, cfg: LLMBenchConfig, rule_judge: RuleJudge
) -> None:
    assert isinstance(rule_judge, Judge)
    scenario, sample = digest_sample(cfg)
    text = str(sample.output)

    first, digest = service.score(scenario, sample, text)
    again, digest_again = service.score(scenario, sample, text)

    assert (first.status, first.scores, first.cached) == (
        "scored",
        {"coverage": 1.0, "accuracy": 0.5},
        False,
    )
    assert (again.scores, again.cached, again.attempts) == (first.scores, True, 0)
    assert digest == digest_again == service.prepare(scenario, sample, text).digest
    [request] = rule_judge.requests  # the second answer came from the reply cache
    assert (request.sample_id, request.output, request.metrics) == (
        sample.id,
        text,
        ("coverage", "accuracy"),
    )
    assert request.ground_truth == {"coverage": 0.9, "accuracy": 0.8}
    assert request.messages[0]["role"] == "system"
    assert text in request.messages[1]["content"]
    assert rule_judge.threads == {"llmbench-judge"}  # on the background loop
    service.close()
    assert rule_judge.closed


def test_judging_ahead_goes_through_a_judge_of_its_own(
    service: JudgeService, cfg: LLMBenchConfig, rule_judge: RuleJudge
) -> None:
    scenario, samples = digest_samples(cfg)
    assert service.ahead.can_prefetch(scenario)
    assert [service.ahead.prefetch(scenario, s) for s in samples] == [True, True]
    assert service.ahead.output(scenario, samples[1]) == Produced(samples[1].output)

    results = [service.score(scenario, s, str(s.output))[0] for s in samples]

    assert [r.scores["coverage"] for r in results] == [1.0, 0.0]
    assert [r.sample_id for r in rule_judge.requests] == [s.id for s in samples]
    assert service.ahead.pending() == 0


def test_a_dry_run_never_asks_a_judge_of_its_own(
    cfg: LLMBenchConfig, rule_judge: RuleJudge
) -> None:
    service = JudgeService(
        cfg, "dry-run", ENVIRON, judge_process=False, judges={"default": rule_judge}
    )
    scenario, sample = digest_sample(cfg)
    result, _ = service.score(scenario, sample, str(sample.output))
    service.close()
    assert (result.status, result.scores) == ("scored", {"coverage": 0.9, "accuracy": 0.8})
    assert rule_judge.requests == []


def test_the_budget_stops_a_judge_of_its_own_and_its_ledger_leaves_the_loop_running(
    cfg: LLMBenchConfig, tmp_path: Path, rule_judge: RuleJudge, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario, samples = digest_samples(cfg)
    judge = cfg.judges["default"]
    worst = []
    for sample in samples:
        request = JudgeService(cfg, "live", ENVIRON).prepare(scenario, sample, str(sample.output))
        worst.append(worst_case_cost(judge, request.request.messages, request.request.metrics))
    first, second = (w for w in worst if w is not None)
    # Room for the first call's worst case; after it spent its real $0.14, none for the second.
    limit = round(first + 0.01, 6)
    assert first <= limit < 0.14 + second
    budget = Budget(limit, tmp_path / "spend.sqlite3")
    service = JudgeService(
        cfg, "live", ENVIRON, budget=budget, judge_process=False, judges={"default": rule_judge}
    )
    watch = LoopWatch(service)
    monkeypatch.setattr(budget, "reserve", watch.wrap(budget.reserve))
    monkeypatch.setattr(budget, "settle", watch.wrap(budget.settle))

    results = [service.score(scenario, s, str(s.output))[0] for s in samples]
    service.close()

    assert watch.ran == [True, True, True]  # reserve, settle; reserve (refused)
    assert [r.status for r in results] == ["scored", "unscored"]
    assert results[1].reason == (
        f"budget exhausted: $0.1400 of ${limit:g} spent; this sample's call could cost up "
        f"to ${second:.4f} (judge 'default' sets no max_tokens: 1024 assumed), so it was not sent"
    )
    assert len(rule_judge.requests) == 1
    assert service.budget_summary == {
        "limit_usd": limit,
        "spent_usd": pytest.approx(0.14),
        "held_usd": 0.0,
        "refused_calls": 1,
    }


def test_a_reply_cache_that_cannot_be_opened_is_noted_and_every_call_asked(
    cfg: LLMBenchConfig, tmp_path: Path, rule_judge: RuleJudge
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("", encoding="utf-8")
    service = JudgeService(
        cfg,
        "live",
        ENVIRON,
        cache_dir=blocker / "cache",
        judge_process=False,
        judges={"default": rule_judge},
    )
    scenario, sample = digest_sample(cfg)
    try:
        first, _ = service.score(scenario, sample, str(sample.output))
        again, _ = service.score(scenario, sample, str(sample.output))
        described = service.describe_cache_and_budget()
    finally:
        service.close()
    assert (first.status, again.status, again.cached) == ("scored", "scored", False)
    assert len(rule_judge.requests) == 2
    assert service.notes == ["reply cache not-a-directory/cache not used: Not a directory"]
    assert described == "cache not-a-directory/cache not used: Not a directory"


def test_a_reply_cache_that_fills_up_is_noted_once_and_no_longer_written(
    service: JudgeService, cfg: LLMBenchConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    cache = service.cache
    assert cache is not None
    tries: list[str] = []

    def full(key: str, value: object) -> None:
        tries.append(key)
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(cache, "put", full)
    scenario, samples = digest_samples(cfg)

    results = [service.score(scenario, s, str(s.output))[0] for s in samples]

    assert [r.status for r in results] == ["scored", "scored"]  # the scores are kept
    assert len(tries) == 1
    assert service.notes == [
        "reply cache cache/judge-replies.sqlite3: new replies not kept: database or disk is full"
    ]


def test_disk_and_cache_notes_are_one_list_kept_past_close_and_summed_with_the_workers(
    service: JudgeService, cfg: LLMBenchConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    cache = service.cache
    assert cache is not None
    scenario, samples = digest_samples(cfg)
    first = samples[0]
    service.score(scenario, first, str(first.output))
    key = service.prepare(scenario, first, str(first.output)).key
    with contextlib.closing(sqlite3.connect(cache.path)) as db, db:  # a flipped digit in the stored entry
        (value,) = db.execute("SELECT value FROM replies WHERE key = ?", (key,)).fetchone()
        db.execute("UPDATE replies SET value = ? WHERE key = ?", (value.replace("1.0", "3.1"), key))

    def full(key: str, value: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(cache, "put", full)
    again, _ = service.score(scenario, first, str(first.output))  # dropped, asked live
    assert (again.status, again.cached, again.scores["coverage"]) == ("scored", False, 1.0)
    service.note("budget ledger moved")
    service.note("budget ledger moved")  # once
    service.close()

    full_note = (
        "reply cache cache/judge-replies.sqlite3: new replies not kept: database or disk is full"
    )
    assert service.notes == [full_note, "budget ledger moved"]
    assert service.worker_report() == {"notes": service.notes, "dropped": 1}
    assert service.run_notes(more=["budget ledger moved", "a worker's own"], dropped=2) == [
        full_note,
        "budget ledger moved",
        "a worker's own",
        "dropped 3 judge cache entries that failed their checks in "
        "cache/judge-replies.sqlite3; asked the judge again",
    ]


def test_a_reply_cache_read_that_fails_on_disk_is_a_miss_asked_live_and_noted(
    service: JudgeService, cfg: LLMBenchConfig, rule_judge: RuleJudge, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    cache = service.cache
    assert cache is not None

    def failing(*args: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(cache, "get", failing)
    scenario, sample = digest_sample(cfg)
    result, _ = service.score(scenario, sample, str(sample.output))
    assert (result.status, result.cached) == ("scored", False)
    assert len(rule_judge.requests) == 1
    assert service.notes == [
        "reply cache cache/judge-replies.sqlite3: a reply could not be read: disk I/O error"
    ]
