"""Extending without forking, in whole runs: metrics and a judge from a package that
registers them through entry points (a `.dist-info` on the path, no pip), sync and async
metric functions, a dict feeding two metrics, a raise or NaN leaving the sample unscored
with the metric named; the same record with no xdist, -n 0 and -n 2; import and protocol
errors as one-line collection errors naming the YAML line; the README's example run."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from support.extensions import write_distribution
from support.project import Project, make_samples

from pytest_llmbench.results.record import deterministic_view

REPO = Path(__file__).parents[2]
EXAMPLE = REPO / "docs" / "examples" / "extending"

PACKAGE = """\
import asyncio

from pytest_llmbench import JudgeResult


def lengths(sample, output):
    return {"words": len(output.split()), "chars": len(output)}


async def position(sample, output):
    await asyncio.sleep(0)
    return sample.position


def flaky(sample, output):
    if sample.id == "s-02":
        raise RuntimeError("flaky on s-02")
    return float("nan") if sample.id == "s-03" else 1


class Fixed:
    def __init__(self, config):
        self.value = config.options["value"]

    async def score(self, request):
        return JudgeResult("scored", {m: self.value for m in request.metrics})

    async def aclose(self):
        pass


class NotAJudge:
    def __init__(self, config):
        pass
"""

CONFIG = """\
version: 1
judges:
  default:
    kind: fixed
    options: {{value: 0.75}}
scenarios:
  digest:
    dataset: data/digest.jsonl
    prompt: digest_judge@v1
    metrics:
      coverage: {{pass: 0.5, warn: 0.4}}
      accuracy: {{pass: 0.5, warn: 0.4}}
      words: {{pass: 1, warn: 0, source: lengths}}
      size: {{pass: 1, warn: 0, source: lengths, key: chars}}
      position: {{pass: 0, warn: 0, source: "ext_pkg:position"}}
{extra}"""


@pytest.fixture
def package(project: Project) -> Project:
    write_distribution(
        project.root,
        "ext_pkg",
        PACKAGE,
        metrics={"lengths": "ext_pkg:lengths", "flaky": "ext_pkg:flaky"},
        judges={"fixed": "ext_pkg:Fixed"},
    )
    project.write("pytest.ini", "[pytest]\npythonpath = .\n")  # the workers' path too
    project.config(CONFIG.format(extra=""))
    return project


def scenario(project: Project) -> dict[str, Any]:
    return dict(project.records()[-1]["scenarios"]["digest"])


def test_metrics_and_a_judge_from_entry_points_score_every_sample(
    package: Project, xdist_args: list[str]
) -> None:
    result = package.run(*xdist_args)
    assert result.ret == 0, result.stdout.str()
    samples = scenario(package)["samples"]
    outputs = [s["output"] for s in make_samples([(0.9, 0.9)] * 4)]
    assert [s["scores"] for s in samples] == [
        {
            "accuracy": 0.75,
            "coverage": 0.75,
            "position": float(i),
            "size": float(len(text)),
            "words": float(len(text.split())),
        }
        for i, text in enumerate(outputs)
    ]
    assert {s["status"] for s in samples} == {"scored"}
    assert "judge default: live (kind fixed)" in result.stdout.str()


def test_a_raise_or_nan_leaves_the_sample_unscored_naming_the_metric(
    package: Project, xdist_args: list[str]
) -> None:
    package.config(
        CONFIG.format(extra="      flaky: {pass: 1, warn: 0, source: flaky}\n")
        + "    unscored: {warn: 0, fail: 3}\n"
    )
    result = package.run(*xdist_args)
    result.assert_outcomes(passed=2, failed=2, warnings=1)
    samples = {s["id"]: s for s in scenario(package)["samples"]}
    assert {
        k: (s["status"], s.get("reason"), s.get("reason_code")) for k, s in samples.items()
    } == {
        "s-01": ("scored", None, None),
        "s-02": (
            "unscored",
            "metric flaky: flaky: raised RuntimeError: flaky on s-02",
            "metric",
        ),
        "s-03": (
            "unscored",
            "metric flaky: flaky: returned nan, not a finite number",
            "metric",
        ),
        "s-04": ("scored", None, None),
    }
    # The metrics that were scored are kept: the judge's and the other functions'.
    assert sorted(samples["s-02"]["scores"]) == [
        "accuracy",
        "coverage",
        "position",
        "size",
        "words",
    ]
    result.stdout.fnmatch_lines(
        ["*sample 's-02' unscored: metric flaky: flaky: raised RuntimeError: flaky on s-02"]
    )


def test_the_record_is_the_same_with_no_xdist_and_with_two_workers(package: Project) -> None:
    package.run("-p", "no:xdist", "--llmbench-no-cache")  # a warm second run says "cached"
    package.run("-n", "2", "--llmbench-no-cache")
    first, second = package.records()
    assert deterministic_view(first) == deterministic_view(second)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("metric", "judge", "expected"),
    [
        (
            'source: "ext_pkg:absent"',
            "fixed",
            r"benchmarks/llmbench.yaml:16: scenarios.digest.metrics.extra.source: "
            r"'ext_pkg:absent' cannot be loaded \(AttributeError: module 'ext_pkg' has no "
            r"attribute 'absent'\); give an importable module:function, or install the "
            r"package that registers it",
        ),
        (
            "source: flaky",
            "ext_pkg:NotAJudge",
            r"benchmarks/llmbench.yaml:4: judges.default.kind: ext_pkg:NotAJudge does not "
            r"implement the Judge protocol; give a class taking \(config\) whose objects "
            r"define async def score\(self, request: JudgeRequest\) -> JudgeResult and async "
            r"def aclose\(self\)",
        ),
    ],
    ids=["metric-import", "not-a-judge"],
)
def test_a_broken_extension_is_a_one_line_collection_error_naming_the_yaml_line(
    package: Project, xdist_args: list[str], metric: str, judge: str, expected: str
) -> None:
    config = CONFIG.format(extra=f"      extra: {{pass: 1, warn: 0, {metric}}}\n")
    package.config(config.replace("kind: fixed", f"kind: {judge}"))
    result = package.run(*xdist_args)
    assert result.ret == 2 if "-n" not in xdist_args else result.ret in (1, 2)
    output = result.stdout.str()
    assert re.search(expected, output), output
    assert "Traceback" not in output


def test_an_unknown_source_is_a_usage_error_listing_the_installed_metrics(
    package: Project,
) -> None:
    package.config(CONFIG.format(extra="      extra: {pass: 1, warn: 0, source: lenghts}\n"))
    result = package.run()
    assert result.ret == 4
    assert (
        "ERROR: benchmarks/llmbench.yaml:16: scenarios.digest.metrics.extra.source: unknown "
        "value 'lenghts'; expected one of judge, field, chrf, rouge_l, wer, bleu, ter, chrf++, "
        "rouge_1, rouge_2, cer, similarity, perplexity, module:function; "
        "installed (pytest_llmbench.metrics): flaky, lengths (did you mean 'lengths'?); e.g. "
        "source: field, or source: my_pkg.metrics:word_count"
    ) in result.stderr.str()


# -- the README's example -----------------------------------------------------------------

EXAMPLE_FILES = sorted(p.relative_to(EXAMPLE) for p in EXAMPLE.rglob("*") if p.is_file())


def test_the_readme_shows_every_example_file_as_it_is() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for relative in EXAMPLE_FILES:
        if relative.suffix in (".py", ".yaml") and relative.parts[0] != "prompts":
            assert (EXAMPLE / relative).read_text(encoding="utf-8") in readme, relative


def test_the_readme_example_runs_and_scores_as_documented(
    pytester: pytest.Pytester, xdist_args: list[str]
) -> None:
    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True)
    result = pytester.runpytest("-p", "no:cacheprovider", *xdist_args)
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "digest: PASS  (2 samples: 2 scored, 0 unscored, 0 errors · judge live · prompt digest_judge@v1)",
            "  coverage   1.000  1.000 – 1.000    2  pass ≥ 0.5, warn ≥ 0.4   pass",
            "  words      7.000  7.000 – 7.000    2  pass ≥ 3, warn ≥ 2       pass",
            "  chars     35.500  29.147 – 41.853  2  pass ≥ 10, warn ≥ 5      pass",
            "  echo       1.000  1.000 – 1.000    2  pass ≥ 0.5, warn ≥ 0.4   pass",
            "llmbench verdict: PASS",
        ]
    )
