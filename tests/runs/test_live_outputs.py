"""Live outputs in whole runs: an `output: module:function` honours `output_concurrency`
(default: the judge's `concurrency`), sync and async alike, and with `output_cache: true`
a warm run calls it zero times, a new judge prompt re-judges without regenerating,
`--llmbench-refresh-outputs` regenerates, and a function that raises stores nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# Imported once out here so that pytester's in-process runs do not re-import it each time
# (see test_live_judge.py).
import hypothesis.internal.observability  # noqa: F401
import pytest
from support.judge_server import JudgeServer
from support.project import PROMPT, Project, config_yaml, make_samples

SAMPLES = 12

APP = """\
import asyncio
import threading
import time

CALLS = {calls!r}
PEAK = {peak!r}
FAIL = {fail!r}
_lock = threading.Lock()
_now = [0, 0]  # in flight, peak


def _enter(sample):
    with _lock:
        _now[0] += 1
        _now[1] = max(_now[1], _now[0])
        with open(CALLS, "a", encoding="utf-8") as out:
            out.write(sample.id + "\\n")
        with open(PEAK, "w", encoding="utf-8") as out:
            out.write(str(_now[1]))


def _leave():
    with _lock:
        _now[0] -= 1


def make(sample):
    _enter(sample)
    time.sleep(0.3)
    _leave()
    if sample.id in FAIL:
        raise RuntimeError("the app failed on " + sample.id)
    return "made for " + sample.id


async def make_async(sample):
    _enter(sample)
    await asyncio.sleep(0.3)
    _leave()
    if sample.id in FAIL:
        raise RuntimeError("the app failed on " + sample.id)
    return "made for " + sample.id
"""

OUTPUT_TEST = """\
import pytest


@pytest.mark.llmbench("digest")
def test_digest(sample, output, judge):
    judge(output)
"""


def judges(concurrency: int) -> str:
    return (
        "judges:\n"
        "  default:\n"
        "    kind: openai\n"
        "    base_url: ${TEST_LLM_URL}\n"
        "    model: test-model\n"
        f"    concurrency: {concurrency}\n"
        "    timeout_s: 10\n"
    )


class App:
    """mymod.py at the project root (importable through the ini `pythonpath`, also by
    xdist workers), logging each call to calls.txt and the peak in flight to peak.txt."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.calls_file = project.root / "calls.txt"
        self.peak_file = project.root / "peak.txt"
        project.write("pytest.ini", "[pytest]\npythonpath = .\n")
        self.write()

    def write(self, fail: tuple[str, ...] = ()) -> None:
        text = APP.format(calls=str(self.calls_file), peak=str(self.peak_file), fail=fail)
        self.project.write("mymod.py", text)

    def calls(self) -> list[str]:
        """The samples the function was called for, since the last call of this."""
        if not self.calls_file.exists():
            return []
        made = sorted(self.calls_file.read_text(encoding="utf-8").split())
        self.calls_file.unlink()
        return made

    @property
    def peak(self) -> int:
        return int(self.peak_file.read_text(encoding="utf-8"))


def configure(
    project: Project, *, concurrency: int = 8, function: str = "make", extra: str = ""
) -> None:
    scenario = f"    output: mymod:{function}\n{extra}"
    project.config(config_yaml(judge_block=judges(concurrency), extra_scenario=scenario))


ALL = [f"s-{n:02d}" for n in range(1, SAMPLES + 1)]


@pytest.fixture
def server(project: Project, monkeypatch: pytest.MonkeyPatch) -> Iterator[JudgeServer]:
    with JudgeServer(latency_s=0.05) as srv:
        monkeypatch.setenv("TEST_LLM_URL", srv.url)
        project.dataset(make_samples([(0.9, 0.9)] * SAMPLES))
        project.write("benchmarks/test_digest.py", OUTPUT_TEST)
        yield srv


@pytest.fixture
def app(project: Project) -> App:
    return App(project)


def scenario_of(project: Project) -> dict[str, Any]:
    return dict(project.records()[-1]["scenarios"]["digest"])


# -- output concurrency -------------------------------------------------------------------


@pytest.mark.parametrize("function", ["make", "make_async"], ids=["sync", "async"])
def test_output_concurrency_bounds_the_function_judged_ahead(
    project: Project, server: JudgeServer, app: App, function: str
) -> None:
    configure(project, function=function, extra="    output_concurrency: 3\n")
    result = project.run("-p", "no:xdist")
    assert result.ret == 0
    result.assert_outcomes(passed=SAMPLES)
    assert app.calls() == ALL
    assert app.peak == 3


@pytest.mark.parametrize("function", ["make", "make_async"], ids=["sync", "async"])
def test_output_concurrency_is_the_judges_concurrency_by_default(
    project: Project, server: JudgeServer, app: App, function: str
) -> None:
    # 8 at once: more than the loop's default executor's min(32, cpus + 4) on a 2-core box.
    configure(project, function=function, concurrency=8)
    result = project.run("-p", "no:xdist")
    assert result.ret == 0
    assert app.calls() == ALL
    assert app.peak == 8


# -- the output cache ---------------------------------------------------------------------

CACHED = "    output_cache: true\n    output_version: digest-2025-11\n"


def test_outputs_are_not_cached_unless_asked(
    project: Project, server: JudgeServer, app: App
) -> None:
    configure(project)
    assert project.run("-p", "no:xdist").ret == 0
    assert project.run("-p", "no:xdist").ret == 0
    assert app.calls() == sorted(ALL * 2)
    scenario = scenario_of(project)
    assert "outputs" not in scenario
    assert all("output_cached" not in s for s in scenario["samples"])


def test_a_warm_run_calls_the_function_zero_times_and_the_record_says_so(
    project: Project, server: JudgeServer, app: App
) -> None:
    configure(project, extra=CACHED)
    cold = project.run("-p", "no:xdist")
    assert cold.ret == 0
    assert app.calls() == ALL
    assert scenario_of(project)["outputs"] == {"produced": SAMPLES, "cached": 0}
    cold.stdout.fnmatch_lines([f"  outputs: {SAMPLES} produced, 0 from the cache"])
    requests = len(server.requests)

    warm = project.run("-n", "2")
    assert warm.ret == 0
    warm.assert_outcomes(passed=SAMPLES)
    assert app.calls() == []
    scenario = scenario_of(project)
    assert scenario["outputs"] == {"produced": 0, "cached": SAMPLES}
    assert [s["output_cached"] for s in scenario["samples"]] == [True] * SAMPLES
    warm.stdout.fnmatch_lines([f"  outputs: 0 produced, {SAMPLES} from the cache"])
    assert len(server.requests) == requests  # the judge replies were cached too


def test_a_new_judge_prompt_re_judges_without_regenerating(
    project: Project, server: JudgeServer, app: App
) -> None:
    configure(project, extra=CACHED)
    assert project.run("-p", "no:xdist").ret == 0
    assert app.calls() == ALL
    judged = len(server.requests)
    project.write("prompts/digest_judge/v2.yaml", PROMPT.replace("strict", "very strict"))
    project.config(
        project.root.joinpath("benchmarks/llmbench.yaml").read_text().replace("@v1", "@v2")
    )
    assert project.run("-p", "no:xdist").ret == 0
    assert app.calls() == []
    assert len(server.requests) == judged + SAMPLES
    assert all("made for s-" in str(body) for body in server.requests[judged:])


def test_refresh_regenerates_and_stores_the_new_outputs(
    project: Project, server: JudgeServer, app: App
) -> None:
    configure(project, extra=CACHED)
    assert project.run("-p", "no:xdist").ret == 0
    assert app.calls() == ALL
    refreshed = project.run("-p", "no:xdist", "--llmbench-refresh-outputs")
    assert refreshed.ret == 0
    assert app.calls() == ALL
    assert scenario_of(project)["outputs"] == {"produced": SAMPLES, "cached": 0}
    assert project.run("-p", "no:xdist").ret == 0
    assert app.calls() == []


def test_another_output_version_regenerates(
    project: Project, server: JudgeServer, app: App
) -> None:
    configure(project, extra=CACHED)
    assert project.run("-p", "no:xdist").ret == 0
    assert app.calls() == ALL
    configure(project, extra=CACHED.replace("digest-2025-11", "digest-2025-12"))
    assert project.run("-p", "no:xdist").ret == 0
    assert app.calls() == ALL


def test_a_function_that_raises_leaves_an_error_and_stores_nothing(
    project: Project, server: JudgeServer, app: App
) -> None:
    configure(project, extra=CACHED)
    app.write(fail=("s-02",))
    failed = project.run("-p", "no:xdist")
    assert failed.ret == 1
    failed.assert_outcomes(passed=SAMPLES - 1, errors=1)
    (sample,) = [s for s in scenario_of(project)["samples"] if s["id"] == "s-02"]
    assert sample["status"] == "error"
    assert sample["reason"] == "RuntimeError: the app failed on s-02"
    # Produced ahead (and failed), then once more by the item, which reports the error.
    assert app.calls() == sorted([*ALL, "s-02"])

    app.write()
    fixed = project.run("-p", "no:xdist")
    assert fixed.ret == 0
    assert app.calls() == ["s-02"]  # only what was not stored
    assert scenario_of(project)["outputs"] == {"produced": 1, "cached": SAMPLES - 1}


def test_no_cache_turns_the_output_cache_off_too(
    project: Project, server: JudgeServer, app: App
) -> None:
    configure(project, extra=CACHED)
    assert project.run("-p", "no:xdist", "--llmbench-no-cache").ret == 0
    assert project.run("-p", "no:xdist", "--llmbench-no-cache").ret == 0
    assert app.calls() == sorted(ALL * 2)
    assert not (project.root / ".llmbench" / "cache").exists()


# -- the produced output in the record ----------------------------------------------------


def test_the_record_holds_each_produced_output_the_same_in_every_xdist_mode(
    project: Project, server: JudgeServer, app: App, xdist_args: list[str]
) -> None:
    configure(project)
    assert project.run(*xdist_args).ret == 0
    samples = scenario_of(project)["samples"]
    assert [(s["id"], s["output"]) for s in samples] == [(i, f"made for {i}") for i in ALL]
    assert all("output_truncated" not in s for s in samples)


def test_the_record_holds_no_output_when_the_test_judged_a_sample_field(
    project: Project, server: JudgeServer
) -> None:
    project.write("benchmarks/test_digest.py", OUTPUT_TEST)
    project.config(config_yaml(judge_block=judges(8), extra_scenario="    output: output\n"))
    assert project.run("-p", "no:xdist").ret == 0
    assert all("output" not in s for s in scenario_of(project)["samples"])
