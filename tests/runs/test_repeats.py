"""`repeats: K`: each sample judged K times against a live judge (the scripted JudgeServer
on 127.0.0.1), its score the mean, each repeat in the record, the judge's noise per
metric in the record, the terminal and the report; a warm re-run free; the same record
with no xdist, `-n 0` and `-n 2`."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

# See tests/runs/test_live_judge.py: imported once out here, not in every in-process run.
import hypothesis.internal.observability  # noqa: F401
import pytest
from support.judge_server import JudgeServer, user_text
from support.project import (
    SAMPLE_NUMBER,
    XDIST_MODES,
    Project,
    config_yaml,
    live_judge_yaml,
    marker,
)

from pytest_llmbench.results.record import deterministic_view

MEANS = {1: 0.6, 2: 0.7, 3: 0.8, 4: 0.9}  # each sample's coverage, the mean of its repeats
SPREAD = (-0.05, 0.0, 0.05)  # the judge's k-th answer for a sample, around its mean


def sample_number(body: dict[str, Any]) -> int:
    match = SAMPLE_NUMBER.search(user_text(body))
    assert match is not None, "every judge prompt carries the sample's input"
    return int(match.group(1))


class Wavering:
    """A judge whose k-th answer for a sample is its mean + SPREAD[k % 3] (coverage) and
    always 0.9 (accuracy): a noise SD of exactly 0.05 on coverage, none on accuracy."""

    def __init__(self) -> None:
        self.asked: Counter[int] = Counter()
        self._lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> dict[str, float]:
        number = sample_number(body)
        with self._lock:
            k = self.asked[number]
            self.asked[number] += 1
        return {"coverage": round(MEANS[number] + SPREAD[k % 3], 2), "accuracy": 0.9}


def steady(body: dict[str, Any]) -> dict[str, float]:
    """A judge that gives a sample the same scores every time."""
    return {"coverage": MEANS[sample_number(body)], "accuracy": 0.9}


def repeats_config(repeats: int) -> str:
    return config_yaml(
        coverage=(0.7, 0.6),
        judge_block=live_judge_yaml(timeout_s=5),
        extra_scenario=f"    repeats: {repeats}\n",
    )


@pytest.fixture
def wavering(project: Project, monkeypatch: pytest.MonkeyPatch) -> Iterator[JudgeServer]:
    with JudgeServer(latency_s=0.02, scorer=Wavering()) as srv:
        monkeypatch.setenv("TEST_LLM_URL", srv.url)
        project.config(repeats_config(3))
        yield srv


def scenario_of(project: Project, index: int = -1) -> dict[str, Any]:
    block: dict[str, Any] = project.records()[index]["scenarios"]["digest"]
    return block


def test_each_sample_is_judged_k_times_its_score_the_mean_and_each_repeat_kept(
    project: Project, wavering: JudgeServer, xdist_args: list[str]
) -> None:
    result = project.run("--llmbench-no-cache", *xdist_args)
    assert result.ret == 0
    result.assert_outcomes(passed=4)
    assert len(wavering.requests) == 12
    assert [wavering.count_for(marker(n)) for n in MEANS] == [3, 3, 3, 3]
    scenario = scenario_of(project)
    for number, sample in enumerate(scenario["samples"], 1):
        assert sample["scores"]["coverage"] == pytest.approx(MEANS[number])
        assert sample["scores"]["accuracy"] == pytest.approx(0.9)
        repeats = sample["repeats"]
        assert [r["status"] for r in repeats] == ["scored"] * 3
        # in the order the judge answered them: the same multiset whatever that order
        assert sorted(r["scores"]["coverage"] for r in repeats) == [
            round(MEANS[number] + d, 2) for d in SPREAD
        ]
    assert scenario["usage"]["judge_calls"] == 12
    coverage = scenario["metrics"]["coverage"]
    assert coverage["value"] == pytest.approx(0.75)
    assert coverage["n"] == 4  # samples, not judgements: the interval is over sample means
    assert coverage["noise_sd"] == pytest.approx(0.05)
    assert coverage["agreement"]["value"] == pytest.approx(19 / 22)
    assert coverage["agreement"]["ci95"] == pytest.approx([0.4730, 0.9898], abs=1e-4)
    accuracy = scenario["metrics"]["accuracy"]
    assert accuracy["noise_sd"] == 0.0
    assert accuracy["agreement"]["value"] is None  # nothing varies
    result.stdout.fnmatch_lines(
        [
            "  judge noise over repeats:",
            "    coverage: noise SD 0.050 · ICC(1) 0.86 (95% CI 0.473 – 0.990) over 4 samples"
            " × 3 repeats · resolves changes over 0.040",
            "    accuracy: noise SD 0.000 over 4 samples × 3 repeats · resolves changes over 0.000",
            "  coverage of digest: margin 0.02 is below the judge's noise: this gate cannot tell"
            " (noise SD 0.050; at n = 4 a change under 0.040 is within it: raise the margin,"
            " the samples or repeats:)",
            "llmbench verdict: PASS",
        ]
    )


def test_a_warm_rerun_makes_no_request_and_writes_the_same_record(
    project: Project, wavering: JudgeServer
) -> None:
    project.run()
    assert len(wavering.requests) == 12
    # the first record as the baseline: read back, checked against the schema, repeats included
    (first_path,) = (project.root / ".llmbench" / "runs").glob("*.json")
    result = project.run(f"--llmbench-baseline={first_path}")
    assert result.ret == 0
    assert len(wavering.requests) == 12  # every repeat answered from the cache
    first, second = project.records()
    assert scenario_of(project)["usage"]["cached"] == 4
    assert scenario_of(project)["usage"]["judge_calls"] == 0
    # each repeat has its own cache entry: restored in the same order, with the same noise
    for before, after in zip(
        first["scenarios"]["digest"]["samples"],
        second["scenarios"]["digest"]["samples"],
        strict=True,
    ):
        assert after["repeats"] == before["repeats"]
        assert after["scores"] == before["scores"]
    assert (
        second["scenarios"]["digest"]["metrics"]["coverage"]
        == first["scenarios"]["digest"]["metrics"]["coverage"]
    )


def test_the_record_is_the_same_with_no_xdist_n0_and_n2(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    views = []
    with JudgeServer(latency_s=0.02, scorer=steady) as srv:
        monkeypatch.setenv("TEST_LLM_URL", srv.url)
        project.config(repeats_config(2))
        report = project.root / "report.md"
        for args in XDIST_MODES.values():
            project.run("--llmbench-no-cache", f"--llmbench-report={report}", *args)
            views.append(deterministic_view(project.records()[-1]))  # type: ignore[arg-type]
        assert len(srv.requests) == 3 * 8
    assert views[0] == views[1] == views[2]
    assert (
        views[0]["scenarios"]["digest"]["samples"][0]["repeats"]
        == [{"scores": {"accuracy": 0.9, "coverage": 0.6}, "status": "scored"}] * 2
    )
    assert (
        "- coverage: noise SD 0.000 · ICC(1) 1.00 (95% CI 1.000 – 1.000) over 4 samples × 2"
        " repeats · resolves changes over 0.000" in report.read_text("utf-8")
    )


def test_the_command_line_overrides_the_yamls_repeats(
    project: Project, wavering: JudgeServer
) -> None:
    project.run("--llmbench-no-cache", "--llmbench-repeats=2")
    assert len(wavering.requests) == 8
    assert [len(s["repeats"]) for s in scenario_of(project)["samples"]] == [2, 2, 2, 2]
    project.run("--llmbench-no-cache", "--llmbench-repeats=1")
    assert len(wavering.requests) == 12
    assert not any("repeats" in s for s in scenario_of(project)["samples"])
    assert "noise_sd" not in scenario_of(project)["metrics"]["coverage"]


@pytest.mark.parametrize("value", ["0", "21", "-3"])
def test_a_repeats_option_out_of_bounds_is_a_usage_error(project: Project, value: str) -> None:
    result = project.run(f"--llmbench-repeats={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"ERROR: --llmbench-repeats={value}: give a whole number from 1 to 20"]
    )


def test_pytest_repeat_count_runs_each_item_again_and_the_record_keeps_one_entry(
    project: Project, wavering: JudgeServer, xdist_args: list[str]
) -> None:
    # --count reruns the test: each run is judged anew (K calls each), the record keeps one
    # entry per sample (the last run's); repeats: is what measures the judge.
    project.config(repeats_config(2))
    project.run("--llmbench-no-cache", "--count", "2", *xdist_args)
    assert len(wavering.requests) == 16
    samples = scenario_of(project)["samples"]
    assert [s["id"] for s in samples] == ["s-01", "s-02", "s-03", "s-04"]
    assert [len(s["repeats"]) for s in samples] == [2, 2, 2, 2]
    assert scenario_of(project)["usage"]["http_requests"] == 16


def test_a_failed_repeat_keeps_its_reason_and_the_sample_is_the_mean_of_the_rest(
    project: Project, wavering: JudgeServer
) -> None:
    wavering.script_for(marker(1), [("error", 401, "key revoked")])
    result = project.run("--llmbench-no-cache")
    assert result.ret == 0
    result.assert_outcomes(passed=4)
    first = scenario_of(project)["samples"][0]
    assert first["status"] == "scored"
    failed = [r for r in first["repeats"] if r["status"] == "unscored"]
    assert len(failed) == 1 and "401" in failed[0]["reason"]
    assert failed[0]["scores"] == {}
    # its two scored repeats were the judge's first two answers for it: 0.55 and 0.60
    assert first["scores"]["coverage"] == pytest.approx(0.575)
    # pooled: (2 * 0.025² + 3 * 0.005) over 1 + 3 * 2 degrees of freedom
    coverage = scenario_of(project)["metrics"]["coverage"]
    assert coverage["noise_sd"] == pytest.approx((0.01625 / 7) ** 0.5)
    assert coverage["agreement"]["samples"] == 4
    assert coverage["agreement"]["repeats"] == pytest.approx((11 - 31 / 11) / 3)
