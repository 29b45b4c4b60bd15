"""Whole runs against judges that drip, never answer, or whose helper process stops: each
run ends, every sample is in the record once, and the ones affected are unscored with a
reason that says what happened.

Runs go through a pytest subprocess with a timeout far above their bound, so that a
regression fails the test instead of hanging the suite; outcomes are asserted by what the
server counted and the record says, never by wall-clock time.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.judge_server import JudgeServer
from support.project import FIND_HELPER, Project, config_yaml, live_judge_yaml

GUARD_S = 180.0
MODES = {"no-xdist": ["-p", "no:xdist"], "n2": ["-n", "2"]}
SAMPLES = 4  # the project fixture's dataset
FAST_JUDGE = live_judge_yaml(timeout_s=1, retries="{attempts: 2, max_wait_s: 1, base_s: 0.01}")
TIMED_OUT = "judge unavailable after 2 attempts: timed out after 1 s"


@pytest.fixture(params=list(MODES), ids=list(MODES))
def mode(request: pytest.FixtureRequest) -> list[str]:
    return list(MODES[request.param])


def marker(number: int) -> str:
    """Text only the judge prompt of sample `s-<number>` contains (its input)."""
    return f"Пост номер {number}:"


def run_guarded(project: Project, *args: str) -> pytest.RunResult:
    return project.pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=GUARD_S)


def samples_by_id(project: Project) -> dict[str, dict[str, Any]]:
    (record,) = project.records()
    samples = record["scenarios"]["digest"]["samples"]
    assert len(samples) == SAMPLES  # every sample once
    return {s["id"]: s for s in samples}


@pytest.fixture
def server(project: Project, monkeypatch: pytest.MonkeyPatch) -> Iterator[JudgeServer]:
    with JudgeServer() as srv:
        monkeypatch.setenv("TEST_LLM_URL", srv.url)
        project.config(config_yaml(judge_block=FAST_JUDGE))
        yield srv


def test_a_dripping_judge_is_cut_at_timeout_s_and_retried_within_its_attempts(
    project: Project, server: JudgeServer, mode: list[str]
) -> None:
    server.script_for(marker(1), [("drip", 0.25)])  # then a good reply
    server.script_for(marker(2), [("drip", 0.25), ("drip", 0.25)])
    result = run_guarded(project, *mode)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=3, failed=1)
    assert [server.count_for(marker(n)) for n in range(1, SAMPLES + 1)] == [2, 2, 1, 1]
    samples = samples_by_id(project)
    assert samples["s-01"]["status"] == "scored"
    assert samples["s-01"]["judge"]["attempts"] == 2
    assert (samples["s-02"]["status"], samples["s-02"]["reason"]) == ("unscored", TIMED_OUT)
    result.stdout.fnmatch_lines(["llmbench verdict: *"])


def test_a_judge_that_never_answers_leaves_every_sample_unscored_not_waiting(
    project: Project, server: JudgeServer, mode: list[str]
) -> None:
    server.set_script([("never",)] * (2 * SAMPLES))
    # Judged ahead, so that the calls wait together.
    project.config(config_yaml(judge_block=FAST_JUDGE, extra_scenario="    output: output\n"))
    project.write(
        "benchmarks/test_digest.py",
        "import pytest\n\n\n@pytest.mark.llmbench('digest')\n"
        "def test_digest(sample, output, judge):\n    judge(output)\n",
    )
    result = run_guarded(project, *mode)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(failed=SAMPLES)
    assert len(server.requests) == 2 * SAMPLES  # two attempts each, then no more
    samples = samples_by_id(project)
    assert {(s["status"], s["reason"]) for s in samples.values()} == {("unscored", TIMED_OUT)}


# The project's conftest stops its own helper process (SIGSTOP) as sample s-02's test
# starts, in whichever process runs it: the run must see that and go on without it.
STOP_HELPER = (
    """\
import os
import signal
import time
from pathlib import Path


"""
    + FIND_HELPER
    + """


def pytest_runtest_call(item):
    if not item.name.endswith("[s-02]"):
        return
    deadline = time.monotonic() + 30  # the helper may still be starting
    while (pid := helper()) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pid is not None, "no helper process to stop"
    os.kill(pid, signal.SIGSTOP)
    Path(item.config.rootpath, "stopped.txt").write_text(str(pid))
"""
)


def end_if_still_stopped(pid: int) -> None:
    """Should the run have failed to, end the helper it stopped (that very process only)."""
    with contextlib.suppress(OSError, IndexError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state == "T" and b"helper_process" in Path(f"/proc/{pid}/cmdline").read_bytes():
            os.kill(pid, signal.SIGKILL)


STOPPED = re.compile(
    r"judge helper process stopped answering \(stopped by a signal\); killed after \d+ s"
)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_a_helper_stopped_mid_run_is_killed_and_its_samples_are_unscored_with_the_reason(
    project: Project, server: JudgeServer, mode: list[str]
) -> None:
    project.write("benchmarks/conftest.py", STOP_HELPER)
    project.config(config_yaml(judge_block=live_judge_yaml(timeout_s=60)))
    # s-02's call is still in flight when its test stops the helper: judged ahead and
    # already answered, its result would not need the helper any more.
    server.script_for(marker(2), [("never",)])
    stopped = project.root / "stopped.txt"
    try:
        result = run_guarded(project, *mode, "--llmbench-judge=live")
    finally:
        if stopped.exists():
            end_if_still_stopped(int(stopped.read_text()))
    assert stopped.exists()
    samples = samples_by_id(project)
    assert samples["s-01"]["status"] == "scored"  # judged before the stop, or elsewhere
    assert samples["s-02"]["status"] == "unscored"
    assert STOPPED.fullmatch(samples["s-02"]["reason"]), samples["s-02"]["reason"]
    # Later samples of the process whose helper was killed are unscored with that reason;
    # the other process's are scored.
    for sample in samples.values():
        assert sample["status"] == "scored" or STOPPED.fullmatch(sample["reason"])
    unscored = sum(s["status"] == "unscored" for s in samples.values())
    result.assert_outcomes(passed=SAMPLES - unscored, failed=unscored)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["*sample 's-02' unscored: judge helper process stopped answering*", "llmbench verdict: *"]
    )
