"""The `judge` fixture is one function for the session (no setup and teardown per item):
it scores the sample of the item that calls it, and a test without the marker still errors
at its setup, unless its `judge` is a fixture of its own."""

from __future__ import annotations

from support.project import Project

KEEPS_JUDGE = """\
import pytest

KEPT = []


@pytest.mark.llmbench("digest")
def test_digest(sample, judge):
    KEPT.append(judge)
    assert judge(sample.output)["coverage"] == sample.ground_truth["coverage"]


def test_one_function(request):
    assert len(KEPT) == 4 and all(f is KEPT[0] for f in KEPT)
"""

OWN_JUDGE = """\
import pytest


@pytest.fixture
def judge():
    return lambda text: {"mine": 1.0}


def test_own_judge(judge):
    assert judge("x") == {"mine": 1.0}
"""

SKIPPED_UNMARKED = """\
import pytest


@pytest.mark.skip(reason="not today")
def test_skipped_unmarked(judge):
    pass
"""


def test_one_judge_function_scores_each_items_own_sample(project: Project) -> None:
    project.write("benchmarks/test_digest.py", KEEPS_JUDGE)
    project.run("-p", "no:randomly").assert_outcomes(passed=5)


def test_a_tests_own_judge_fixture_is_left_alone(project: Project) -> None:
    project.write("benchmarks/test_own.py", OWN_JUDGE)
    project.run("benchmarks/test_own.py").assert_outcomes(passed=1)


def test_a_skipped_unmarked_test_is_skipped_before_the_judge_fixture_errors(
    project: Project,
) -> None:
    project.write("benchmarks/test_skipped.py", SKIPPED_UNMARKED)
    project.run("benchmarks/test_skipped.py").assert_outcomes(skipped=1)
