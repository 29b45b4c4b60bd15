from __future__ import annotations

import random
from email.utils import formatdate

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmbench.judging.retry_policy import (
    backoff_delay,
    is_transient_status,
    parse_retry_after,
)

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("retry_index", "window"),
    [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (6, 10.0), (500, 10.0), (10_000, 10.0)],
)
def test_backoff_window_doubles_up_to_the_cap(retry_index: int, window: float) -> None:
    rng = random.Random(7)
    delays = [backoff_delay(retry_index, 0.5, 10.0, rng) for _ in range(2000)]
    assert all(0.0 <= d <= window for d in delays)
    # Full jitter covers the whole window, not just its top.
    assert min(delays) < window * 0.05
    assert max(delays) > window * 0.95


def test_backoff_is_reproducible_with_a_seeded_rng() -> None:
    first = [backoff_delay(i, 0.5, 60, random.Random(1)) for i in range(5)]
    again = [backoff_delay(i, 0.5, 60, random.Random(1)) for i in range(5)]
    assert first == again


@pytest.mark.parametrize(("base_s", "cap_s"), [(0.0, 10.0), (0.5, 0.0), (-1.0, 10.0)])
def test_backoff_without_a_base_or_cap_does_not_wait(base_s: float, cap_s: float) -> None:
    assert backoff_delay(3, base_s, cap_s, random.Random(0)) == 0.0


@given(
    retry_index=st.integers(min_value=0, max_value=10_000),
    base_s=st.floats(min_value=0.0, max_value=100.0),
    cap_s=st.floats(min_value=0.0, max_value=1000.0),
    seed=st.integers(),
)
def test_backoff_never_exceeds_the_cap_or_the_window(
    retry_index: int, base_s: float, cap_s: float, seed: int
) -> None:
    delay = backoff_delay(retry_index, base_s, cap_s, random.Random(seed))
    assert 0.0 <= delay <= cap_s
    if retry_index < 64:
        assert delay <= base_s * 2.0**retry_index


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 3 ", 3.0),
        ("0", 0.0),
        ("0.2", 0.2),
        ("-5", 0.0),
        (formatdate(NOW + 30, usegmt=True), 30.0),
        (formatdate(NOW - 30, usegmt=True), 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("nan", None),
        ("inf", None),
        ("Wed, 99 Foo 2015", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == (
        pytest.approx(expected) if expected is not None else None
    )


@given(st.text(max_size=60))
def test_parse_retry_after_never_raises_and_never_goes_negative(value: str) -> None:
    seconds = parse_retry_after(value, NOW)
    assert seconds is None or seconds >= 0.0


@pytest.mark.parametrize(
    ("code", "transient"),
    [
        (408, True),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (200, False),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (422, False),
        (501, False),
    ],
)
def test_is_transient_status(code: int, transient: bool) -> None:
    assert is_transient_status(code) is transient
