"""A read-only or broken `.llmbench/` never ends a run in an INTERNALERROR: the run goes
on, a warm cache is still read, and each file that could not be written is one line naming
its path and the OS error, after a verdict whose exit status is the bands'."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.judge_server import JudgeServer
from support.project import Project, config_yaml, live_judge_yaml, make_samples
from support.unwritable import full_disk, read_only

METRICS = ("coverage", "accuracy")
PRICED_JUDGE = live_judge_yaml() + "    price: {input_per_mtok: 1, output_per_mtok: 1}\n"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[JudgeServer]:
    with JudgeServer(metrics=METRICS, default_score=0.9) as srv:
        monkeypatch.setenv("TEST_LLM_URL", srv.url)
        yield srv


def test_a_dot_llmbench_that_is_no_directory_is_named_line_by_line_and_the_run_goes_on(
    project: Project, server: JudgeServer, xdist_args: list[str]
) -> None:
    # `.llmbench` a plain file: every path under it fails with ENOTDIR for root as for
    # anyone (file modes would not stop root). The cache, the budget ledger, the journal,
    # both records and the report all live there.
    project.config(config_yaml(coverage=(0.99, 0.95), judge_block=PRICED_JUDGE))
    (project.root / ".llmbench").write_text("not a directory\n", encoding="utf-8")
    result = project.run(
        *xdist_args,
        "--llmbench-budget=1",
        "--llmbench-json=.llmbench/record.json",
        "--llmbench-report=.llmbench/report.md",
    )
    assert result.ret == 1  # the verdict's (a fail band), not 3
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output
    assert "Traceback" not in output
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "  cache .llmbench/cache not used: Not a directory, budget $1",
            "*= llmbench =*",
            "digest: FAIL  (4 samples: 4 scored, 0 unscored, 0 errors · judge live *",
            "  coverage of digest is in its fail band: 0.900 (pass ≥ 0.99, warn ≥ 0.95)",
            "llmbench verdict: FAIL",
            "llmbench: budget ledger .llmbench/runs/*.spend.sqlite3 not writable (Not a "
            "directory: .llmbench/runs): kept in */llmbench-*.spend.sqlite3",
            "llmbench: reply cache .llmbench/cache not used: Not a directory",
            "llmbench: journal .llmbench/runs/*.partial.jsonl not kept: Not a directory: "
            ".llmbench/runs (a killed run would leave no samples)",
            "llmbench: run record not written to .llmbench/runs/*.json: Not a directory: "
            ".llmbench/runs",
            "llmbench: run record not written to .llmbench/record.json: File exists: .llmbench",
            "llmbench: report not written to .llmbench/report.md: File exists: .llmbench",
        ]
    )
    assert len(server.requests) == 4  # no cache: every sample asked once
    (note,) = [line for line in result.stdout.lines if line.startswith("llmbench: budget")]
    fallback = Path(note.rpartition(" kept in ")[2])
    assert fallback.parent == Path(tempfile.gettempdir())
    assert not list(fallback.parent.glob(f"{fallback.name}*"))  # removed, like the usual one


@pytest.mark.parametrize("xdist", [["-p", "no:xdist"], ["-n", "2"]], ids=["no-xdist", "n2"])
def test_a_warm_cache_in_a_read_only_place_is_read_and_not_written(
    project: Project, server: JudgeServer, xdist: list[str]
) -> None:
    project.config(config_yaml(judge_block=live_judge_yaml()))
    assert project.run().ret == 0  # warm: four replies stored
    assert len(server.requests) == 4
    cache = project.root / ".llmbench" / "cache"
    stored = cache / "judge-replies.sqlite3"
    digest = hashlib.sha256(stored.read_bytes()).hexdigest()
    project.dataset(make_samples([(0.9, 0.9), (0.85, 0.95), (0.95, 0.85), (0.9, 0.9)] * 2)[:5])

    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *xdist]
    with read_only(cache) as wrap:
        done = subprocess.run(
            wrap(command),
            cwd=project.root,
            env=os.environ,  # $TEST_LLM_URL from the fixture
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "INTERNALERROR" not in done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert (
        "  cache .llmbench/cache (4 replies stored, read-only: new replies are not kept)" in lines
    )
    assert next(line for line in lines if "judge calls" in line).startswith(
        "  judge calls 1 · cached 4 · retries 0 ·"
    )
    verdict = lines.index("llmbench verdict: PASS")
    assert lines[verdict + 1] == (
        "llmbench: reply cache .llmbench/cache/judge-replies.sqlite3 is read-only: "
        "replies are read from it, new ones not kept"
    )
    assert len(server.requests) == 5  # only the new sample was asked
    [record] = [r for r in project.records() if len(r["scenarios"]["digest"]["samples"]) == 5]
    samples = record["scenarios"]["digest"]["samples"]
    assert [(s["id"], s["status"]) for s in samples] == [(f"s-0{i}", "scored") for i in range(1, 6)]
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == digest  # nothing written
    with contextlib.closing(sqlite3.connect(stored)) as db:
        assert db.execute("SELECT COUNT(*) FROM replies").fetchone() == (4,)


@pytest.mark.parametrize("xdist", [["-p", "no:xdist"], ["-n", "2"]], ids=["no-xdist", "n2"])
def test_a_full_disk_under_dot_llmbench_is_named_and_the_record_still_goes_elsewhere(
    project: Project, server: JudgeServer, xdist: list[str]
) -> None:
    # .llmbench/ on a full tmpfs: files open, but the first write fails with ENOSPC (the
    # journal's first line, SQLite's first page, the record half way).
    project.config(config_yaml(judge_block=PRICED_JUDGE))
    command = [
        *[sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *xdist],
        *["--llmbench-budget=1", "--llmbench-json=record.json"],
    ]
    done = subprocess.run(
        full_disk(project.root / ".llmbench")(command),
        cwd=project.root,
        env=os.environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "INTERNALERROR" not in done.stdout + done.stderr
    lines = done.stdout.splitlines()
    verdict = lines.index("llmbench verdict: PASS")
    notes = [re.sub(r"\d{8}T\d{6}Z-[0-9a-f]{6}", "<run>", line) for line in lines[verdict + 1 :]]
    assert notes[:-1] == [
        "llmbench: budget ledger .llmbench/runs/<run>.spend.sqlite3 not writable (database "
        f"or disk is full): kept in {tempfile.gettempdir()}/llmbench-<run>.spend.sqlite3",
        "llmbench: reply cache .llmbench/cache not used: database or disk is full",
        "llmbench: journal .llmbench/runs/<run>.partial.jsonl not kept: No space left on "
        "device (a killed run would leave no samples)",
        "llmbench: scenario 'digest': judged one call at a time per process (a budget is set "
        "and no output:): 4 calls, each waiting for its reply; declare output: (or remove the "
        "reason) to judge ahead",
        "llmbench: run record not written to .llmbench/runs/<run>.json: No space left on device",
    ]
    assert len(server.requests) == 4
    record = json.loads((project.root / "record.json").read_text(encoding="utf-8"))
    samples = record["scenarios"]["digest"]["samples"]
    assert [(s["id"], s["status"]) for s in samples] == [(f"s-0{i}", "scored") for i in range(1, 5)]
