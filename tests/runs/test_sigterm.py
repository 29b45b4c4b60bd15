"""SIGTERM, what a CI runner sends on cancel, ends a run like Ctrl-C: a partial record with
every finished sample, and a verdict line that says the bands were not gated."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.judge_server import JudgeServer
from support.project import TWELVE, Project, config_yaml, live_judge_yaml, make_samples

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def journal_ids(runs: Path) -> list[str]:
    ids = []
    for journal in runs.glob("*.partial.jsonl"):
        for line in journal.read_text(encoding="utf-8").splitlines():
            if line.endswith("}"):  # a line being written is not finished yet
                ids.append(json.loads(line)["sample_id"])
    return ids


@pytest.mark.parametrize(
    ("xdist", "whole_group"),
    [(["-p", "no:xdist"], False), (["-n", "2"], False), (["-n", "2"], True)],
    ids=["no-xdist", "n2", "n2-process-group"],
)
def test_sigterm_writes_a_partial_record_with_every_finished_sample(
    project: Project, monkeypatch: pytest.MonkeyPatch, xdist: list[str], whole_group: bool
) -> None:
    # A slow live judge (12 samples, 1.5 s a call, 3 at once: four rounds however far
    # ahead it is judged); the journal is written at its first sample and then at the
    # first sample a second (JOURNAL_FLUSH_S) after, so it shows a second sample at the
    # second round, 3 s before the run would end. (With rounds 1 s apart, exactly the
    # flush interval, that write could slip to the last round: the signal came too late.)
    # Signalled alone, the controller ends its workers; signalled as a group (a runner
    # that signals the job's process group), each worker is interrupted in its own test.
    project.dataset(make_samples(TWELVE))
    project.config(config_yaml(judge_block=live_judge_yaml(timeout_s=30)))
    with JudgeServer(latency_s=1.5, metrics=("coverage", "accuracy")) as srv:
        monkeypatch.setenv("TEST_LLM_URL", srv.url)
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *xdist]
        run = subprocess.Popen(
            command,
            cwd=project.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group, apart from this test's
        )
        try:
            runs = project.root / ".llmbench" / "runs"
            deadline = time.monotonic() + 60
            while len(journal_ids(runs)) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            finished = journal_ids(runs)
            assert len(finished) >= 2, "the run never finished two samples"
            if whole_group:
                os.killpg(run.pid, signal.SIGTERM)
            else:
                os.kill(run.pid, signal.SIGTERM)
            stdout, _ = run.communicate(timeout=60)
        finally:
            if run.poll() is None:
                run.kill()
                run.wait()
    assert run.returncode == pytest.ExitCode.INTERRUPTED, stdout
    assert "INTERNALERROR" not in stdout
    (record,) = project.records()
    assert record["partial"] is True
    assert record["partial_reason"] == "interrupted"
    assert record["gated"] is False
    assert record["run"]["exitstatus"] == pytest.ExitCode.INTERRUPTED
    # Every selected sample once: each one finished before the signal scored, the ones
    # that never ran (or were cut short) as not run.
    samples = record["scenarios"]["digest"]["samples"]
    assert sorted(s["id"] for s in samples) == [f"s-{i:02d}" for i in range(1, 13)]
    scored = {s["id"] for s in samples if s["status"] == "scored"}
    assert set(finished) <= scored
    assert {s.get("reason_code") for s in samples if s["id"] not in scored} == {"not_run"}
    assert len(scored) < 12
    assert not list(runs.glob("*.partial.jsonl"))  # the record holds them now
    lines = stdout.splitlines()
    assert "llmbench verdict: not gated (interrupted); the bands say FAIL" in lines
    assert not any(
        line.startswith(("llmbench verdict: PASS", "llmbench verdict: FAIL")) for line in lines
    )
