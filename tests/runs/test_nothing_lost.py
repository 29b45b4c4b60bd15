"""Every selected sample is in the record exactly once, scored or with a reason: a worker
that dies in a sample, two tests on one scenario, a field that would shadow the sample's own."""

from __future__ import annotations

import pytest
from support.project import Project

CRASHING_TEST = """\
import os

import pytest


@pytest.mark.llmbench("digest")
def test_digest(sample, judge):
    if sample.id == "s-03":
        os._exit(1)  # the worker dies here; xdist starts another for the rest
    judge(sample.output)
"""


def test_a_worker_that_dies_in_a_sample_leaves_it_in_the_record_as_an_error(
    project: Project,
) -> None:
    project.write("benchmarks/test_digest.py", CRASHING_TEST)
    result = project.run("-n", "2")
    assert result.ret == 1
    (record,) = project.records()
    samples = record["scenarios"]["digest"]["samples"]
    assert [s["id"] for s in samples] == ["s-01", "s-02", "s-03", "s-04"]  # each exactly once
    crashed = samples[2]
    assert (crashed["status"], crashed["reason_code"]) == ("error", "crashed")
    assert "crashed while running" in crashed["reason"]
    assert "benchmarks/test_digest.py::test_digest[s-03]" in crashed["reason"]
    # One of four without a score is over the default limit: the survivors do not pass.
    assert record["scenarios"]["digest"]["status"] == "fail"
    result.stdout.fnmatch_lines(["*1 of 4 samples of digest have no score, over the fail limit*"])
    assert not list((project.root / ".llmbench" / "runs").glob("*.selection-*"))


SECOND_TEST = """\
import pytest


@pytest.mark.llmbench("digest")
def test_digest(sample, judge):
    judge(sample.output)


@pytest.mark.llmbench("digest")
def test_digest_again(sample, judge):
    judge(sample.output)
"""


@pytest.mark.parametrize("xdist", [["-p", "no:xdist"], ["-n", "2"]])
def test_two_test_functions_on_one_scenario_are_refused_at_collection(
    project: Project, xdist: list[str]
) -> None:
    project.write("benchmarks/test_digest.py", SECOND_TEST)
    result = project.run(*xdist)
    assert result.ret in (1, 2)  # a collection error: pytest's interrupted/failed exit
    result.stdout.fnmatch_lines(
        [
            "*benchmarks/test_digest.py::test_digest_again: scenario 'digest' is already run by "
            "benchmarks/test_digest.py::test_digest; one test function per scenario*"
        ]
    )
    assert project.records() == []


def test_a_dataset_field_that_would_shadow_the_samples_own_is_a_collection_error(
    project: Project,
) -> None:
    project.write(
        "data/digest.jsonl",
        '{"id": "s-01", "input": "x", "output": "y", "line": "Red line 7",'
        ' "ground_truth": {"coverage": 0.9, "accuracy": 0.9}, "latency_seconds": 1}\n',
    )
    result = project.run()
    assert result.ret == 2
    result.stdout.fnmatch_lines(
        ["*data/digest.jsonl:1: field 'line' has the name of the sample's own line number*"]
    )
