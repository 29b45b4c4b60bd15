"""The fault matrix: each fault a live judge run can meet, with no xdist and under `-n 2`.

Every cell is a real pytest subprocess on a six-sample project whose live judge is a
JudgeServer on 127.0.0.1 (`timeout_s: 1`, two attempts, at most 2 s of waits). Whatever
the fault, the run must end, and its record must hold:

- every selected sample exactly once, in dataset order, each scored or with a reason;
- the verdict the unscored rule gives (the default `{warn: 0, fail: 0.05}`: any sample
  without a score warns, more than 5% fails; with six samples one lost sample fails);
- a gated record (the whole scenario was selected and nothing interrupted the run);
- the verdict's exit status (0 pass or warn, 1 fail; never 3, an internal error, or 4),
  the same in `run.exitstatus`, and no traceback or INTERNALERROR in the output.

With six samples any lost sample fails the scenario, so a cell's exit status is the
verdict's even though a lost sample's own item fails too (that alone would exit 1 under a
WARN verdict).

The faults, each at a given sample:

- `helper-sigkill` / `helper-sigstop`: the project's conftest signals the judge's helper
  process of whichever process (the run's, or the xdist worker's) runs sample s-03's test,
  half a second into it, while the server holds s-03's request: the call in flight and
  every later call of that process meet a helper that is gone (or stopped, then killed);
- `worker-crash`: s-03's test calls `os._exit(1)`. Under `-n 2` xdist replaces the worker
  and the sample is recorded as an error. With no xdist the process that dies *is* the
  run: nothing can write a record or a verdict, so that cell asserts only that the run
  ends (exit status 1, nothing recorded) and that the judge's helper does not outlive it;
- `503-burst`: three 503s for s-02 (more than its two attempts: unscored), one 503 with a
  Retry-After for s-04 and one without for s-05 (both scored on their second attempt);
- `drip` / `never`: s-02's two attempts drip a byte every 0.25 s or are never answered
  (each cut at `timeout_s`: unscored), s-04's first attempt only (scored).

The run's bound is not asserted by wall clock: it is the subprocess timeout (GUARD_S), so a
run that hangs fails the test instead of the suite. It is computed from the config and the
helper's liveness deadlines (see guard_s below).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from support.judge_server import Behaviour, JudgeServer
from support.project import (
    FIND_HELPER,
    Project,
    config_yaml,
    live_judge_yaml,
    make_samples,
    marker,
)

from pytest_llmbench.benchmark.judge_config import JudgeConfig, RetryPolicy
from pytest_llmbench.judging import helper_process

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="finds the judge's helper process in /proc"
)

SAMPLES = 6
IDS = [f"s-{i:02d}" for i in range(1, SAMPLES + 1)]
TIMEOUT_S = 1.0
RETRIES = RetryPolicy(attempts=2, max_wait_s=2, base_s=0.05)
JUDGE_BLOCK = live_judge_yaml(
    timeout_s=TIMEOUT_S,
    retries=f"{{attempts: {RETRIES.attempts}, max_wait_s: {RETRIES.max_wait_s:g}, "
    f"base_s: {RETRIES.base_s:g}}}",
)
# The same judge as the plugin sees it (structured_output "auto", the default).
JUDGE = JudgeConfig(name="default", kind="openai", timeout_s=TIMEOUT_S, retries=RETRIES)

# A Python process, pytest and its plugins, and under -n 2 its workers, on a loaded
# two-core machine: counted twice, as xdist starts a new worker for one that crashed.
PROCESS_START_S = 30.0
# JudgeProcess.aclose() at the session's end waits this long for the helper to exit, then
# kills it.
CLOSE_S = 10.0


def guard_s() -> float:
    """The longest a cell's run may take, from the config and the helper's deadlines:

    - start-up: the run's processes (twice, for a replaced worker), and the helper's own
      `STARTUP_S` before it says it is ready;
    - every sample's call one after another (each process judges one item at a time), each
      within `call_bound_s` = (attempts + 2 format downgrades) × timeout_s + max_wait_s;
    - a stopped or wedged helper found out: the longer of `STOPPED_S` and `STALL_S`, plus a
      ping interval either side;
    - a call the helper never answers given up: twice the call bound plus `CALL_MARGIN_S`;
    - the helper closed at the session's end (CLOSE_S).
    """
    hp = helper_process
    return (
        2 * PROCESS_START_S
        + hp.STARTUP_S
        + SAMPLES * JUDGE.call_bound_s
        + max(hp.STOPPED_S, hp.STALL_S)
        + 2 * hp.PING_EVERY_S
        + 2 * JUDGE.call_bound_s
        + hp.CALL_MARGIN_S
        + CLOSE_S
    )


GUARD_S = guard_s()

MODES = {"no-xdist": ["-p", "no:xdist"], "n2": ["-n", "2"]}

# The project's conftest: as the trigger sample's test starts, the process running it
# writes its helper's pid to helper.pid and sends it SIGNAL half a second later, while the
# sample's call is in flight (None: only writes the pid).
SIGNAL_HELPER = (
    """\
import os
import signal
import threading
import time
from pathlib import Path

SIGNAL = {signal}
TRIGGER = "[s-03]"
DELAY_S = 0.5


"""
    + FIND_HELPER
    + """


def pytest_runtest_call(item):
    if not item.name.endswith(TRIGGER):
        return
    deadline = time.monotonic() + 30  # the helper may still be starting
    while (pid := helper()) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pid is not None, "no helper process to signal"
    Path(item.config.rootpath, "helper.pid").write_text(str(pid))
    if SIGNAL is not None:
        timer = threading.Timer(DELAY_S, os.kill, (pid, SIGNAL))
        timer.daemon = True
        timer.start()
"""
)

CRASHING_TEST = """\
import os

import pytest


@pytest.mark.llmbench("digest")
def test_digest(sample, judge):
    if sample.id == "s-03":
        os._exit(1)  # the process running this test dies here
    judge(sample.output)
"""

TIMED_OUT = re.compile(r"judge unavailable after 2 attempts: timed out after 1 s")
HTTP_503 = re.compile(r"judge unavailable after 2 attempts: HTTP 503.*")
KILLED = re.compile(r"judge process exited with code -9")
STOPPED = re.compile(
    r"judge helper process stopped answering \(stopped by a signal\); killed after \d+ s"
)
CRASHED = re.compile(r".*crashed while running.*benchmarks/test_digest\.py::test_digest\[s-03\].*")


@dataclass(frozen=True)
class Fault:
    # sample id -> behaviours of the server for its judge requests (then "ok")
    scripts: dict[str, list[Behaviour]] = field(default_factory=dict)
    conftest: str | None = None  # the project's benchmarks/conftest.py
    test_file: str | None = None  # replaces the project's test file
    lost: str = "s-03"  # the sample the fault leaves without a score
    reason: re.Pattern[str] = KILLED  # the reason of every sample without a score
    # Samples that must be scored whatever process runs them (recovered by a retry).
    recovered: tuple[str, ...] = ()
    kills_the_run: tuple[str, ...] = ()  # modes in which the fault ends the run itself


FAULTS = {
    "helper-sigkill": Fault(
        scripts={"s-03": [("hang", 5)] * 2},  # in flight when the signal comes
        conftest=SIGNAL_HELPER.format(signal="signal.SIGKILL"),
        reason=KILLED,
    ),
    "helper-sigstop": Fault(
        scripts={"s-03": [("hang", 5)] * 2},
        conftest=SIGNAL_HELPER.format(signal="signal.SIGSTOP"),
        reason=STOPPED,
    ),
    "worker-crash": Fault(
        conftest=SIGNAL_HELPER.format(signal="None"),
        test_file=CRASHING_TEST,
        reason=CRASHED,
        recovered=("s-01", "s-02", "s-04", "s-05", "s-06"),
        kills_the_run=("no-xdist",),
    ),
    "503-burst": Fault(
        scripts={
            "s-02": [("status", 503)] * 3,
            "s-04": [("status", 503, 0.5)],
            "s-05": [("status", 503)],
        },
        lost="s-02",
        reason=HTTP_503,
        recovered=("s-01", "s-03", "s-04", "s-05", "s-06"),
    ),
    "drip": Fault(
        scripts={"s-02": [("drip", 0.25)] * 2, "s-04": [("drip", 0.25)]},
        lost="s-02",
        reason=TIMED_OUT,
        recovered=("s-01", "s-03", "s-04", "s-05", "s-06"),
    ),
    "never": Fault(
        scripts={"s-02": [("never",)] * 2, "s-04": [("never",)]},
        lost="s-02",
        reason=TIMED_OUT,
        recovered=("s-01", "s-03", "s-04", "s-05", "s-06"),
    ),
}


def process_state(pid: int) -> str | None:
    """The kernel's state letter of `pid` if it is still the judge's helper; else None."""
    try:
        if b"helper_process" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return None
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def helper_gone(pid: int, within_s: float) -> bool:
    """Whether the helper `pid` has exited (a zombie no init reaped counts) within `within_s`."""
    deadline = time.monotonic() + within_s
    while process_state(pid) not in (None, "Z"):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def end_if_still_there(pid: int) -> None:
    """Should the run have failed to, end the helper the conftest signalled (it alone)."""
    if process_state(pid) not in (None, "Z"):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def expected_status(lost: int) -> str:
    """The default unscored rule over SAMPLES selected samples (the bands all pass)."""
    if lost > 0.05 * SAMPLES:
        return "fail"
    return "warn" if lost > 0 else "pass"


@pytest.fixture
def server(project: Project, monkeypatch: pytest.MonkeyPatch) -> Iterator[JudgeServer]:
    with JudgeServer(metrics=("coverage", "accuracy")) as srv:
        monkeypatch.setenv("TEST_LLM_URL", srv.url)
        yield srv


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("name", list(FAULTS))
def test_a_fault_ends_the_run_with_every_sample_recorded_once_and_the_verdict_it_earns(
    project: Project, server: JudgeServer, name: str, mode: str
) -> None:
    fault = FAULTS[name]
    project.dataset(make_samples([(0.9, 0.9)] * SAMPLES))
    project.config(config_yaml(judge_block=JUDGE_BLOCK))
    if fault.conftest is not None:
        project.write("benchmarks/conftest.py", fault.conftest)
    if fault.test_file is not None:
        project.write("benchmarks/test_digest.py", fault.test_file)
    for sample_id, behaviours in fault.scripts.items():
        server.script_for(marker(IDS.index(sample_id) + 1), behaviours)

    pid_file = project.root / "helper.pid"
    try:
        # The guard is the bound: a run that passes it raises TimeoutExpired here.
        result = project.pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", "--llmbench-judge=live", *MODES[mode], timeout=GUARD_S
        )
    finally:
        if pid_file.exists():
            end_if_still_there(int(pid_file.read_text()))
    output = "\n".join([*result.outlines, *result.errlines])
    assert "Traceback" not in output, output
    assert "INTERNALERROR" not in output, output
    if fault.conftest is not None:
        assert pid_file.exists(), "the fault was never injected"
        # Killed by the run (a stopped one), or ended as its parent went: none outlives it.
        assert helper_gone(int(pid_file.read_text()), within_s=10), "the helper outlived the run"

    if mode in fault.kills_the_run:
        # The process that died was the run: no record, no verdict, only its exit status.
        assert result.ret == 1, output
        assert project.records() == []
        return

    (record,) = project.records()
    scenario = record["scenarios"]["digest"]
    samples = scenario["samples"]
    assert [s["id"] for s in samples] == IDS  # each selected sample exactly once
    by_id = {s["id"]: s for s in samples}
    lost = [s for s in samples if s["status"] != "scored"]
    for sample in lost:
        assert sample.get("reason"), sample  # never lost without a word
        assert fault.reason.fullmatch(sample["reason"]), sample["reason"]
    assert by_id[fault.lost]["status"] != "scored"
    assert all(by_id[s]["status"] == "scored" for s in fault.recovered), [
        (s["id"], s.get("reason")) for s in lost
    ]

    status = expected_status(len(lost))
    assert (scenario["status"], record["status"]) == (status, status)
    assert scenario["selection"] == {"kind": "all", "selected": SAMPLES, "of": SAMPLES}
    assert (record["gated"], record["partial"]) == (True, False)
    if lost:
        limit = "fail" if status == "fail" else "warn"
        result.stdout.fnmatch_lines(
            [f"*{len(lost)} of {SAMPLES} samples of digest have no score, over the {limit} limit*"]
        )
    result.stdout.fnmatch_lines([f"llmbench verdict: {status.upper()}"])
    assert result.ret == {"pass": 0, "warn": 0, "fail": 1}[status], output
    assert record["run"]["exitstatus"] == result.ret
