"""What rides from the item process to the record: every part of a sample's payload that a
reader of the record needs arrives there, with no xdist, `-n 0` and `-n 2`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.judge_server import JudgeServer
from support.project import Project, config_yaml, live_judge_yaml

from pytest_llmbench.reporting import prometheus
from pytest_llmbench.results import record as record_mod
from pytest_llmbench.results.schema import RunRecord

EXTRA_HOOK = """\
def pytest_llmbench_sample_payload(payload, item):
    payload["extra"]["app_version"] = "2.3.1"
    payload["extra"]["tokens_out"] = len(payload["sample_id"])
"""


@pytest.fixture
def live(project: Project, monkeypatch: pytest.MonkeyPatch) -> Iterator[JudgeServer]:
    with JudgeServer(latency_s=0.01, metrics=("coverage", "accuracy")) as srv:
        monkeypatch.setenv("TEST_LLM_URL", srv.url)
        project.config(config_yaml(judge_block=live_judge_yaml()))
        yield srv


def only_record(project: Project) -> RunRecord:
    (path,) = sorted((project.root / ".llmbench" / "runs").glob("*.json"))
    return record_mod.load(path)


def test_a_hooks_payload_extra_reaches_the_records_samples(
    project: Project, xdist_args: list[str]
) -> None:
    project.write("conftest.py", EXTRA_HOOK)
    project.run("benchmarks", *xdist_args).assert_outcomes(passed=4)
    samples = only_record(project)["scenarios"]["digest"]["samples"]
    assert [s.get("extra") for s in samples] == [
        {"app_version": "2.3.1", "tokens_out": 4} for _ in samples
    ]


def test_without_a_hook_samples_carry_no_extra_key(project: Project) -> None:
    project.run("benchmarks").assert_outcomes(passed=4)
    samples = only_record(project)["scenarios"]["digest"]["samples"]
    assert all("extra" not in s for s in samples)


def test_the_latency_histogram_from_a_record_counts_every_live_call(
    project: Project, live: JudgeServer, xdist_args: list[str]
) -> None:
    project.run("benchmarks", "--llmbench-judge=live", *xdist_args).assert_outcomes(passed=4)
    record = only_record(project)
    seconds = record["run"]["judge_latency_s"]["digest"]
    assert len(seconds) == len(live.requests) == 4
    assert seconds == sorted(seconds) and all(s > 0 for s in seconds)
    registry = prometheus.build_registry(record)
    count = registry.get_sample_value(
        "benchmark_judge_latency_seconds_count", {"scenario": "digest"}
    )
    assert count == 4


def test_latencies_stay_out_of_the_run_independent_part_of_the_record(
    project: Project, live: JudgeServer
) -> None:
    project.run("benchmarks", "--llmbench-judge=live").assert_outcomes(passed=4)
    samples = only_record(project)["scenarios"]["digest"]["samples"]
    assert [sorted(s["judge"]) for s in samples] == [
        ["attempts", "cached", "completion_tokens", "prompt_tokens", "retries"] for _ in samples
    ]


def test_cached_calls_add_no_latency(project: Project, live: JudgeServer) -> None:
    project.run("benchmarks", "--llmbench-judge=live").assert_outcomes(passed=4)
    for path in (project.root / ".llmbench" / "runs").glob("*.json"):
        path.unlink()
    project.run("benchmarks", "--llmbench-judge=live").assert_outcomes(passed=4)
    assert only_record(project)["run"]["judge_latency_s"] == {"digest": []}
