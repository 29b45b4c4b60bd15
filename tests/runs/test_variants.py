"""Variants in whole runs, over this repo's dataset with a deterministic output function:
one item per (sample, variant) with ids showing both, the output function called as
`function(sample, variant)`, the paired differences in the record, gating by `gate:`, and
the record the same with no xdist and with two workers."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest
from support.project import Project

from pytest_llmbench.results.record import deterministic_view

REPO = Path(__file__).resolve().parents[2]
DATASET = "data/benchmarks/benchmark_digest_ru_v1/2025-11-09_samples.jsonl"
PROMPT = "prompts/channel_digest_judge/benchmark-2025-11-v1.yaml"

APP = """\
def digest(sample, variant):
    return sample.output[: variant.params["chars"]]


def kept(sample, output):
    return len(output) / len(sample.output)
"""

TEST = """\
import pytest


@pytest.mark.llmbench("channel_digest_ru")
def test_digest(sample, variant, output, judge):
    assert output == sample.output[: variant.params["chars"]]
    judge(output)
"""

CONFIG = """\
version: 1
scenarios:
  channel_digest_ru:
    dataset: {dataset}
    prompt: channel_digest_judge@benchmark-2025-11-v1
    smoke: 5
    output: app:digest
{extra}    variants:
{variants}    metrics:
      coverage: {{pass: 0.88, warn: 0.80}}
      kept: {{pass: 0.9, warn: 0.5, source: app:kept}}
"""


def variants_yaml(chars: dict[str, int]) -> str:
    return "".join(f"      {name}: {{chars: {n}}}\n" for name, n in chars.items())


@pytest.fixture
def bench(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.delenv("LLM_URL", raising=False)
    project = Project(pytester)
    for relative in (DATASET, PROMPT):
        (project.root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / relative, project.root / relative)
    project.write("app.py", APP)
    project.write("benchmarks/test_digest.py", TEST)
    project.write("pytest.ini", "[pytest]\npythonpath = .\n")  # the workers' path too
    return project


def configure(project: Project, chars: dict[str, int], extra: str = "") -> None:
    project.config(CONFIG.format(dataset=DATASET, extra=extra, variants=variants_yaml(chars)))


def outputs() -> list[str]:
    with (REPO / DATASET).open(encoding="utf-8") as lines:
        return [json.loads(line)["output"] for line in lines]


def ids() -> list[str]:
    with (REPO / DATASET).open(encoding="utf-8") as lines:
        return [json.loads(line)["id"] for line in lines]


def scenario(project: Project) -> dict[str, Any]:
    block: dict[str, Any] = project.records()[-1]["scenarios"]["channel_digest_ru"]
    return block


def test_each_sample_and_variant_is_one_item_whose_id_shows_both(bench: Project) -> None:
    configure(bench, {"short": 100, "long": 400})
    result = bench.run("--collect-only", "-q")
    expected = [
        f"benchmarks/test_digest.py::test_digest[{i}-{v}]" for i in ids() for v in ("short", "long")
    ]
    assert [line for line in result.outlines if "::" in line] == expected


def test_a_node_id_runs_one_pair(bench: Project) -> None:
    configure(bench, {"short": 100, "long": 400})
    result = bench.run("benchmarks/test_digest.py::test_digest[tg-0002-long]")
    result.assert_outcomes(passed=1)
    block = scenario(bench)
    assert [(s["id"], s["variant"], s["item_id"]) for s in block["samples"]] == [
        ("tg-0002", "long", "tg-0002-long")
    ]
    assert block["selection"] == {"kind": "subset", "selected": 1, "of": 96}


def test_two_variants_differ_by_the_hand_computed_paired_mean(
    bench: Project, xdist_args: list[str]
) -> None:
    configure(bench, {"short": 100, "long": 400})
    result = bench.run(*xdist_args)
    result.assert_outcomes(passed=96)
    block = scenario(bench)
    variants = block["variants"]
    assert (variants["order"], variants["reference"], variants["gate"]) == (
        ["short", "long"],
        "short",
        ["short", "long"],
    )
    texts = outputs()
    short = [min(100, len(t)) / len(t) for t in texts]
    long = [min(400, len(t)) / len(t) for t in texts]
    kept = next(d for d in variants["differences"] if d["metric"] == "kept")
    assert kept["variant"], kept["against"] == ("long", "short")
    assert kept["n"] == 48
    assert kept["mean_diff"] == pytest.approx(
        math.fsum(b - a for a, b in zip(short, long, strict=True)) / 48, abs=1e-12
    )
    assert kept["ci95"][0] > 0 and kept["status"] == "better"
    # The judge (dry run: the stored scores) gives both the same: no winner.
    coverage = next(d for d in variants["differences"] if d["metric"] == "coverage")
    assert (coverage["mean_diff"], coverage["status"]) == (0.0, "no detectable difference")
    # The scenario's metrics are the reference's, each variant's its own.
    assert block["metrics"]["kept"]["value"] == pytest.approx(math.fsum(short) / 48)
    assert variants["variants"]["long"]["metrics"]["kept"]["value"] == pytest.approx(
        math.fsum(long) / 48
    )
    assert {n: v["samples"] for n, v in variants["variants"].items()} == {"short": 48, "long": 48}
    assert len(block["samples"]) == 96


def test_three_variants_each_compared_with_the_named_reference(bench: Project) -> None:
    configure(bench, {"a": 100, "b": 200, "c": 200}, extra="    reference: b\n")
    bench.run("-p", "no:xdist").assert_outcomes(passed=144)
    variants = scenario(bench)["variants"]
    found = {(d["variant"], d["metric"]): d["status"] for d in variants["differences"]}
    assert found == {
        ("a", "coverage"): "no detectable difference",
        ("a", "kept"): "worse",
        ("c", "coverage"): "no detectable difference",
        ("c", "kept"): "no detectable difference",  # the same outputs: never a winner
    }
    same = next(d for d in variants["differences"] if d["variant"] == "c" and d["metric"] == "kept")
    assert (same["mean_diff"], same["ci95"]) == (0.0, [0.0, 0.0])


def test_the_gate_variants_bands_decide_the_verdict(bench: Project) -> None:
    # "tiny" keeps a tenth of each digest: its kept band fails; "full" keeps all of it.
    configure(bench, {"tiny": 30, "full": 10000}, extra="    gate: full\n")
    result = bench.run("-p", "no:xdist")
    block = scenario(bench)
    assert {n: (v["status"], v["gated"]) for n, v in block["variants"]["variants"].items()} == {
        "tiny": ("fail", False),
        "full": ("pass", True),
    }
    assert block["status"] == "pass" and result.ret == 0
    configure(bench, {"tiny": 30, "full": 10000})
    result = bench.run("-p", "no:xdist")
    assert scenario(bench)["status"] == "fail" and result.ret == 1


def test_the_record_is_the_same_with_no_xdist_and_with_two_workers(bench: Project) -> None:
    configure(bench, {"short": 100, "long": 400})
    bench.run("-p", "no:xdist")
    bench.run("-n", "2")
    first, second = bench.records()
    assert json.dumps(deterministic_view(first), sort_keys=True) == json.dumps(  # type: ignore[arg-type]
        deterministic_view(second),  # type: ignore[arg-type]
        sort_keys=True,
    )
    assert set(first["run"]["output_latency_s"]["channel_digest_ru"]) == {"short", "long"}
