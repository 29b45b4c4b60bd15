"""The record's count of where outputs came from (`scenarios.<name>.outputs`): derived
from the samples' `output_cached`, so a merge of shards and a re-report count the same."""

from __future__ import annotations

import pytest
from support.records import entry, make_record

from pytest_llmbench.results import record as record_mod
from pytest_llmbench.results.merge import merge
from pytest_llmbench.results.schema import SampleRecord


def marked(position: int, cached: bool | None) -> SampleRecord:
    sample = entry(position, 0.9)
    if cached is not None:
        sample["output_cached"] = cached
    return sample


@pytest.mark.parametrize(
    ("marks", "counts"),
    [
        ([None, None], None),
        ([False, False, False], {"produced": 3, "cached": 0}),
        ([True, False, True], {"produced": 1, "cached": 2}),
        ([True, None], {"produced": 0, "cached": 1}),
    ],
    ids=["no-cache", "cold", "mixed", "one-without-output"],
)
def test_outputs_count_the_samples_that_say_where_their_output_came_from(
    marks: list[bool | None], counts: dict[str, int] | None
) -> None:
    samples = [marked(p, m) for p, m in enumerate(marks)]
    assert record_mod.output_counts(samples) == counts
    block = make_record(samples)["scenarios"]["digest"]
    assert block.get("outputs") == counts


def test_merged_shards_count_every_shards_outputs() -> None:
    marks = [True, False, True, True, False, True]
    shards = [
        (
            f"shard{k}.json",
            make_record(
                [marked(p, m) for p, m in enumerate(marks) if p % 2 == k - 1], shard=(k, 2)
            ),
        )
        for k in (1, 2)
    ]
    merged, _ = merge(shards, run_id="m")
    assert merged["scenarios"]["digest"]["outputs"] == {"produced": 2, "cached": 4}
