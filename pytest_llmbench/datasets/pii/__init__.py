"""Personal data in Russian and English text: find it, replace it with consistent
placeholders. `find(text)` gives spans (kind, start, end), never values."""

from __future__ import annotations

from pytest_llmbench.datasets.pii.detect import find
from pytest_llmbench.datasets.pii.names import EXTRA_MISSING, available, natasha_version
from pytest_llmbench.datasets.pii.placeholders import Placeholders, normalise
from pytest_llmbench.datasets.pii.spans import KINDS, PLACEHOLDER, STRUCTURED, Span

__all__ = [
    "EXTRA_MISSING",
    "KINDS",
    "PLACEHOLDER",
    "STRUCTURED",
    "Placeholders",
    "Span",
    "available",
    "find",
    "natasha_version",
    "normalise",
]
