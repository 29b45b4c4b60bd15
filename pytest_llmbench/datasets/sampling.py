"""A seeded sample of a dataset's rows, optionally stratified by a field: the same rows for
the same input, seed and size, on every machine and Python (``random.Random(seed)``), in the
rows' own order.

Stratified: each stratum (the field's value; rows without it form one stratum of their own)
gets its proportional share of the sample, ``size * stratum / total``, rounded by largest
remainder (Hamilton's method: every stratum gets the floor or the ceiling of its share, and
the shares add up to ``size``), then that many of its rows are drawn at random.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

T = TypeVar("T")
MISSING = "(no value)"  # the stratum of rows without the field


def allocate(sizes: Sequence[int], size: int) -> list[int]:
    """Largest-remainder shares of ``size`` over strata of these sizes, each at most its
    stratum; ties go to the earlier stratum."""
    total = sum(sizes)
    if size >= total:
        return list(sizes)
    quotas = [size * n / total for n in sizes]
    shares = [math.floor(q) for q in quotas]
    left = size - sum(shares)
    order = sorted(range(len(sizes)), key=lambda i: (-(quotas[i] - shares[i]), i))
    for i in order[:left]:
        shares[i] += 1
    return shares


def stratum_key(value: object) -> str:
    """The stratum a field's value names: its canonical JSON (so 1 and "1" differ)."""
    try:
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def sample(
    rows: Sequence[T], size: int, seed: int, stratum: Callable[[T], Hashable] | None = None
) -> list[T]:
    """``size`` of ``rows`` (all of them when there are no more), in their order."""
    if size >= len(rows):
        return list(rows)
    rng = random.Random(seed)
    if stratum is None:
        chosen = set(rng.sample(range(len(rows)), size))
    else:
        groups: dict[Hashable, list[int]] = {}
        for index, row in enumerate(rows):
            groups.setdefault(stratum(row), []).append(index)
        keys = sorted(groups, key=str)  # a fixed order, whatever order the rows came in
        shares = allocate([len(groups[k]) for k in keys], size)
        chosen = set()
        for key, share in zip(keys, shares, strict=True):
            chosen.update(rng.sample(groups[key], share))
    return [row for index, row in enumerate(rows) if index in chosen]
