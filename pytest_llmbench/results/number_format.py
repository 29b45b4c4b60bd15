"""How a score is written in every output: fixed digits, a sign, an interval.

Here rather than in reporting/text_format (which re-exports these) because results' own
problem sentences use them, and results does not import reporting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

__all__ = ["NOTHING", "interval", "number", "signed"]

NOTHING = "—"  # no value: no scored sample, no interval, no price


def number(value: object, digits: int = 3) -> str:
    """Fixed-point text; ``NOTHING`` for anything not a number (None, a bool, a string),
    and never a negative zero ("-0.000" reads as a drop)."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return NOTHING
    text = f"{value:.{digits}f}"
    if text.startswith("-") and not text.strip("-0."):
        return text[1:]
    return text


def signed(value: object, digits: int = 3) -> str:
    """``number`` with a "+" on what is not negative: a difference."""
    text = number(value, digits)
    return text if text == NOTHING or text.startswith("-") else "+" + text


def interval(ci: Sequence[float] | None, bound: Callable[[object], str] = number) -> str:
    """``low – high``, each written by ``bound``; ``NOTHING`` without an interval."""
    return NOTHING if not ci else f"{bound(ci[0])} – {bound(ci[1])}"
