"""This repository's own benchmark, dry run: its record is a fixed file, whatever the xdist
mode, so that a change to how the plugin renders, hashes, journals or aggregates cannot
change a record unnoticed (the run block, which differs from run to run, aside)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pytest_llmbench.results.record import deterministic_view

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden" / "repo_benchmark_record.json"


def repo_benchmark_record(pytester: pytest.Pytester, *args: str) -> str:
    """The deterministic view of the record of a dry run of this repo's benchmark, as the
    golden file holds it (sorted keys, two-space indent)."""
    for part in ("benchmarks", "prompts", "data/benchmarks"):
        shutil.copytree(
            REPO / part,
            pytester.path / part,
            ignore=shutil.ignore_patterns("*.py[co]", "__pycache__"),
        )
    record = pytester.path / "record.json"
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--llmbench-judge=dry-run", f"--llmbench-json={record}", *args
    )
    assert result.ret == 0, result.stdout.str()
    view = deterministic_view(json.loads(record.read_text(encoding="utf-8")))
    return json.dumps(view, ensure_ascii=False, sort_keys=True, indent=2) + "\n"


def test_the_repo_benchmark_record_is_the_golden_one_in_every_xdist_mode(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, xdist_args: list[str]
) -> None:
    monkeypatch.delenv("LLM_URL", raising=False)
    assert repo_benchmark_record(pytester, *xdist_args) == GOLDEN.read_text(encoding="utf-8")
