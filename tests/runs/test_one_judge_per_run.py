"""One judge helper per run: `concurrency` is a limit for the whole run (every xdist worker
together), no sample is judged twice (load, worksteal, a crashed worker), and the plain
body `judge(sample.output)` is judged ahead exactly when its requests match."""

from __future__ import annotations

from collections.abc import Iterator

# Imported once out here so that pytester's in-process runs do not re-import it each time
# (see test_live_judge.py).
import hypothesis.internal.observability  # noqa: F401
import pytest
from support.judge_server import JudgeServer
from support.project import Project, config_yaml, live_judge_yaml, make_samples, marker

SAMPLES = 24
CONCURRENCY = 3
WINDOW = 2 * CONCURRENCY
JUDGE_BLOCK = live_judge_yaml(
    timeout_s=10, retries="{attempts: 2, max_wait_s: 2, base_s: 0.01}", concurrency=CONCURRENCY
)

PLAIN_BODY = """\
import pytest


@pytest.mark.llmbench("digest")
def test_digest(sample, judge):
    judge(sample.output)
"""

OTHER_TEXT_BODY = """\
import pytest


@pytest.mark.llmbench("digest")
def test_digest(sample, judge):
    judge(sample.output + " (edited by the test)")
"""

CRASHING_BODY = """\
import os

import pytest


@pytest.mark.llmbench("digest")
def test_digest(sample, judge):
    judge(sample.output)
    if sample.id == "s-05":
        os._exit(1)
"""

APP = """\
def make_output(sample):
    return "made for " + sample.id + ": " + sample.output
"""

DISTS = {"load": ["-n", "2", "--dist", "load"], "worksteal": ["-n", "2", "--dist", "worksteal"]}


@pytest.fixture
def server(project: Project, monkeypatch: pytest.MonkeyPatch) -> Iterator[JudgeServer]:
    with JudgeServer(latency_s=0.1, metrics=("coverage", "accuracy")) as srv:
        monkeypatch.setenv("TEST_LLM_URL", srv.url)
        project.dataset(make_samples([(0.9, 0.9)] * SAMPLES))
        project.config(config_yaml(judge_block=JUDGE_BLOCK))
        yield srv


def per_sample(srv: JudgeServer) -> list[int]:
    return [srv.count_for(marker(n)) for n in range(1, SAMPLES + 1)]


def usage(project: Project) -> dict[str, object]:
    (record,) = project.records()
    block: dict[str, object] = record["scenarios"]["digest"]["usage"]
    return block


@pytest.mark.parametrize("dist", list(DISTS))
def test_two_workers_never_exceed_the_judges_concurrency_and_judge_each_sample_once(
    project: Project, server: JudgeServer, dist: str
) -> None:
    project.write("benchmarks/test_digest.py", PLAIN_BODY)
    result = project.run("--llmbench-no-cache", *DISTS[dist])
    assert result.ret == 0
    result.assert_outcomes(passed=SAMPLES)
    assert server.peak_in_flight <= CONCURRENCY  # for the run, not per worker
    assert per_sample(server) == [1] * SAMPLES
    spent = usage(project)
    assert (spent["judge_calls"], spent["http_requests"], spent["cached"]) == (SAMPLES, SAMPLES, 0)
    assert "ahead_unused" not in spent


@pytest.mark.parametrize("dist", list(DISTS))
def test_an_output_function_under_two_workers_keeps_the_run_wide_limit(
    project: Project, server: JudgeServer, dist: str
) -> None:
    project.write("app_outputs.py", APP)
    project.write("pytest.ini", "[pytest]\npythonpath = .\n")
    project.config(
        config_yaml(judge_block=JUDGE_BLOCK, extra_scenario="    output: app_outputs:make_output\n")
    )
    project.write(
        "benchmarks/test_digest.py",
        PLAIN_BODY.replace("(sample, judge)", "(sample, output, judge)").replace(
            "judge(sample.output)", "judge(output)"
        ),
    )
    result = project.run("--llmbench-no-cache", *DISTS[dist])
    assert result.ret == 0
    result.assert_outcomes(passed=SAMPLES)
    assert server.peak_in_flight <= CONCURRENCY
    assert per_sample(server) == [1] * SAMPLES
    assert usage(project)["judge_calls"] == SAMPLES


def test_a_crashed_worker_costs_no_second_call_for_any_sample(
    project: Project, server: JudgeServer
) -> None:
    project.write("benchmarks/test_digest.py", CRASHING_BODY)
    result = project.run("--llmbench-no-cache", "-n", "2")
    result.assert_outcomes(passed=SAMPLES - 1, failed=1)
    # The crashed item was judged before the worker died; every other sample once, by
    # whichever worker ran it (also those queued on the crashed one).
    assert per_sample(server) == [1] * SAMPLES
    assert server.peak_in_flight <= CONCURRENCY


def test_the_plain_body_is_judged_ahead_in_one_process(
    project: Project, server: JudgeServer
) -> None:
    project.write("benchmarks/test_digest.py", PLAIN_BODY)
    result = project.run("-p", "no:xdist")
    assert result.ret == 0
    # Items run one after another, yet calls overlapped: the stored outputs were judged
    # ahead, and each item took its own sample's call (not a cache hit).
    assert 1 < server.peak_in_flight <= CONCURRENCY
    assert per_sample(server) == [1] * SAMPLES
    (record,) = project.records()
    samples = record["scenarios"]["digest"]["samples"]
    assert [s["judge"]["cached"] for s in samples] == [False] * SAMPLES
    assert [s["judge"]["attempts"] for s in samples] == [1] * SAMPLES
    result.stdout.fnmatch_lines([f"  judge calls {SAMPLES} · cached 0 · retries 0 · tokens *"])


@pytest.mark.parametrize("mode", ["one process", "n2"])
def test_a_body_that_judges_other_text_costs_only_the_counted_window(
    project: Project, server: JudgeServer, mode: str
) -> None:
    project.write("benchmarks/test_digest.py", OTHER_TEXT_BODY)
    args = ["-p", "no:xdist"] if mode == "one process" else ["-n", "2"]
    result = project.run("--llmbench-no-cache", *args)
    assert result.ret == 0
    spent = usage(project)
    unused = spent["ahead_unused"]
    assert isinstance(unused, int)
    # Every sample's own text judged once, plus exactly the calls counted as unused: the
    # window judged before the first body showed it judges something else.
    edited = [r for r in server.requests if "(edited by the test)" in str(r["messages"])]
    assert len(edited) == SAMPLES
    assert len(server.requests) == SAMPLES + unused
    # At most the window, and one more per process: each process's first item slides it
    # once before its report shows the body judges something else.
    assert 1 <= unused <= WINDOW + (2 if mode == "n2" else 1)
    assert spent["judge_calls"] == SAMPLES
    result.stdout.fnmatch_lines(
        [
            f"  judge calls {SAMPLES} · cached 0 · * · judged ahead, unused {unused}",
            "llmbench: scenario 'digest': judging ahead stopped at sample 's-*', whose test "
            "judged other text than the stored output; * calls made ahead were not used*",
        ]
    )
