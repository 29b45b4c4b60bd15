"""A dry run scores stored outputs a batch at a time (judging/dry_run_ahead): the record and
the failures are those of scoring each item on its own."""

from __future__ import annotations

import pytest
from support.project import PROMPT, Project, make_samples

from pytest_llmbench.benchmark.dataset import Sample
from pytest_llmbench.benchmark.prompts import load_prompt, messages_sha256, render_messages

BATCH_OF_TWO = (
    "from pytest_llmbench.judging import dry_run_ahead\ndry_run_ahead.DRY_RUN_BATCH = 2\n"
)

EDITS_S02 = """\
import pytest


@pytest.mark.llmbench("digest")
def test_digest(sample, judge):
    judge(sample.output + " (edited)" if sample.id == "s-02" else sample.output)
"""


def prompt_hash(project: Project, number: int, output: str) -> str:
    prompt = load_prompt(project.root / "prompts", "digest_judge@v1")
    one = Sample(
        id=f"s-{number:02d}",
        item_id=f"s-{number:02d}",
        position=number - 1,
        line=number,
        input=f"Пост номер {number}: в городе открыли новую станцию метро.",
    )
    return messages_sha256(render_messages(prompt, one, output))


def test_a_body_that_judges_other_text_gets_the_hash_of_what_it_judged(
    project: Project,
) -> None:
    project.write("conftest.py", BATCH_OF_TWO)
    project.write("benchmarks/test_digest.py", EDITS_S02)
    result = project.run()
    result.assert_outcomes(passed=4)
    (record,) = project.records()
    samples = record["scenarios"]["digest"]["samples"]
    judged = [f"Сводка {n}: открыли станцию." for n in range(1, 5)]
    judged[1] += " (edited)"
    assert [s["prompt_sha256"] for s in samples] == [
        prompt_hash(project, n, text) for n, text in enumerate(judged, 1)
    ]
    assert [s["scores"]["coverage"] for s in samples] == [0.9, 0.85, 0.95, 0.9]


def test_an_unrenderable_sample_of_a_later_batch_fails_its_own_item(project: Project) -> None:
    project.write("conftest.py", BATCH_OF_TWO)
    project.write(
        "prompts/digest_judge/v1.yaml",
        PROMPT.replace("  Posts:\n", "  Channel: {{ sample.channel }}\n  Posts:\n"),
    )
    samples = make_samples([(0.9, 0.9)] * 5)
    for one in samples:
        one["channel"] = "news"
    del samples[3]["channel"]
    project.dataset(samples)
    result = project.run()
    result.assert_outcomes(passed=4, failed=1)
    message = (
        "prompts/digest_judge/v1.yaml: user: undefined variable (sample has no attribute "
        "'channel') rendering sample 's-04'; the template sees sample (fields: ground_truth, "
        "id, input, latency_seconds, output, reference), output and metrics"
    )
    result.stdout.fnmatch_lines(["*_ test_digest[[]s-04[]] _*", message])
    (record,) = project.records()
    assert [(s["id"], s["status"]) for s in record["scenarios"]["digest"]["samples"]] == [
        ("s-01", "scored"),
        ("s-02", "scored"),
        ("s-03", "scored"),
        ("s-04", "error"),
        ("s-05", "scored"),
    ]


@pytest.mark.parametrize("batch", [1, 2, 256])
def test_the_record_is_the_same_whatever_the_batch(project: Project, batch: int) -> None:
    project.write(
        "conftest.py",
        f"from pytest_llmbench.judging import dry_run_ahead\ndry_run_ahead.DRY_RUN_BATCH = {batch}\n",
    )
    project.run().assert_outcomes(passed=4)
    (record,) = project.records()
    samples = record["scenarios"]["digest"]["samples"]
    assert [s["prompt_sha256"] for s in samples] == [
        prompt_hash(project, n, f"Сводка {n}: открыли станцию.") for n in range(1, 5)
    ]
