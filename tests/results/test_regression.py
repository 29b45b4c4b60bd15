"""Baseline comparison: the pure rules at their edges, and whole runs with a baseline."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.project import Project, config_yaml, make_samples

from pytest_llmbench.benchmark.rules import RegressionRules
from pytest_llmbench.results.regression import (
    comparability,
    compare_metric,
    compare_scenario,
)
from pytest_llmbench.results.schema import ScenarioRecord
from pytest_llmbench.run.item_side import in_shard

RULES = RegressionRules(default_margin=0.02, min_samples=5)


def scores(values: list[float]) -> dict[str, float]:
    return {f"s{i:02d}": v for i, v in enumerate(values)}


def test_a_paired_drop_beyond_the_margin_with_an_interval_below_zero_is_a_regression() -> None:
    base = scores([0.9] * 6)
    cur = scores([0.8, 0.82, 0.81, 0.79, 0.8, 0.78])
    entry = compare_metric("accuracy", "higher", cur, base, RULES, (0.0, 1.0))
    assert entry["status"] == "regression"
    assert entry["diff"] == pytest.approx(-0.1)
    # The paired t interval: mean -0.1, sd 0.014142, t(5)=2.570582, half-width 0.014841;
    # the bootstrap-t reaches past it on both sides.
    assert entry["ci_method"] == "bootstrap-t"
    assert entry["ci95"] is not None
    lo, hi = entry["ci95"]
    assert lo < -0.114841 and -0.085159 < hi < 0
    assert (entry["compared"], entry["new"], entry["missing"]) == (6, 0, 0)


def test_a_drop_within_the_margin_is_not_a_regression() -> None:
    base = scores([0.9] * 6)
    cur = scores([0.89, 0.885, 0.88, 0.89, 0.885, 0.88])
    assert compare_metric("accuracy", "higher", cur, base, RULES)["status"] == "ok"


def test_a_drop_beyond_the_margin_whose_interval_spans_zero_is_not_a_regression() -> None:
    base = scores([0.5] * 6)
    cur = scores([0.1, 0.9, 0.2, 0.8, 0.3, 0.5])  # mean 0.4667, very noisy
    entry = compare_metric("accuracy", "higher", cur, base, RULES)
    assert entry["ci95"] is not None and entry["ci95"][0] < 0 < entry["ci95"][1]
    assert entry["status"] == "ok"


def test_for_lower_is_better_an_increase_is_the_regression() -> None:
    base = scores([100.0] * 6)
    cur = scores([130.0, 131.0, 129.0, 130.0, 130.5, 129.5])
    rules = RegressionRules(margins={"latency": 10.0}, min_samples=5)
    assert compare_metric("latency", "lower", cur, base, rules)["status"] == "regression"
    faster = scores([70.0, 71.0, 69.0, 70.0, 70.5, 69.5])
    assert compare_metric("latency", "lower", faster, base, rules)["status"] == "improved"


@pytest.mark.parametrize(
    ("drop", "status"),
    [(0.05, "ok"), (0.06, "ok"), (0.061, "regression"), (0.2, "regression")],
)
def test_an_underpowered_comparison_flags_only_drops_beyond_three_margins(
    drop: float, status: str
) -> None:
    base = scores([0.9, 0.9, 0.9])
    cur = scores([0.9 - drop] * 3)
    entry = compare_metric("accuracy", "higher", cur, base, RULES)
    assert entry["underpowered"] is True
    assert entry["status"] == status


def test_one_paired_sample_has_no_interval_and_is_underpowered() -> None:
    entry = compare_metric("accuracy", "higher", {"a": 0.5}, {"a": 0.9}, RULES)
    assert entry["ci95"] is None
    assert entry["diff"] == pytest.approx(-0.4)
    assert entry["status"] == "regression"  # 0.4 > 3 x 0.02
    assert entry["underpowered"] is True


def test_zero_variance_drop_is_certain() -> None:
    entry = compare_metric("accuracy", "higher", scores([0.8] * 6), scores([0.9] * 6), RULES)
    assert entry["ci95"] == pytest.approx([-0.1, -0.1])
    assert entry["status"] == "regression"


def test_no_overlap_is_reported_not_compared() -> None:
    entry = compare_metric("accuracy", "higher", {"a": 0.5}, {"b": 0.9}, RULES)
    assert entry["status"] == "no overlap"
    assert (entry["compared"], entry["new"], entry["missing"]) == (0, 1, 1)
    assert entry["diff"] is None


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=4),
        st.tuples(st.floats(0, 1), st.floats(0, 1)),
        min_size=1,
        max_size=30,
    )
)
def test_comparison_does_not_depend_on_sample_order(pairs: dict[str, tuple[float, float]]) -> None:
    cur = {k: v[0] for k, v in pairs.items()}
    base = {k: v[1] for k, v in pairs.items()}
    forward = compare_metric("m", "higher", cur, base, RULES)
    backward = compare_metric(
        "m", "higher", dict(reversed(list(cur.items()))), dict(reversed(list(base.items()))), RULES
    )
    assert forward == backward


def scenario_record(
    values: dict[str, float], *, dataset: str = "d1", model: str = "m", prompt_sha: str = "p1"
) -> ScenarioRecord:
    """Only the keys the comparison reads."""
    block: dict[str, Any] = {
        "fingerprints": {
            "dataset": {"inputs_sha256": dataset * 8, "path": "x", "samples": len(values)},
            "judge": {"mode": "live", "model": model},
            "prompt": {"ref": "j@v1", "sha256": prompt_sha},
        },
        "metrics": {"accuracy": {"better": "higher", "source": "judge"}},
        "samples": [
            {"id": k, "nodeid": f"t.py::t[{k}]", "status": "scored", "scores": {"accuracy": v}}
            for k, v in values.items()
        ],
    }
    return cast(ScenarioRecord, block)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        (
            {"dataset": "d2"},
            "dataset samples differ (d1d1d1d1d1d1 vs d2d2d2d2d2d2): other ids, inputs or references",
        ),
        ({"model": "other"}, "judge model differs (m vs other)"),
        ({"prompt_sha": "p2"}, "prompt file j@v1 changed under the same version"),
    ],
)
def test_baselines_from_another_dataset_judge_or_prompt_are_not_comparable(
    changes: dict[str, str], reason: str
) -> None:
    current = scenario_record({"a": 0.5})
    baseline = scenario_record({"a": 0.9}, **changes)
    assert comparability(current, baseline) == [reason]
    result = compare_scenario(current, baseline, RULES)
    assert result == {"status": "not comparable", "reasons": [reason]}


def test_most_regressed_samples_are_listed_worst_first() -> None:
    current = scenario_record(scores([0.5, 0.85, 0.2, 0.6, 0.6, 0.6]))
    baseline = scenario_record(scores([0.9] * 6))
    result = compare_scenario(current, baseline, RULES)
    assert result["status"] == "regression"
    # Five at most, worst first, ties by id.
    assert [r["id"] for r in result["most_regressed"]] == ["s02", "s00", "s03", "s04", "s05"]
    assert result["most_regressed"][0]["drops"] == {"accuracy": pytest.approx(0.7)}


def test_shards_are_disjoint_cover_everything_and_are_stable() -> None:
    ids = [f"tg-{i:04d}" for i in range(200)]
    for count in (1, 2, 3):
        shards = [{i for i in ids if in_shard(i, k, count)} for k in range(1, count + 1)]
        assert set().union(*shards) == set(ids)
        assert sum(len(s) for s in shards) == len(ids)
    # Pinned: the same id lands in the same shard on every machine and Python.
    assert [k for k in (1, 2, 3) if in_shard("tg-0042", k, 3)] == [3]


# -- whole runs with a baseline -----------------------------------------------------------

REGRESSION = "    regression: {margin: 0.02, severity: %s, min_samples: 3}\n"


def baseline_project(project: Project, severity: str) -> None:
    project.config(config_yaml() + REGRESSION % severity)


def make_baseline(project: Project) -> str:
    path = project.root / "baseline.json"
    assert project.run(f"--llmbench-json={path}").ret == 0
    return str(path)


def lower_scores(project: Project) -> None:
    project.dataset(make_samples([(0.9, 0.8), (0.85, 0.85), (0.95, 0.75), (0.9, 0.8)]))


def test_error_level_regression_fails_the_run(project: Project, xdist_args: list[str]) -> None:
    baseline_project(project, "error")
    baseline = make_baseline(project)
    lower_scores(project)
    result = project.run(f"--llmbench-baseline={baseline}", *xdist_args)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "digest: FAIL *",
            "  accuracy of digest regressed (error): -0.100 vs baseline over 4 samples, "
            "95% CI -0.100 – -0.100, margin 0.02",
            "llmbench verdict: FAIL",
        ]
    )


def test_warn_level_regression_is_a_warning(project: Project) -> None:
    baseline_project(project, "warn")
    baseline = make_baseline(project)
    lower_scores(project)
    result = project.run(f"--llmbench-baseline={baseline}")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "*LLMBenchWarning: llmbench: accuracy of digest regressed (warn)*",
            "llmbench verdict: WARN",
        ]
    )


def test_a_baseline_of_another_dataset_is_reported_not_compared(project: Project) -> None:
    baseline_project(project, "error")
    baseline = make_baseline(project)
    samples = make_samples([(0.9, 0.8), (0.85, 0.85), (0.95, 0.75), (0.9, 0.8)])
    samples[0]["input"] = "другой пост"  # another question: not the same dataset
    project.dataset(samples)
    report = project.root / "report.md"
    result = project.run(f"--llmbench-baseline={baseline}", f"--llmbench-report={report}")
    assert result.ret == 0
    assert "> Not compared with the baseline: dataset samples differ (" in report.read_text()


def test_baseline_that_is_not_a_record_is_a_usage_error(project: Project) -> None:
    (project.root / "bogus.json").write_text(json.dumps({"hello": 1}))
    result = project.run("--llmbench-baseline=bogus.json")
    assert result.ret == 4
    result.stderr.fnmatch_lines(
        [
            "ERROR: --llmbench-baseline: bogus.json: not a pytest-llmbench run record (no schema 'llmbench-run/1')"
        ]
    )


def test_shard_runs_report_but_do_not_gate(project: Project) -> None:
    project.config(config_yaml(coverage=(0.99, 0.95)))
    outcomes = []
    for k in (1, 2):
        result = project.run(f"--llmbench-shard={k}/2")
        assert result.ret == 0
        result.stdout.fnmatch_lines(
            [f"Shard {k}/2: bands are gated once the shards are joined with `llmbench merge`."]
        )
        outcomes.append(result.parseoutcomes().get("passed", 0))
    assert sum(outcomes) == 4


def test_bad_shard_value_is_a_usage_error(project: Project) -> None:
    result = project.run("--llmbench-shard=3/2")
    assert result.ret == 4
    result.stderr.fnmatch_lines(
        ["ERROR: --llmbench-shard=3/2: expected K/N with 1 <= K <= N, e.g. --llmbench-shard=1/3"]
    )
