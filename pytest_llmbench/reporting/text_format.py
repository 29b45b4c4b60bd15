"""Numbers, money, durations and aligned columns, written the same in every output (the
markdown report, the terminal section, the history page and the ``llmbench`` command).

The score forms (``number``, ``signed``, ``interval``) live in results/number_format, which
results' own problem sentences use; they are re-exported here so that reporting and the
command import one module.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from pytest_llmbench.results.number_format import NOTHING, interval, number, signed

__all__ = ["NOTHING", "columns", "interval", "money", "number", "seconds", "signed"]


def money(value: float | None) -> str:
    """US dollars to 4 decimals (a judge call costs fractions of a cent)."""
    return NOTHING if value is None else f"${value:.4f}"


def seconds(value: object) -> str:
    """A duration to a tenth of a second, e.g. ``12.3 s``."""
    text = number(value, 1)
    return text if text == NOTHING else f"{text} s"


def columns(rows: Sequence[Sequence[str]], right: Collection[int] = ()) -> list[str]:
    """The rows as lines of columns two spaces apart, left-aligned but for the ``right``
    ones (numbers); no trailing spaces."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ).rstrip()
        for row in rows
    ]
