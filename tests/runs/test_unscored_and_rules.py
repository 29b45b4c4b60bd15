"""A verdict a team can trust: samples without a score count against it, and the rules that
decided it travel in the record, so pytest, `llmbench report`, `merge` and the nightly all
give the same verdict for the same record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.project import Project, config_yaml, make_samples

from pytest_llmbench.cli import main as cli
from pytest_llmbench.reporting.alerts import notify_on, should_notify
from pytest_llmbench.results import record as record_mod
from pytest_llmbench.results.schema import RunRecord


def lose(samples: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """The first `count` samples lose their stored accuracy: the dry-run judge leaves them
    unscored, as a live judge that was down would."""
    for sample in samples[:count]:
        del sample["ground_truth"]["accuracy"]
    return samples


def twelve(lost: int) -> list[dict[str, Any]]:
    return lose(make_samples([(0.9, 0.9)] * 12), lost)


def only_record(project: Project) -> RunRecord:
    (path,) = sorted((project.root / ".llmbench" / "runs").glob("*.json"))
    return record_mod.load(path)


def test_a_judge_down_for_7_of_12_samples_fails_the_run_naming_count_and_reason(
    project: Project, xdist_args: list[str]
) -> None:
    project.dataset(twelve(7))
    result = project.run(*xdist_args)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "digest: FAIL  (12 samples: 5 scored, 7 unscored, 0 errors *",
            "  7 of 12 samples of digest have no score, over the fail limit of 5% of the samples: "
            'no ground_truth for "accuracy" in sample "s-01"; *',
            "llmbench verdict: FAIL",
        ]
    )
    record = only_record(project)
    assert (record["status"], record["scenarios"]["digest"]["status"]) == ("fail", "fail")


def test_the_default_warns_on_any_sample_without_a_score_below_the_fail_share(
    project: Project,
) -> None:
    samples = lose(make_samples([(0.9, 0.9)] * 40), 1)  # 1 of 40: over 0, not over 5%
    project.dataset(samples)
    result = project.run()
    assert result.ret == 1  # the unscored sample's own item fails, as ever; the verdict warns
    result.stdout.fnmatch_lines(
        [
            "*1 of 40 samples of digest have no score, over the warn limit of 0: *",
            "llmbench verdict: WARN",
        ]
    )


@pytest.mark.parametrize(
    ("rule", "lost", "verdict"),
    [
        ("{warn: 1, fail: 3}", 1, "PASS"),
        ("{warn: 1, fail: 3}", 2, "WARN"),
        ("{warn: 1, fail: 3}", 3, "WARN"),
        ("{warn: 1, fail: 3}", 4, "FAIL"),
        ("{warn: 0.1, fail: 0.5}", 1, "PASS"),  # 1 of 12 is under 10%
        ("{warn: 0.1, fail: 0.5}", 2, "WARN"),
        ("{warn: 0.1, fail: 0.5}", 7, "FAIL"),
    ],
)
def test_unscored_limits_are_counts_or_shares_of_the_selection(
    project: Project, rule: str, lost: int, verdict: str
) -> None:
    project.config(config_yaml() + f"    unscored: {rule}\n")
    project.dataset(twelve(lost))
    result = project.run()
    result.stdout.fnmatch_lines([f"llmbench verdict: {verdict}"])
    assert only_record(project)["scenarios"]["digest"]["rules"]["unscored"] == {
        "warn": float(rule.split(",")[0].split()[-1]),
        "fail": float(rule.split()[-1].rstrip("}")),
    }


def test_the_merged_record_and_llmbench_report_give_the_same_failing_verdict(
    project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project.dataset(twelve(7))
    shards = []
    for k in (1, 2, 3):
        path = tmp_path / f"shard{k}.json"
        project.run(f"--llmbench-shard={k}/3", f"--llmbench-json={path}")
        shards.append(str(path))
    merged = tmp_path / "merged.json"
    assert cli.main(["merge", *shards, "-o", str(merged)]) == 0
    assert record_mod.load(merged)["status"] == "fail"
    assert cli.main(["report", str(merged)]) == 1
    assert "**Verdict: FAIL** — 7 of 12 samples of digest have no score" in capsys.readouterr().out


REGRESSION_WARN = "    regression: {margin: 0.02, severity: warn, min_samples: 3}\n"


def test_llmbench_report_with_a_baseline_uses_the_runs_own_regression_rules(
    project: Project, tmp_path: Path
) -> None:
    project.config(config_yaml() + REGRESSION_WARN)
    baseline = tmp_path / "baseline.json"
    assert project.run(f"--llmbench-json={baseline}").ret == 0
    project.dataset(make_samples([(0.9, 0.8), (0.85, 0.85), (0.95, 0.75), (0.9, 0.8)]))
    current = tmp_path / "current.json"
    result = project.run(f"--llmbench-json={current}", f"--llmbench-baseline={baseline}")
    result.stdout.fnmatch_lines(["llmbench verdict: WARN"])  # severity: warn, under pytest
    rules = record_mod.load(current)["scenarios"]["digest"]["rules"]["regression"]
    assert rules == {"margins": {}, "default_margin": 0.02, "severity": "warn", "min_samples": 3}
    # The nightly re-derives the verdict with the baseline: the same rules, the same WARN.
    assert (
        cli.main(
            [
                "report",
                str(current),
                "--baseline",
                str(baseline),
                "--format",
                "json",
                "-o",
                str(tmp_path / "again.json"),
            ]
        )
        == 0
    )
    again = record_mod.load(tmp_path / "again.json")
    assert (again["status"], again["scenarios"]["digest"]["comparison"]["severity"]) == (
        "warn",
        "warn",
    )
    # A command-line rule still changes what it names, and only that.
    assert (
        cli.main(["report", str(current), "--baseline", str(baseline), "--severity", "error"]) == 1
    )


def test_a_margin_for_a_metric_no_scenario_has_is_a_usage_error(
    project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "run.json"
    project.run(f"--llmbench-json={path}")
    code = cli.main(["compare", str(path), str(path), "--margin", "acuracy=0.5"])
    assert code == 2
    assert capsys.readouterr().err == (
        "llmbench: --margin acuracy=0.5: no metric 'acuracy' (did you mean 'accuracy'?); "
        "metrics: accuracy, coverage, latency_seconds\n"
    )


def test_the_record_keeps_notify_on_and_the_nightly_alerts_by_it(project: Project) -> None:
    project.config(config_yaml(accuracy=(0.95, 0.85)) + "notify: {on: [warn]}\n")
    project.run()
    record = only_record(project)
    assert record["rules"] == {"notify": {"on": ["warn"]}}
    assert notify_on(record) == ["warn"]
    assert should_notify(record, notify_on(record))  # a WARN run alerts, as the YAML asked


def test_a_record_without_stored_rules_reads_as_the_defaults(project: Project) -> None:
    project.run()
    record: dict[str, Any] = json.loads(
        next((project.root / ".llmbench" / "runs").glob("*.json")).read_text()
    )
    del record["rules"]
    del record["scenarios"]["digest"]["rules"]
    assert notify_on(record) == ["fail", "regression"]


def test_run_exitstatus_is_what_pytest_exits_with(project: Project, xdist_args: list[str]) -> None:
    project.config(config_yaml(coverage=(0.99, 0.95)))  # every item passes; the bands fail
    result = project.run(*xdist_args)
    assert result.ret == 1
    assert only_record(project)["run"]["exitstatus"] == 1
