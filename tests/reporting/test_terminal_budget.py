"""The terminal's budget line, from the record's run.budget."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_llmbench.reporting.terminal import budget_line


@pytest.mark.parametrize(
    ("budget", "line"),
    [
        (
            {"limit_usd": 0.5, "spent_usd": 0.1234, "held_usd": 0.0, "refused_calls": 0},
            ("budget $0.5: $0.1234 spent", ""),
        ),
        (
            {"limit_usd": 0.002, "spent_usd": 0.0019, "held_usd": 0.0, "refused_calls": 1},
            (
                "budget $0.002: $0.0019 spent; it stopped 1 judge call whose worst case did not fit",
                "yellow",
            ),
        ),
        (
            {"limit_usd": 2, "spent_usd": 1.5, "held_usd": 0.25, "refused_calls": 7},
            (
                "budget $2: $1.5000 spent, $0.2500 held by calls that never returned; "
                "it stopped 7 judge calls whose worst case did not fit",
                "yellow",
            ),
        ),
    ],
    ids=["within", "one-refused", "held-and-refused"],
)
def test_the_budget_line_says_what_was_spent_held_and_refused(
    budget: dict[str, Any], line: tuple[str, str]
) -> None:
    assert budget_line(budget) == line
