"""Variants in whole runs, over this repo's dataset with a deterministic output function:
one item per (sample, variant) with ids showing both, the output function called as
`function(sample, variant)`, the paired differences in the record, gating by `gate:`, and
the record the same with no xdist and with two workers."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
from support.cli import Run
from support.project import Project
from support.promtool import promtool_check
from support.webhook import WebhookReceiver

from pytest_llmbench.results.problems import scenario_problems, sentence
from pytest_llmbench.results.record import deterministic_view
from pytest_llmbench.results.schema import ScenarioRecord

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


def judged_live(project: Project, extra: str = "") -> None:
    """The config as written, judged by a live judge at $TEST_LLM_URL (concurrency 4)."""
    config = (project.root / "benchmarks/llmbench.yaml").read_text("utf-8")
    project.config(
        "version: 1\njudges:\n  default:\n    kind: openai\n"
        "    base_url: ${TEST_LLM_URL}\n    model: test-model\n    concurrency: 4\n"
        + config.removeprefix("version: 1\n").replace(
            "    smoke: 5\n", f"    smoke: 5\n    judge: default\n{extra}"
        )
    )


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
    # The reference ran no item: "not selected", neither "no data" nor a FAIL of its bands.
    assert block["problems"] == [] and block["status"] == "pass"
    result.stdout.fnmatch_lines(
        [
            "  verdict                                      not selected              pass",
            "llmbench verdict: not gated (see the note above); the bands say PASS",
        ]
    )


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


def test_a_changed_parameter_makes_the_baseline_not_comparable_for_that_variant_only(
    bench: Project,
) -> None:
    configure(bench, {"short": 100, "long": 400})
    bench.run("-p", "no:xdist", "--llmbench-json=baseline.json")
    configure(bench, {"short": 100, "long": 300, "wide": 1000})
    result = bench.run("-p", "no:xdist", "--llmbench-baseline=baseline.json")
    comparison = scenario(bench)["comparison"]
    assert {n: (c["status"], c.get("reasons")) for n, c in comparison["variants"].items()} == {
        "short": ("ok", None),
        "long": ("not comparable", ["variant long: params changed (chars); not comparable"]),
        "wide": ("new", ["variant wide is not in the baseline"]),
    }
    # The comparison's own keys are the reference's: short against short.
    assert comparison["status"] == "ok"
    assert comparison["metrics"]["kept"]["compared"] == 48
    assert comparison["metrics"]["kept"]["diff"] == 0.0
    result.stdout.fnmatch_lines(
        [
            "    variant short: ok",
            "    variant long: not comparable (variant long: params changed (chars); not comparable)",
            "    variant wide: new (variant wide is not in the baseline)",
        ]
    )


def test_a_gated_variant_that_regressed_against_itself_fails_naming_the_variant(
    bench: Project,
) -> None:
    configure(bench, {"short": 100, "long": 400})
    bench.run("-p", "no:xdist", "--llmbench-json=baseline.json")
    # The app changed (its code is not in the fingerprint): long now keeps half as much.
    bench.write("app.py", APP.replace('variant.params["chars"]]', 'variant.params["chars"] // 2]'))
    bench.write(
        "benchmarks/test_digest.py",
        TEST.replace('variant.params["chars"]]', 'variant.params["chars"] // 2]'),
    )
    result = bench.run("-p", "no:xdist", "--llmbench-baseline=baseline.json")
    block = scenario(bench)
    variants = block["comparison"]["variants"]
    assert {n: (c["status"], c.get("regressed")) for n, c in variants.items()} == {
        "short": ("regression", ["kept"]),
        "long": ("regression", ["kept"]),
    }
    assert block["comparison"]["status"] == "regression" and result.ret == 1
    assert block["problems"][2:] == [
        "kept of channel_digest_ru (variant short) regressed (error): -0.166 vs baseline over "
        "48 samples, 95% CI -0.183 – -0.152, margin 0.02",
        "kept of channel_digest_ru (variant long) regressed (error): -0.340 vs baseline over "
        "48 samples, 95% CI -0.387 – -0.287, margin 0.02",
    ]


def test_only_a_gated_variants_problems_alert_and_read_back_as_the_run_stored_them(
    bench: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("LLMBENCH_WEBHOOK_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    # "tiny" fails its kept band but is not gated; "long", gated and not the reference
    # (which passes), is the one that regresses, into its fail band.
    extra = "    gate: [full, long]\n"
    configure(bench, {"full": 10000, "long": 200, "tiny": 30}, extra=extra)
    bench.run("-p", "no:xdist", "--llmbench-json=baseline.json")
    halved = 'variant.params["chars"] // (2 if variant.name == "long" else 1)]'
    bench.write("app.py", APP.replace('variant.params["chars"]]', halved))
    bench.write("benchmarks/test_digest.py", TEST.replace('variant.params["chars"]]', halved))
    with WebhookReceiver() as hook:
        result = bench.run(
            "-p", "no:xdist", "--llmbench-baseline=baseline.json", f"--llmbench-webhook={hook.url}"
        )
    assert result.ret == 1
    block = scenario(bench)
    stored = cast(ScenarioRecord, block)
    assert [sentence(p) for p in scenario_problems("channel_digest_ru", stored)] == block[
        "problems"
    ]
    (body,) = hook.json_bodies
    assert body["text"].splitlines() == [
        "llmbench: FAIL — channel_digest_ru",
        "• variant long: kept of channel_digest_ru is in its fail band: 0.332 "
        "(pass ≥ 0.9, warn ≥ 0.5)",
        "• kept of channel_digest_ru (variant long) regressed (error): -0.322 vs baseline "
        "over 48 samples, 95% CI -0.347 – -0.301, margin 0.02",
    ]


def test_export_writes_the_reference_variants_outputs_or_the_one_named(
    bench: Project, llmbench: Callable[..., Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(bench, {"short": 100, "long": 400})
    bench.run("-p", "no:xdist", "--llmbench-json=run.json")
    monkeypatch.chdir(bench.root)
    texts = outputs()
    for extra, variant, chars in (([], "short", 100), (["--variant", "long"], "long", 400)):
        code, out, err = llmbench("dataset", "export", "run.json", "-o", "next.jsonl", *extra)
        assert (code, err) == (0, "")
        assert out == (
            f"next.jsonl: 48 samples from scenario channel_digest_ru (variant {variant}) of "
            "run.json (48 with the run's outputs)\n"
        )
        exported = [json.loads(line) for line in Path("next.jsonl").read_text("utf-8").splitlines()]
        assert [line["id"] for line in exported] == ids()
        assert [line["output"] for line in exported] == [t[:chars] for t in texts]
    assert llmbench("dataset", "export", "run.json", "-o", "x.jsonl", "--variant", "wide") == (
        2,
        "",
        "llmbench: --variant wide: not a variant of scenario channel_digest_ru in run.json; "
        "its variants: short, long\n",
    )


COUNTING_APP = """\
import asyncio

CALLS = "calls.txt"


async def digest(sample, variant):
    with open(CALLS, "a", encoding="utf-8") as out:
        out.write(f"{sample.id} {variant.name}\\n")
    await asyncio.sleep(0)
    return sample.output[: variant.params["chars"]]


def kept(sample, output):
    return len(output) / len(sample.output)
"""


def test_the_output_cache_keys_on_each_variants_fingerprint(bench: Project) -> None:
    bench.write("app.py", COUNTING_APP)
    calls = bench.root / "calls.txt"
    configure(bench, {"short": 100, "long": 400}, extra="    output_cache: true\n")
    bench.run("-p", "no:xdist").assert_outcomes(passed=96)
    assert len(calls.read_text("utf-8").splitlines()) == 96  # async, called with the variant
    calls.unlink()
    bench.run("-p", "no:xdist").assert_outcomes(passed=96)
    assert not calls.exists()  # warm: every (sample, variant) from the cache
    assert scenario(bench)["outputs"] == {"produced": 0, "cached": 96}
    configure(bench, {"short": 100, "long": 300}, extra="    output_cache: true\n")
    bench.run("-p", "no:xdist").assert_outcomes(passed=96)
    made = calls.read_text("utf-8").splitlines()
    assert sorted(made) == sorted(f"{i} long" for i in ids())  # only the changed variant


def test_without_variants_the_variant_fixture_is_none(bench: Project) -> None:
    bench.config(
        CONFIG.format(dataset=DATASET, extra="", variants="")
        .replace("    variants:\n", "")
        .replace("output: app:digest", "output: output")
    )
    bench.write(
        "benchmarks/test_digest.py",
        "import pytest\n\n\n"
        '@pytest.mark.llmbench("channel_digest_ru")\n'
        "def test_digest(sample, variant, output, judge):\n"
        "    assert variant is None\n"
        "    judge(output)\n",
    )
    result = bench.run("-p", "no:xdist", "-m", "smoke")
    result.assert_outcomes(passed=5, deselected=43)
    assert "variants" not in scenario(bench)


def test_the_smoke_set_is_its_samples_in_every_variant_and_is_gated(bench: Project) -> None:
    configure(bench, {"short": 10000, "long": 10000})
    result = bench.run("-p", "no:xdist", "-m", "smoke")
    result.assert_outcomes(passed=10, deselected=86)
    block = scenario(bench)
    assert block["selection"] == {"kind": "smoke", "selected": 10, "of": 96}
    assert bench.records()[-1]["gated"] is True


def test_a_live_judge_judges_each_sample_and_variant_once_ahead_of_its_item(
    bench: Project, monkeypatch: pytest.MonkeyPatch, xdist_args: list[str]
) -> None:
    from support.judge_server import JudgeServer

    with JudgeServer() as server:
        monkeypatch.setenv("TEST_LLM_URL", server.url)
        configure(bench, {"short": 100, "long": 400})
        judged_live(bench)
        result = bench.run(*xdist_args, "--llmbench-no-cache")
        result.assert_outcomes(passed=96)
        assert len(server.requests) == 96  # one call per (sample, variant), none twice
    block = scenario(bench)
    assert block["usage"]["judge_calls"] == 96
    assert {n: v["usage"]["judge_calls"] for n, v in block["variants"]["variants"].items()} == {
        "short": 48,
        "long": 48,
    }


def test_repeats_judge_each_sample_and_variant_that_many_times(
    bench: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from support.judge_server import JudgeServer

    with JudgeServer() as server:
        monkeypatch.setenv("TEST_LLM_URL", server.url)
        configure(bench, {"short": 100, "long": 400})
        judged_live(bench, "    repeats: 2\n")
        bench.run("-p", "no:xdist", "--llmbench-no-cache").assert_outcomes(passed=96)
        assert len(server.requests) == 192
    samples = scenario(bench)["samples"]
    assert {len(s["repeats"]) for s in samples} == {2}
    assert sorted({(s["id"], s["variant"]) for s in samples}) == sorted(
        (i, v) for i in ids() for v in ("short", "long")
    )


def test_the_textfile_of_a_variants_run_has_each_variants_series_and_passes_promtool(
    bench: Project, promtool: str
) -> None:
    configure(bench, {"short": 100, "long": 400}, extra="    reference: long\n")
    result = bench.run("--llmbench-prom-file=m.prom")
    assert result.ret == 1  # short keeps a third of each digest: its `kept` fails
    path = bench.root / "m.prom"
    assert promtool_check(promtool, path) == (0, "")
    lines = path.read_text(encoding="utf-8").splitlines()
    series = 'scenario="channel_digest_ru",status="{}",variant="{}"'
    assert [line for line in lines if line.startswith("benchmark_variant_verdict{")] == [
        f"benchmark_variant_verdict{{{series.format('pass', 'long')}}} 1.0",
        f"benchmark_variant_verdict{{{series.format('warn', 'long')}}} 0.0",
        f"benchmark_variant_verdict{{{series.format('fail', 'long')}}} 0.0",
        f"benchmark_variant_verdict{{{series.format('pass', 'short')}}} 0.0",
        f"benchmark_variant_verdict{{{series.format('warn', 'short')}}} 0.0",
        f"benchmark_variant_verdict{{{series.format('fail', 'short')}}} 1.0",
    ]
    variants = scenario(bench)["variants"]["variants"]
    kept = {v: variants[v]["metrics"]["kept"]["value"] for v in ("long", "short")}
    head = 'benchmark_variant_metric_value{metric="kept",scenario="channel_digest_ru",variant='
    assert [line for line in lines if line.startswith(head)] == [
        f'{head}"long"}} {kept["long"]!r}',
        f'{head}"short"}} {kept["short"]!r}',
    ]
    # The unlabelled series stay the reference's (long), as before variants.
    unlabelled = 'benchmark_metric_value{metric="kept",scenario="channel_digest_ru"}'
    assert f"{unlabelled} {kept['long']!r}" in lines
