"""How a score is written: fixed digits, never a negative zero, a sign, an interval."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmbench.results.number_format import interval, number, signed


@pytest.mark.parametrize(
    ("value", "digits", "text"),
    [
        (None, 3, "—"),
        (True, 3, "—"),  # a bool is not a score
        ("0.5", 3, "—"),
        (0.88, 3, "0.880"),
        (1, 3, "1.000"),
        (102.5, 3, "102.500"),
        (0.12345, 3, "0.123"),
        (0.0004, 3, "0.000"),
        (1e6, 3, "1000000.000"),
        (0.456, 2, "0.46"),
        (-0.001, 2, "0.00"),
        (0.0, 3, "0.000"),
        (-0.0, 3, "0.000"),
        (-0.0004, 3, "0.000"),
        (-1e-17, 3, "0.000"),
        (-0.4, 0, "0"),
        (-0.0006, 3, "-0.001"),
        (-1.5, 3, "-1.500"),
        (1.23456, 2, "1.23"),
        (210.0, 0, "210"),
    ],
)
def test_number_is_fixed_point_without_negative_zero(value: object, digits: int, text: str) -> None:
    assert number(value, digits) == text


@pytest.mark.parametrize(
    ("value", "digits", "text"),
    [
        (0.05, 3, "+0.050"),
        (0.0, 3, "+0.000"),
        (-0.0001, 3, "+0.000"),  # rounds to zero: no sign of a drop
        (-0.25, 2, "-0.25"),
        (None, 3, "—"),
    ],
)
def test_signed_marks_what_is_not_negative(value: object, digits: int, text: str) -> None:
    assert signed(value, digits) == text


def test_interval_writes_both_bounds_or_nothing() -> None:
    assert interval([0.7, 0.9]) == "0.700 – 0.900"
    assert interval([-0.05, 0.01], signed) == "-0.050 – +0.010"
    assert interval(None) == "—"
    assert interval([]) == "—"


@given(st.floats(allow_nan=False, allow_infinity=False), st.integers(0, 6))
def test_number_rounds_like_format_and_is_never_negative_zero(value: float, digits: int) -> None:
    text = number(value, digits)
    assert float(text) == float(f"{value:.{digits}f}")
    assert not (text.startswith("-") and float(text) == 0)
    assert math.copysign(1, float(signed(value, digits))) == (1 if float(text) >= 0 else -1)
