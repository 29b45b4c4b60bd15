"""Numbers, money, durations and aligned columns, written the same in every output (the
markdown report, the terminal section, the history page and the ``llmbench`` command).

The score forms (``number``, ``signed``, ``interval``) live in results/number_format, which
results' own problem sentences use; they are re-exported here so that reporting and the
command import one module.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from pytest_llmbench.results.number_format import NOTHING, interval, number, signed

__all__ = [
    "NOTHING",
    "columns",
    "interval",
    "judge_noise",
    "money",
    "number",
    "printable",
    "seconds",
    "signed",
]


# C0 and C1 controls and DEL (ESC starts ANSI sequences that could repaint a terminal),
# and the bidi overrides that reorder what a reader sees.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` with every control character shown escaped (``\\x1b``), for a terminal."""
    return _CONTROL.sub(
        lambda m: (
            f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}"
        ),
        text,
    )


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


def judge_noise(metric: Mapping[str, Any]) -> str | None:
    """A metric's judge noise over its samples' repeats (``noise_sd``, ICC(1) with its
    interval, the smallest change it lets a gate see); None without repeats."""
    if "noise_sd" not in metric:
        return None
    text = f"noise SD {number(metric['noise_sd'])}"
    agreement = metric.get("agreement")
    if agreement:
        k = f"{agreement['repeats']:.1f}".removesuffix(".0")
        if agreement["value"] is not None:
            text += (
                f" · ICC(1) {number(agreement['value'], 2)} "
                f"(95% CI {interval(agreement['ci95'])})"
            )
        text += f" over {agreement['samples']} samples × {k} repeats"
    if metric.get("resolution") is not None:
        text += f" · resolves changes over {number(metric['resolution'])}"
    return text
