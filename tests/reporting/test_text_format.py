"""Money, durations and aligned columns, as every output writes them."""

from __future__ import annotations

from pytest_llmbench.reporting.text_format import columns, money, seconds


def test_money_is_dollars_to_four_decimals() -> None:
    assert money(0.01234) == "$0.0123"
    assert money(0) == "$0.0000"
    assert money(None) == "—"


def test_seconds_is_a_tenth_of_a_second() -> None:
    assert seconds(12.34) == "12.3 s"
    assert seconds(3) == "3.0 s"
    assert seconds(None) == "—"


def test_columns_align_left_but_for_the_right_ones_without_trailing_spaces() -> None:
    rows = [("metric", "value", "status"), ("coverage", "0.900", "pass"), ("x", "1.0", "")]
    assert columns(rows, right=(1,)) == [
        "metric    value  status",
        "coverage  0.900  pass",
        "x           1.0",
    ]
