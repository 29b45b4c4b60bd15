"""Judging ahead: with `output:` declared, one process keeps several judge calls in flight
across items, and still judges every sample exactly once (also across xdist workers)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Imported once out here so that pytester's in-process runs do not re-import it each time
# (see test_live_judge.py).
import hypothesis.internal.observability  # noqa: F401
import pytest
from support.judge_server import JudgeServer, user_text
from support.project import (
    SAMPLE_NUMBER,
    Project,
    config_yaml,
    live_judge_yaml,
    make_samples,
    marker,
)

from pytest_llmbench.judging.helper_process import JudgeProcess
from pytest_llmbench.judging.result import JudgeResult

SAMPLES = 12
CONCURRENCY = 4
JUDGE_BLOCK = live_judge_yaml(
    timeout_s=10, retries="{attempts: 2, max_wait_s: 2, base_s: 0.01}", concurrency=CONCURRENCY
)

OUTPUT_TEST = """\
import pytest


@pytest.mark.llmbench("digest")
def test_digest(sample, output, judge):
    judge(output)
"""


def per_sample(srv: JudgeServer, count: int = SAMPLES) -> list[int]:
    return [srv.count_for(marker(n)) for n in range(1, count + 1)]


def scorer(body: dict[str, Any]) -> dict[str, float]:
    """0.9 everywhere, except 0.99 for an output the test edited: a distinct, passing result."""
    score = 0.99 if "EDITED" in user_text(body) else 0.9
    return {"coverage": score, "accuracy": score}


def configure(project: Project, output: str) -> None:
    project.config(config_yaml(judge_block=JUDGE_BLOCK, extra_scenario=f"    output: {output}\n"))


@pytest.fixture
def server(project: Project, monkeypatch: pytest.MonkeyPatch) -> Iterator[JudgeServer]:
    with JudgeServer(latency_s=0.2, scorer=scorer) as srv:
        monkeypatch.setenv("TEST_LLM_URL", srv.url)
        project.dataset(make_samples([(0.9, 0.9)] * SAMPLES))
        project.write("benchmarks/test_digest.py", OUTPUT_TEST)
        configure(project, "output")
        yield srv


def samples_of(project: Project) -> list[dict[str, Any]]:
    (record,) = project.records()
    return list(record["scenarios"]["digest"]["samples"])


# -- overlap and exactly-once -------------------------------------------------------------


def test_one_process_keeps_several_judge_calls_in_flight_across_items(
    project: Project, server: JudgeServer
) -> None:
    result = project.run("-p", "no:xdist")
    assert result.ret == 0
    result.assert_outcomes(passed=SAMPLES)
    # Items run one after another, yet the judge saw calls overlap: they were judged ahead.
    assert server.peak_in_flight > 1
    assert server.peak_in_flight <= CONCURRENCY
    assert per_sample(server) == [1] * SAMPLES
    samples = samples_of(project)
    assert [s["status"] for s in samples] == ["scored"] * SAMPLES
    assert [s["judge"]["attempts"] for s in samples] == [1] * SAMPLES


@pytest.mark.parametrize(
    ("samples", "concurrency"),
    [(SAMPLES, CONCURRENCY), (100, 32)],
    ids=["begins-told-one-by-one", "begins-told-in-batches"],
)
def test_in_one_process_items_take_what_was_judged_ahead_without_asking_the_helper(
    project: Project,
    server: JudgeServer,
    monkeypatch: pytest.MonkeyPatch,
    samples: int,
    concurrency: int,
) -> None:
    """The round trip to the helper for each item was the run's pace at high concurrency
    (issue 12): the controller's results are taken where they arrived. With a window of
    64 the items' beginnings reach the loop 4 at a time, and every item still finds its
    call made ahead."""
    if samples != SAMPLES:
        project.dataset(make_samples([(0.9, 0.9)] * samples))
        block = live_judge_yaml(timeout_s=10, concurrency=concurrency)
        project.config(config_yaml(judge_block=block, extra_scenario="    output: output\n"))
    asked: list[tuple[bool, bool]] = []  # (ahead, taken_here) of each request to the helper
    score = JudgeProcess.score

    async def counting(self: JudgeProcess, *args: Any, **kwargs: Any) -> JudgeResult:
        asked.append((kwargs.get("ahead", False), kwargs.get("taken_here", False)))
        return await score(self, *args, **kwargs)

    monkeypatch.setattr(JudgeProcess, "score", counting)
    result = project.run("-p", "no:xdist")
    assert result.ret == 0
    result.assert_outcomes(passed=samples)
    assert asked == [(True, True)] * samples  # only the calls made ahead; no item asked
    assert per_sample(server, samples) == [1] * samples
    assert server.peak_in_flight <= concurrency
    recorded = samples_of(project)
    assert {s["status"] for s in recorded} == {"scored"}
    assert [s["judge"]["attempts"] for s in recorded] == [1] * samples
    (record,) = project.records()
    usage = record["scenarios"]["digest"]["usage"]
    assert usage["judge_calls"] == samples
    assert usage.get("ahead_unused", 0) == 0


JUDGES_TWICE = """\
import pytest


@pytest.mark.llmbench("digest")
def test_digest(sample, output, judge):
    assert judge(output) == judge(output)
"""


def test_a_body_judging_its_output_twice_takes_the_call_made_ahead_then_its_cached_reply(
    project: Project, server: JudgeServer
) -> None:
    project.write("benchmarks/test_digest.py", JUDGES_TWICE)
    result = project.run("-p", "no:xdist")
    assert result.ret == 0
    # The first judge() takes the call made ahead, which is stored as it is taken; the
    # second finds it in the cache, as after any call of its own.
    assert per_sample(server) == [1] * SAMPLES
    result.stdout.fnmatch_lines([f"  judge calls {SAMPLES} · cached {SAMPLES} · *"])


def test_every_sample_is_judged_exactly_once_with_and_without_xdist(
    project: Project, server: JudgeServer, xdist_args: list[str]
) -> None:
    result = project.run(*xdist_args)
    assert result.ret == 0
    result.assert_outcomes(passed=SAMPLES)
    assert per_sample(server) == [1] * SAMPLES  # never twice, not even across workers
    assert len(server.requests) == SAMPLES
    workers = 2 if xdist_args == ["-n", "2"] else 1
    assert server.peak_in_flight <= CONCURRENCY * workers
    samples = samples_of(project)
    assert [s["id"] for s in samples] == [f"s-{n:02d}" for n in range(1, SAMPLES + 1)]
    assert {s["status"] for s in samples} == {"scored"}
    assert [s["scores"]["coverage"] for s in samples] == [0.9] * SAMPLES
    (record,) = project.records()
    assert record["scenarios"]["digest"]["usage"]["judge_calls"] == SAMPLES


def test_prefetched_replies_are_cached_so_a_warm_run_asks_nothing(
    project: Project, server: JudgeServer
) -> None:
    assert project.run("-p", "no:xdist").ret == 0
    server.requests.clear()
    warm = project.run("-p", "no:xdist")
    assert warm.ret == 0
    warm.assert_outcomes(passed=SAMPLES)
    assert server.requests == []
    warm.stdout.fnmatch_lines([f"  judge calls 0 · cached {SAMPLES} · *"])


# -- output: module:function ----------------------------------------------------------------

APP = """\
import asyncio

CALLS = {calls!r}


def _note(sample):
    with open(CALLS, "a", encoding="utf-8") as out:
        out.write(sample.id + "\\n")


def make_output(sample):
    _note(sample)
    if sample.id == "s-02" and {fail!r}:
        raise RuntimeError("the app failed on s-02")
    return "made for " + sample.id + ": " + sample.output


async def make_output_async(sample):
    await asyncio.sleep(0.01)
    _note(sample)
    if sample.id == "s-02" and {fail!r}:
        raise RuntimeError("the app failed on s-02")
    return "made for " + sample.id + ": " + sample.output


NOT_CALLABLE = 42
"""


def write_app(project: Project, *, fail: bool = False) -> Path:
    """mymod.py at the project root, importable through the ini `pythonpath` (also by
    xdist workers); it logs each call to calls.txt."""
    calls = project.root / "calls.txt"
    project.write("mymod.py", APP.format(calls=str(calls), fail=fail))
    project.write("pytest.ini", "[pytest]\npythonpath = .\n")
    return calls


@pytest.mark.parametrize("function", ["make_output", "make_output_async"], ids=["sync", "async"])
def test_output_callable_is_called_once_per_sample_and_its_output_judged(
    project: Project, server: JudgeServer, function: str
) -> None:
    calls = write_app(project)
    configure(project, f"mymod:{function}")
    result = project.run("-p", "no:xdist")
    assert result.ret == 0
    result.assert_outcomes(passed=SAMPLES)
    assert server.peak_in_flight > 1
    assert per_sample(server) == [1] * SAMPLES
    for body in server.requests:
        number = int(SAMPLE_NUMBER.search(user_text(body)).group(1))  # type: ignore[union-attr]
        assert f"made for s-{number:02d}: Сводка {number}: открыли станцию." in user_text(body)
    # Produced once per sample: judged ahead, and the item got the very output judged.
    logged = calls.read_text(encoding="utf-8").split()
    assert sorted(logged) == [f"s-{n:02d}" for n in range(1, SAMPLES + 1)]


def test_output_callable_works_on_xdist_workers(project: Project, server: JudgeServer) -> None:
    calls = write_app(project)
    configure(project, "mymod:make_output_async")
    result = project.run("-n", "2")
    assert result.ret == 0
    result.assert_outcomes(passed=SAMPLES)
    assert per_sample(server) == [1] * SAMPLES
    assert sorted(calls.read_text(encoding="utf-8").split()) == [
        f"s-{n:02d}" for n in range(1, SAMPLES + 1)
    ]


JUDGES_ANOTHER_OUTPUT = """\
import pytest


@pytest.mark.llmbench("digest")
def test_digest(sample, output, judge):
    if sample.id == "s-03":
        scores = judge(output + " EDITED")
        assert scores["coverage"] == 0.99
    else:
        scores = judge(output)
        assert scores["coverage"] == 0.9
"""


def test_judging_another_output_than_the_prefetched_one_asks_again_for_it(
    project: Project, server: JudgeServer
) -> None:
    project.write("benchmarks/test_digest.py", JUDGES_ANOTHER_OUTPUT)
    result = project.run("-p", "no:xdist")
    assert result.ret == 0
    result.assert_outcomes(passed=SAMPLES)
    # s-03 was judged ahead with its field output, then once more with what the test judged.
    assert per_sample(server) == [1, 1, 2] + [1] * (SAMPLES - 3)
    third = [user_text(b) for b in server.requests if marker(3) in user_text(b)]
    assert sorted("EDITED" in text for text in third) == [False, True]
    samples = samples_of(project)
    assert samples[2]["scores"]["coverage"] == 0.99
    assert samples[2]["judge"]["cached"] is False
    assert [s["scores"]["coverage"] for i, s in enumerate(samples) if i != 2] == [0.9] * (
        SAMPLES - 1
    )


def test_a_failing_output_callable_is_reported_on_its_item(
    project: Project, server: JudgeServer
) -> None:
    calls = write_app(project, fail=True)
    configure(project, "mymod:make_output")
    result = project.run("-p", "no:xdist")
    assert result.ret == 1
    result.assert_outcomes(passed=SAMPLES - 1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_digest[[]s-02[]]*",
            "*RuntimeError: the app failed on s-02",
        ]
    )
    assert per_sample(server) == [1, 0] + [1] * (SAMPLES - 2)  # nothing judged for s-02
    sample = samples_of(project)[1]
    assert sample["id"] == "s-02"
    assert sample["status"] == "error"
    assert sample["reason"] == "RuntimeError: the app failed on s-02"
    # Produced ahead (and failed), then once more by the item, which reports the error.
    assert calls.read_text(encoding="utf-8").split().count("s-02") == 2


def test_an_output_field_missing_from_a_sample_is_reported_on_its_item(
    project: Project, server: JudgeServer
) -> None:
    samples = make_samples([(0.9, 0.9)] * 3)
    for sample in samples:
        sample["summary"] = f"summary of {sample['id']}"
    del samples[1]["summary"]
    project.dataset(samples)
    configure(project, "summary")
    result = project.run("-p", "no:xdist")
    assert result.ret == 1
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        ["*scenario 'digest': sample 's-02' has no field 'summary' (output: summary)*"]
    )
    assert per_sample(server, 3) == [1, 0, 1]


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("nosuch:func", "cannot be imported (ModuleNotFoundError: No module named 'nosuch')"),
        (
            "mymod:nosuch",
            "cannot be imported (AttributeError: module 'mymod' has no attribute 'nosuch')",
        ),
        ("mymod:NOT_CALLABLE", "is not callable"),
    ],
    ids=["no-module", "no-function", "not-callable"],
)
def test_an_output_callable_that_cannot_be_used_is_a_collection_error(
    project: Project, server: JudgeServer, spec: str, problem: str
) -> None:
    write_app(project)
    configure(project, spec)
    result = project.run("-p", "no:xdist")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR collecting benchmarks/test_digest.py*",
            f"*scenario 'digest': output: {spec!r} {problem}*",
        ]
    )
    assert "Traceback" not in result.stdout.str()
    assert server.requests == []


JUDGES_THE_FIELD = """\
import pytest


@pytest.mark.llmbench("digest")
def test_digest(sample, judge):
    judge(sample.output)
"""


def test_a_failed_prefetch_does_not_break_a_test_that_judges_its_own_output(
    project: Project, server: JudgeServer
) -> None:
    # The scenario declares an app that fails on s-02, but this test never asks for it.
    write_app(project, fail=True)
    configure(project, "mymod:make_output")
    project.write("benchmarks/test_digest.py", JUDGES_THE_FIELD)
    result = project.run("-p", "no:xdist")
    assert result.ret == 0
    result.assert_outcomes(passed=SAMPLES)
    assert [s["status"] for s in samples_of(project)] == ["scored"] * SAMPLES
    assert "the app failed" not in result.stdout.str()


OBJECT_APP = """\
class Digest:
    def __init__(self, text):
        self.text = text

    def __str__(self):
        return self.text


def make_digest(sample):
    return Digest("digest of " + sample.id)


def make_nothing(sample):
    return None
"""

CHECKS_THE_OUTPUT_TYPE = """\
import pytest


@pytest.mark.llmbench("digest")
def test_digest(sample, output, judge):
    assert type(output).__name__ == "Digest"
    assert output.text == "digest of " + sample.id
    judge(output)
"""

CHECKS_NONE = """\
import pytest


@pytest.mark.llmbench("digest")
def test_digest(sample, output, judge):
    assert output is None
    judge("judged anyway: " + sample.id)
"""


def test_the_output_fixture_gives_what_the_callable_returned_whether_judged_ahead_or_not(
    project: Project, server: JudgeServer
) -> None:
    project.write("mymod.py", OBJECT_APP)
    project.write("pytest.ini", "[pytest]\npythonpath = .\n")
    configure(project, "mymod:make_digest")
    project.write("benchmarks/test_digest.py", CHECKS_THE_OUTPUT_TYPE)
    result = project.run("-p", "no:xdist")
    assert result.ret == 0
    result.assert_outcomes(passed=SAMPLES)
    assert per_sample(server) == [1] * SAMPLES  # str(output) is what was judged ahead


def test_an_output_callable_returning_none_gives_none_to_every_item(
    project: Project, server: JudgeServer
) -> None:
    project.write("mymod.py", OBJECT_APP)
    project.write("pytest.ini", "[pytest]\npythonpath = .\n")
    configure(project, "mymod:make_nothing")
    project.write("benchmarks/test_digest.py", CHECKS_NONE)
    result = project.run("-p", "no:xdist")
    assert result.ret == 0
    result.assert_outcomes(passed=SAMPLES)
