"""Seeded sampling: the size asked for, the same rows for the same seed, the rows' own order,
and each stratum's proportional share (largest remainder: the floor or the ceiling)."""

from __future__ import annotations

import math
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from pytest_llmbench.datasets import sampling

ROWS = st.lists(st.sampled_from("abcde"), min_size=0, max_size=60).map(
    lambda strata: [(i, s) for i, s in enumerate(strata)]
)


def by_stratum(row: tuple[int, str]) -> str:
    return row[1]


@given(ROWS, st.integers(0, 80), st.integers(0, 2**32), st.booleans())
def test_a_sample_has_the_size_asked_for_in_the_rows_order(
    rows: list[tuple[int, str]], size: int, seed: int, stratified: bool
) -> None:
    chosen = sampling.sample(rows, size, seed, by_stratum if stratified else None)
    assert len(chosen) == min(size, len(rows))
    assert chosen == sorted(chosen) and len(set(chosen)) == len(chosen)
    assert set(chosen) <= set(rows)


@given(ROWS, st.integers(0, 80), st.integers(0, 2**32), st.booleans())
def test_the_same_seed_gives_the_same_sample(
    rows: list[tuple[int, str]], size: int, seed: int, stratified: bool
) -> None:
    stratum = by_stratum if stratified else None
    assert sampling.sample(rows, size, seed, stratum) == sampling.sample(rows, size, seed, stratum)


@given(ROWS, st.integers(0, 80), st.integers(0, 2**32))
def test_each_stratum_gets_the_floor_or_ceiling_of_its_share(
    rows: list[tuple[int, str]], size: int, seed: int
) -> None:
    chosen = Counter(s for _, s in sampling.sample(rows, size, seed, by_stratum))
    total = Counter(s for _, s in rows)
    size = min(size, len(rows))
    for stratum, count in total.items():
        share = size * count / len(rows)
        assert math.floor(share) <= chosen[stratum] <= math.ceil(share)


@given(st.lists(st.integers(0, 50), max_size=8), st.integers(0, 400))
def test_the_shares_add_up_and_never_exceed_a_stratum(sizes: list[int], size: int) -> None:
    shares = sampling.allocate(sizes, size)
    assert sum(shares) == min(size, sum(sizes))
    assert all(0 <= share <= n for share, n in zip(shares, sizes, strict=True))


def test_a_known_allocation_by_largest_remainder() -> None:
    # 5 of 7 + 2 + 1 rows: quotas 3.5, 1.0, 0.5 -> 3, 1, 0 and one more, by the largest
    # remainder (a tie between 0.5 and 0.5), to the earlier stratum: 4, 1, 0
    assert sampling.allocate([7, 2, 1], 5) == [4, 1, 0]


def test_a_seeded_sample_is_pinned_on_every_machine() -> None:
    # random.Random(seed).sample, strata in sorted order: no hash(), no set order
    rows = [(i, "ab"[i % 2]) for i in range(20)]
    assert [i for i, _ in sampling.sample(rows, 5, 7, by_stratum)] == [1, 3, 4, 10, 12]
    assert [i for i, _ in sampling.sample(rows, 4, 1)] == [2, 4, 8, 18]
