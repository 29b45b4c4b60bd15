"""The inputs fingerprint that decides whether two runs are comparable: it must not change
between versions of the plugin, or every stored baseline would become "not comparable"."""

from __future__ import annotations

import hashlib
import json

from hypothesis import given
from hypothesis import strategies as st

from pytest_llmbench.benchmark.dataset import Sample
from pytest_llmbench.run.controller import inputs_sha256


def one_shot(samples: list[Sample]) -> str:
    """The fingerprint as first defined: one JSON dump of the sorted rows."""
    rows = sorted((s.id, s.input, s.reference) for s in samples)
    blob = json.dumps(rows, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def sample(index: int, sample_id: str, text: str, reference: str | None) -> Sample:
    return Sample(
        id=sample_id, item_id=sample_id, position=index, line=index + 1, input=text,
        reference=reference,
    )  # fmt: skip


def test_the_fingerprint_of_a_known_dataset_is_stable() -> None:
    samples = [
        sample(0, "tg-2", "Пост: открыли метро", "Метро открыто"),
        sample(1, "tg-1", 'quotes " and \\ and \n', None),
    ]
    assert inputs_sha256(samples) == one_shot(samples)
    assert inputs_sha256([]) == hashlib.sha256(b"[]").hexdigest()


@given(
    st.lists(
        st.tuples(st.text(min_size=1, max_size=8), st.text(max_size=30), st.none() | st.text()),
        max_size=12,
        unique_by=lambda row: row[0],
    )
)
def test_hashing_row_by_row_gives_the_one_shot_fingerprint(
    rows: list[tuple[str, str, str | None]],
) -> None:
    samples = [sample(i, sid, text, ref) for i, (sid, text, ref) in enumerate(rows)]
    assert inputs_sha256(samples) == one_shot(samples)
