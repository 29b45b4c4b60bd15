"""data/eval/configs/examples/: every example benchmark runs as its README says, so none
goes stale. Each is copied into a pytester folder (its own rootdir) and run in process;
the live ones against a JudgeServer on 127.0.0.1."""

from __future__ import annotations

import json
import math
import shutil
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from support.judge_server import JudgeServer, user_text
from support.project import Project

from pytest_llmbench.cli import main as cli
from pytest_llmbench.results import record as record_mod

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "data" / "eval" / "configs" / "examples"
RUN_BY_A_TEST = {
    "offline-dry-run",
    "live-judge",
    "output-function",
    "variants",
    "repeats",
    "custom-metric",
    "reference-metrics",
    "sharded-nightly",
}
CORRECTNESS = [0.95, 0.9, 0.85, 0.6, 0.95, 0.9]  # the dataset's ground truth, in file order
HELPFULNESS = [0.9, 0.95, 0.8, 0.4, 0.9, 0.85]


def example(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, name: str) -> Project:
    monkeypatch.delenv("LLM_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    shutil.copytree(EXAMPLES / name, pytester.path, dirs_exist_ok=True)
    return Project(pytester)


def scenario(project: Project) -> dict[str, Any]:
    record = project.records()[0]
    assert record["status"] == "pass"
    return dict(record["scenarios"]["faq"])


def passing_run(project: Project, *args: str, passed: int = 6) -> dict[str, Any]:
    """Run the example (pytest *args in its folder): it passes; its record's scenario."""
    result = project.run(*args)
    assert result.ret == 0
    result.assert_outcomes(passed=passed)
    return scenario(project)


def values(block: dict[str, Any]) -> dict[str, float]:
    return {name: m["value"] for name, m in block["metrics"].items()}


def mean(xs: list[float]) -> float:
    return math.fsum(xs) / len(xs)


def dataset(name: str) -> list[dict[str, Any]]:
    lines = (EXAMPLES / name / "faq.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_every_example_is_run_by_a_test_and_listed_in_the_readme() -> None:
    folders = {p.name for p in EXAMPLES.iterdir() if p.is_dir()}
    assert folders == RUN_BY_A_TEST
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    for name in folders:
        assert f"[`{name}/`]({name}/)" in readme
        assert (EXAMPLES / name / "llmbench.yaml").is_file()
        assert (EXAMPLES / name / "pytest.ini").is_file()


def test_offline_dry_run_scores_the_stored_ground_truth(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    block = passing_run(example(pytester, monkeypatch, "offline-dry-run"))
    assert block["fingerprints"]["judge"]["mode"] == "dry-run"
    assert values(block) == {"correctness": mean(CORRECTNESS), "helpfulness": mean(HELPFULNESS)}
    smoke = Project(pytester).run("-m", "smoke")
    smoke.assert_outcomes(passed=2, deselected=4)


def test_a_promoted_baseline_folder_is_what_later_runs_are_compared_with(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # docs/guides/baselines.md, step by step
    project = example(pytester, monkeypatch, "offline-dry-run")
    assert project.run("--llmbench-json=run.json").ret == 0
    capsys.readouterr()
    assert cli.main(["baseline", "promote", str(project.root / "run.json")]) == 0
    assert capsys.readouterr().out.startswith("promoted faq (pass) of run ")
    folder = project.root / "data" / "eval" / "baselines"
    assert [p.name for p in folder.iterdir()] == ["faq.json"]
    result = project.run("--llmbench-baseline=data/eval/baselines", "--llmbench-json=next.json")
    assert result.ret == 0
    compared = record_mod.load(project.root / "next.json")["scenarios"]["faq"]["comparison"]
    assert compared["status"] == "ok"
    assert {m: c["diff"] for m, c in compared["metrics"].items()} == {
        "correctness": 0.0,
        "helpfulness": 0.0,
    }


def test_live_judge_asks_the_judge_once_per_sample(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = example(pytester, monkeypatch, "live-judge")
    with JudgeServer(default_score=0.9) as server:
        monkeypatch.setenv("LLM_URL", server.url)
        block = passing_run(project, "--llmbench-judge=live")
        assert len(server.requests) == 6
    assert block["fingerprints"]["judge"]["mode"] == "live"
    assert values(block) == {"correctness": 0.9, "helpfulness": 0.9}
    assert block["usage"]["judge_calls"] == 6 and block["usage"]["cost_usd"] is not None


def test_the_output_function_produces_what_is_judged_once(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = example(pytester, monkeypatch, "output-function")
    assert passing_run(project)["outputs"] == {"produced": 6, "cached": 0}
    again = project.run()
    assert again.ret == 0
    second = project.records()[-1]["scenarios"]["faq"]
    assert second["outputs"] == {"produced": 0, "cached": 6}


def test_variants_run_each_sample_per_variant_and_compare_them(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = example(pytester, monkeypatch, "variants")
    result = project.run("--collect-only", "-q")
    assert result.outlines[:2] == [
        "test_faq.py::test_faq_variant[faq-01-full]",
        "test_faq.py::test_faq_variant[faq-01-short]",
    ]
    block = passing_run(project, passed=12)["variants"]
    assert (block["order"], block["reference"], block["gate"]) == (
        ["full", "short"],
        "full",
        ["full"],
    )
    # concise = min(1, 10 / words): by hand from support_bot.answer's two forms
    rows = dataset("variants")
    words = {
        "full": [len(r["output"].replace(";", ".").split()) for r in rows],
        "short": [len((r["output"].replace(";", ".").split(".")[0] + ".").split()) for r in rows],
    }
    for variant, counts in words.items():
        concise = block["variants"][variant]["metrics"]["concise"]["value"]
        assert concise == pytest.approx(mean([min(1.0, 10 / n) for n in counts]), abs=1e-12)
    statuses = {d["metric"]: d["status"] for d in block["differences"]}
    assert statuses == dict.fromkeys(
        ["correctness", "helpfulness", "concise"], "no detectable difference"
    )
    (path,) = (project.root / ".llmbench" / "runs").glob("*.json")
    capsys.readouterr()
    assert cli.main(["compare", str(path), "--variants", "full,short"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[:2] == [
        "faq: short against full",
        "  metric        full  short    diff  95% CI of diff  paired  status",
    ]


class Wavering:
    """A judge whose k-th answer for a question is its ground truth + (-0.05, 0, +0.05)[k % 3]
    on correctness, and always its ground truth on helpfulness."""

    def __init__(self) -> None:
        self.rows = dataset("repeats")
        self.asked: Counter[int] = Counter()
        self.lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> dict[str, float]:
        text = user_text(body)
        (index,) = [i for i, r in enumerate(self.rows) if r["input"] in text]
        with self.lock:
            k = self.asked[index]
            self.asked[index] += 1
        truth = self.rows[index]["ground_truth"]
        spread = (-0.05, 0.0, 0.05)[k % 3]
        return {
            "correctness": round(truth["correctness"] + spread, 2),
            "helpfulness": truth["helpfulness"],
        }


def test_repeats_judge_each_sample_three_times_and_measure_the_noise(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = example(pytester, monkeypatch, "repeats")
    judge = Wavering()
    with JudgeServer(scorer=judge) as server:
        monkeypatch.setenv("LLM_URL", server.url)
        block = passing_run(project, "--llmbench-judge=live")
        assert len(server.requests) == 18
    assert [len(s["repeats"]) for s in block["samples"]] == [3] * 6
    assert block["metrics"]["correctness"]["noise_sd"] == pytest.approx(0.05, abs=1e-9)
    assert block["metrics"]["helpfulness"]["noise_sd"] == pytest.approx(0.0, abs=1e-12)
    assert values(block)["correctness"] == pytest.approx(mean(CORRECTNESS), abs=1e-9)


def test_custom_metrics_are_the_functions_values(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    block = passing_run(example(pytester, monkeypatch, "custom-metric"))
    rows = dataset("custom-metric")
    assert values(block)["words"] == mean([float(len(r["output"].split())) for r in rows])
    assert values(block)["answers_the_question"] == mean([1, 1, 1, 0, 1, 1])  # faq-04 misses


def test_reference_metrics_score_against_the_reference_without_a_judge(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    block = passing_run(example(pytester, monkeypatch, "reference-metrics"))
    assert sorted(block["metrics"]) == ["bleu", "chrf", "corpus_bleu", "rouge_1", "rouge_l"]
    assert block["usage"]["judge_calls"] == 0
    assert block["metrics"]["corpus_bleu"]["ci_method"] == "corpus bootstrap"
    assert block["metrics"]["bleu"]["signature"].startswith("nrefs:1|")


@pytest.mark.parametrize("name", ["sharded-nightly", "variants"])
def test_shards_merge_into_the_unsharded_record_byte_for_byte(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
) -> None:
    project = example(pytester, monkeypatch, name)
    shards = []
    for k in (1, 2, 3):
        shard = project.run(f"--llmbench-shard={k}/3", f"--llmbench-json=shard-{k}.json")
        assert shard.ret == 0
        shards.append(str(project.root / f"shard-{k}.json"))
    whole = project.run("--llmbench-json=whole.json")
    assert whole.ret == 0
    merged = project.root / "nightly.json"
    capsys.readouterr()
    assert cli.main(["merge", *shards, "-o", str(merged)]) == 0
    assert record_mod.dumps(record_mod.deterministic_view(record_mod.load(merged))) == (
        record_mod.dumps(
            record_mod.deterministic_view(record_mod.load(project.root / "whole.json"))
        )
    )
    assert cli.main(["report", str(merged)]) == 0
