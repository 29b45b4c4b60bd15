"""JudgeService on its own, without a pytest run: the reply cache and the budget ledger are
read and written off the background loop."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from support.project import PROMPT, config_yaml, make_samples

from pytest_llmbench.benchmark.config import LLMBenchConfig, ScenarioConfig, load_config
from pytest_llmbench.benchmark.dataset import Sample, load_dataset
from pytest_llmbench.judging.service import JudgeService

T = TypeVar("T")
URL = "http://127.0.0.1:9"  # never reached: these tests' replies come from elsewhere
ENVIRON = {"TEST_LLM_URL": URL}


def write_project(root: Path) -> LLMBenchConfig:
    (root / "prompts" / "digest_judge").mkdir(parents=True)
    (root / "prompts" / "digest_judge" / "v1.yaml").write_text(PROMPT, encoding="utf-8")
    (root / "data").mkdir()
    lines = [json.dumps(s, ensure_ascii=False) for s in make_samples([(0.9, 0.8)])]
    (root / "data" / "digest.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "benchmarks").mkdir()
    (root / "benchmarks" / "llmbench.yaml").write_text(config_yaml(), encoding="utf-8")
    return load_config(root / "benchmarks" / "llmbench.yaml", root, ENVIRON)


@pytest.fixture
def cfg(tmp_path: Path) -> LLMBenchConfig:
    return write_project(tmp_path)


def digest_sample(cfg: LLMBenchConfig) -> tuple[ScenarioConfig, Sample]:
    scenario = cfg.scenarios["digest"]
    dataset = load_dataset(scenario.dataset, scenario.dataset_display, scenario.fields)
    return scenario, dataset.samples[0]


@pytest.fixture
def service(cfg: LLMBenchConfig, tmp_path: Path) -> Iterator[JudgeService]:
    made = JudgeService(cfg, "live", ENVIRON, cache_dir=tmp_path / "cache", judge_process=False)
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


def test_a_slow_reply_cache_read_leaves_the_judge_loop_running(
    service: JudgeService, cfg: LLMBenchConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario, sample = digest_sample(cfg)
    prepared = service.prepare(scenario, sample, str(sample.output))
    cache = service.cache
    assert cache is not None
    cache.put(prepared.key, {"scores": {"coverage": 0.5, "accuracy": 0.25}})
    watch = LoopWatch(service)
    monkeypatch.setattr(cache, "get", watch.wrap(cache.get))

    result, digest = service.score(scenario, sample, str(sample.output))

    assert watch.ran == [True]
    assert (result.status, result.scores, result.cached) == (
        "scored",
        {"coverage": 0.5, "accuracy": 0.25},
        True,
    )
    assert digest == prepared.digest
