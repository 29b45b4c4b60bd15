"""An `output: module:function` source: its calls bounded by `output_concurrency`, sync
and async alike, on the real background loop; sync calls in a pool of its own, never
the loop's default executor; the item's own calls under the same limit; and the output
cache consulted, filled, refreshed, and left empty by a function that raises."""

from __future__ import annotations

import concurrent.futures
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import pytest

from pytest_llmbench.benchmark.config import ScenarioConfig
from pytest_llmbench.benchmark.dataset import Sample
from pytest_llmbench.judging.background_loop import BackgroundLoop
from pytest_llmbench.judging.output_sources import OutputSources, Produced

APP = """\
import asyncio
import threading
import time

lock = threading.Lock()
state = {"now": 0, "peak": 0, "calls": 0, "threads": set(), "fail": set(), "expect": 0}


def _enter(sample):
    with lock:
        state["calls"] += 1
        state["now"] += 1
        state["peak"] = max(state["peak"], state["now"])
        state["threads"].add(threading.current_thread().name)
    if sample.id in state["fail"]:
        with lock:
            state["now"] -= 1
        raise RuntimeError("the app failed on " + sample.id)


def _leave():
    with lock:
        state["now"] -= 1


def make(sample):
    _enter(sample)
    # Held until `expect` calls are in flight at once (or 10 s): on a loaded runner 40
    # threads may take longer to start than one call's sleep lasts.
    deadline = time.monotonic() + 10
    while state["peak"] < state["expect"] and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    _leave()
    return "digest of " + sample.id


async def make_async(sample):
    _enter(sample)
    await asyncio.sleep(0.2)
    _leave()
    return "digest of " + sample.id
"""

LIMIT = 3
SAMPLES = 10


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    (tmp_path / "peakapp.py").write_text(APP, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    import peakapp  # type: ignore[import-not-found]

    yield peakapp
    del sys.modules["peakapp"]


@pytest.fixture
def loop() -> Iterator[BackgroundLoop]:
    running = BackgroundLoop(name="test-outputs")
    yield running
    running.close()


def scenario(tmp_path: Path, function: str, **keys: object) -> ScenarioConfig:
    made = ScenarioConfig(
        name="digest",
        dataset=tmp_path / "digest.jsonl",
        dataset_display="digest.jsonl",
        prompt="",
        judge="default",
        metrics=(),
        output=f"peakapp:{function}",
        output_concurrency=LIMIT,
    )
    return replace(made, **keys)  # type: ignore[arg-type]


def samples(count: int = SAMPLES) -> list[Sample]:
    return [
        Sample(id=f"s-{n:02d}", item_id=f"s-{n:02d}", position=n, line=n + 1, input=f"post {n}")
        for n in range(count)
    ]


def produce_all(
    sources: OutputSources, config: ScenarioConfig, loop: BackgroundLoop, chosen: list[Sample]
) -> list[Produced]:
    source = sources.get(config)
    assert source is not None
    futures = [loop.submit(source.produce(s)) for s in chosen]
    concurrent.futures.wait(futures)  # all of them, also when one raises
    return [f.result() for f in futures]


@pytest.mark.parametrize("function", ["make", "make_async"], ids=["sync", "async"])
def test_calls_judged_ahead_never_exceed_the_output_concurrency(
    tmp_path: Path, app: ModuleType, loop: BackgroundLoop, function: str
) -> None:
    sources = OutputSources(None, loop=lambda: loop)
    produced = produce_all(sources, scenario(tmp_path, function), loop, samples())
    sources.close()
    assert [p.value for p in produced] == [f"digest of s-{n:02d}" for n in range(SAMPLES)]
    assert [p.cached for p in produced] == [None] * SAMPLES  # no cache asked for
    # Ten calls submitted at once, each sleeping: exactly the limit ran together.
    assert app.state["peak"] == LIMIT
    assert app.state["calls"] == SAMPLES


def test_a_limit_above_the_default_executor_is_reached(
    tmp_path: Path, app: ModuleType, loop: BackgroundLoop
) -> None:
    # The loop's default executor has min(32, cpus + 4) threads: 6 on a 2-core runner.
    wide = 40
    app.state["expect"] = wide
    sources = OutputSources(None, loop=lambda: loop)
    config = scenario(tmp_path, "make", output_concurrency=wide)
    produce_all(sources, config, loop, samples(wide))
    sources.close()
    assert app.state["peak"] == wide
    assert len(app.state["threads"]) == wide
    assert all(name.startswith("llmbench-output-digest") for name in app.state["threads"])


def test_an_items_own_call_goes_through_the_loop_under_the_same_limit(
    tmp_path: Path, app: ModuleType, loop: BackgroundLoop
) -> None:
    sources = OutputSources(None, loop=lambda: loop)
    config = scenario(tmp_path, "make")
    source = sources.get(config)
    assert source is not None
    chosen = samples()
    ahead = [loop.submit(source.produce(s)) for s in chosen[:-1]]
    assert source.produce_sync(chosen[-1]) == Produced("digest of s-09")
    assert [f.result().value for f in ahead] == [f"digest of s-{n:02d}" for n in range(9)]
    sources.close()
    assert app.state["peak"] == LIMIT


def test_without_a_loop_an_item_calls_the_function_itself(tmp_path: Path, app: ModuleType) -> None:
    # A dry run starts no loop: the item's call is made in its own thread, one at a time.
    sources = OutputSources(None)
    source = sources.get(scenario(tmp_path, "make_async"))
    assert source is not None
    assert source.produce_sync(samples(1)[0]) == Produced("digest of s-00")
    sources.close()


# -- the output cache ---------------------------------------------------------------------


def cached_run(
    tmp_path: Path, loop: BackgroundLoop, *, refresh: bool = False, **keys: object
) -> list[Produced]:
    sources = OutputSources(tmp_path / "cache", refresh=refresh, loop=lambda: loop)
    config = scenario(tmp_path, "make", output_cache=True, **keys)
    try:
        return produce_all(sources, config, loop, samples(4))
    finally:
        sources.close()


def test_a_warm_run_calls_the_function_zero_times(
    tmp_path: Path, app: ModuleType, loop: BackgroundLoop
) -> None:
    cold = cached_run(tmp_path, loop)
    assert [p.cached for p in cold] == [False] * 4
    assert app.state["calls"] == 4
    warm = cached_run(tmp_path, loop)
    assert warm == [Produced(p.value, cached=True) for p in cold]
    assert app.state["calls"] == 4


def test_refresh_calls_the_function_again_and_stores_what_it_made(
    tmp_path: Path, app: ModuleType, loop: BackgroundLoop
) -> None:
    cached_run(tmp_path, loop)
    refreshed = cached_run(tmp_path, loop, refresh=True)
    assert [p.cached for p in refreshed] == [False] * 4
    assert app.state["calls"] == 8
    assert [p.cached for p in cached_run(tmp_path, loop)] == [True] * 4
    assert app.state["calls"] == 8


def test_another_output_version_produces_again(
    tmp_path: Path, app: ModuleType, loop: BackgroundLoop
) -> None:
    cached_run(tmp_path, loop, output_version="1")
    assert [p.cached for p in cached_run(tmp_path, loop, output_version="2")] == [False] * 4
    assert [p.cached for p in cached_run(tmp_path, loop, output_version="1")] == [True] * 4
    assert app.state["calls"] == 8


def test_a_function_that_raises_stores_nothing_for_that_sample(
    tmp_path: Path, app: ModuleType, loop: BackgroundLoop
) -> None:
    app.state["fail"].add("s-01")
    with pytest.raises(RuntimeError, match="the app failed on s-01"):
        cached_run(tmp_path, loop)
    app.state["fail"].clear()
    again = cached_run(tmp_path, loop)
    assert [p.cached for p in again] == [True, False, True, True]


def test_the_cache_is_off_unless_the_scenario_asks_for_it(
    tmp_path: Path, app: ModuleType, loop: BackgroundLoop
) -> None:
    sources = OutputSources(tmp_path / "cache", loop=lambda: loop)
    produced = produce_all(sources, scenario(tmp_path, "make"), loop, samples(2))
    sources.close()
    assert [p.cached for p in produced] == [None, None]
    assert not (tmp_path / "cache").exists()


def test_an_item_reads_and_fills_the_cache_without_a_loop(tmp_path: Path, app: ModuleType) -> None:
    def run() -> Produced:
        sources = OutputSources(tmp_path / "cache")
        source = sources.get(scenario(tmp_path, "make", output_cache=True))
        assert source is not None
        try:
            return source.produce_sync(samples(1)[0])
        finally:
            sources.close()

    assert run() == Produced("digest of s-00", cached=False)
    assert run() == Produced("digest of s-00", cached=True)
    assert app.state["calls"] == 1


def test_a_cache_directory_that_cannot_be_made_is_noted_and_outputs_produced(
    tmp_path: Path, app: ModuleType, loop: BackgroundLoop
) -> None:
    (tmp_path / "file").write_text("not a directory", encoding="utf-8")
    sources = OutputSources(tmp_path / "file" / "cache", loop=lambda: loop, rootdir=tmp_path)
    config = scenario(tmp_path, "make", output_cache=True)
    produced = produce_all(sources, config, loop, samples(2))
    sources.close()
    assert [p.cached for p in produced] == [None, None]
    (note,) = sources.notes
    assert note.startswith(f"output cache {tmp_path / 'file' / 'cache'} not used: ")
