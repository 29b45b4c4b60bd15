"""This repository's own dataset, scrubbed with `llmbench dataset scrub`, still runs: the
dry run of the repo's benchmark on the scrubbed copy (its manifest beside it) gives the
golden record's samples, scores and verdict."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pytest_llmbench.cli.main import main

pytest.importorskip("natasha", reason="the pii extra (natasha) is not installed")

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden" / "repo_benchmark_record.json"
DATASET = "data/benchmarks/benchmark_digest_ru_v1/2025-11-09_samples.jsonl"
SCRUBBED = "data/benchmarks/benchmark_digest_ru_v1/2025-11-09_samples.scrubbed.jsonl"


def test_the_repo_benchmark_runs_on_its_scrubbed_dataset_with_the_same_scores(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LLM_URL", raising=False)
    for part in ("benchmarks", "prompts", "data/benchmarks"):
        shutil.copytree(
            REPO / part,
            pytester.path / part,
            ignore=shutil.ignore_patterns("*.py[co]", "__pycache__"),
        )
    root = pytester.path
    assert main(["dataset", "scrub", str(root / DATASET), "-o", str(root / SCRUBBED)]) == 0
    config = root / "benchmarks" / "llmbench.yaml"
    config.write_text(config.read_text("utf-8").replace(DATASET, SCRUBBED), "utf-8")
    assert main(["dataset", "check-pii", str(root / SCRUBBED)]) == 0

    record = root / "record.json"
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--llmbench-judge=dry-run", f"--llmbench-json={record}"
    )
    assert result.ret == 0, result.stdout.str()
    ran = json.loads(record.read_text("utf-8"))["scenarios"]["channel_digest_ru"]
    golden = json.loads(GOLDEN.read_text("utf-8"))["scenarios"]["channel_digest_ru"]

    def outcome(scenario: dict[str, object]) -> object:
        samples = scenario["samples"]
        assert isinstance(samples, list)
        return (
            scenario["status"],
            scenario["metrics"],
            [(s["id"], s["status"], s["scores"]) for s in samples],
        )

    assert outcome(ran) == outcome(golden)
    scrubbed = (root / SCRUBBED).read_text("utf-8")
    assert "<PERSON_" in scrubbed and "<HANDLE_" in scrubbed
