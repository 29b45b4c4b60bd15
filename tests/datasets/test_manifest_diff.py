"""What changed in a frozen dataset, by id: a table of cases, and the property that any
random set of edits (added, removed, edited, reordered) is reported exactly."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmbench.benchmark.dataset import Dataset, Sample
from pytest_llmbench.datasets.manifest import Manifest, of_dataset
from pytest_llmbench.datasets.manifest_diff import Change, describe, diff


def dataset(records: list[dict[str, Any]], raw: bytes | None = None) -> Dataset:
    """A dataset read from these records (pure: no file), its sha256 that of ``raw``."""
    samples = tuple(
        Sample(id=r["id"], item_id=r["id"], position=n, line=n + 1, fields=r)
        for n, r in enumerate(records)
    )
    data = raw if raw is not None else repr(records).encode()
    return Dataset(Path("d.jsonl"), "d.jsonl", samples, hashlib.sha256(data).hexdigest())


def frozen(records: list[dict[str, Any]], raw: bytes | None = None) -> Manifest:
    return of_dataset(dataset(records, raw))


BASE = [{"id": i, "text": f"text {i}"} for i in "abcdefgh"]


def change(now: list[dict[str, Any]], raw: bytes | None = None) -> Change:
    return diff(frozen(BASE), frozen(now, raw))


def test_the_same_file_is_unchanged() -> None:
    result = change(BASE)
    assert result.unchanged and describe(result) == ""


@pytest.mark.parametrize(
    ("now", "sentence"),
    [
        ([*BASE, {"id": "x"}], "1 sample added (x)"),
        ([*BASE, {"id": "y"}, {"id": "x"}], "2 samples added (y, x)"),
        (BASE[1:], "1 sample removed (a)"),
        (
            [{"id": "b", "text": "changed"}, *BASE[2:], {"id": "z"}],
            "1 sample added (z), 1 removed (a), 1 edited (b)",
        ),
        ([BASE[1], BASE[0], *BASE[2:]], "the samples' order changed"),
        (
            [{"id": "b", "text": "new"}, BASE[0], *BASE[2:]],
            "1 sample edited (b), the samples' order changed",
        ),
        ([{**s, "text": "new"} for s in BASE], "8 samples edited (a, b, c, d, e, and 3 more)"),
    ],
    ids=["one-added", "two-added", "removed", "all-three", "order", "edit-and-order", "bounded"],
)
def test_each_kind_of_change_is_named_by_id(now: list[dict[str, Any]], sentence: str) -> None:
    assert describe(change(now)) == sentence


def test_the_same_samples_in_other_bytes_say_only_the_bytes_changed() -> None:
    result = diff(frozen(BASE, b"one"), frozen([dict(reversed(s.items())) for s in BASE], b"two"))
    assert result.only_bytes
    assert describe(result) == (
        "the file's bytes changed but its samples did not (whitespace, key order or escapes only)"
    )


IDS = [f"s{i}" for i in range(12)]


@given(
    kept=st.sets(st.sampled_from(IDS), min_size=1),
    edited=st.sets(st.sampled_from(IDS)),
    added=st.sets(st.sampled_from([f"n{i}" for i in range(6)])),
    order=st.permutations(range(18)),
)
def test_any_random_set_of_edits_is_reported_exactly(
    kept: set[str], edited: set[str], added: set[str], order: list[int]
) -> None:
    before = [{"id": i, "v": 0} for i in IDS]
    after = [{"id": i, "v": 1 if i in edited else 0} for i in IDS if i in kept]
    after += [{"id": i, "v": 0} for i in sorted(added)]
    rank = {r["id"]: order[n] for n, r in enumerate(after)}
    after.sort(key=lambda r: rank[r["id"]])
    after_ids = [r["id"] for r in after]
    result = diff(frozen(before), frozen(after))
    assert result.added == tuple(i for i in after_ids if i in added)
    assert result.removed == tuple(sorted(set(IDS) - kept))
    assert result.edited == tuple(i for i in after_ids if i in edited & kept)
    assert result.reordered == (set(after_ids) == set(IDS) and after_ids != IDS)
    assert result.unchanged == (after == before)
