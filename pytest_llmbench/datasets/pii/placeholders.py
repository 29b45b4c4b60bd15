"""Consistent placeholders for one dataset: the same value gets the same `<KIND_n>`
everywhere in it, different values different numbers.

Values are compared normalised (phone digits with 8 read as +7, e-mail and handles
lower-case, a person's name in the nominative by natasha's morphology) and held only as
SHA-256 digests while the scrub runs; nothing of a value is written anywhere.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable

from pytest_llmbench.datasets.pii.spans import KINDS, Span

Lemma = Callable[[str], str]
_SPACES = re.compile(r"\s+")
_PROFILE_PREFIX = re.compile(r"^(?:https?://)?(?:www\.|m\.)?", re.IGNORECASE)


def normalise(kind: str, value: str, lemma: Lemma | None = None) -> str:
    if kind in ("PHONE", "CARD", "INN", "SNILS", "PASSPORT"):
        digits = "".join(c for c in value if c.isdigit())
        if kind == "PHONE" and len(digits) == 11 and digits[0] == "8":
            digits = "7" + digits[1:]
        return digits
    if kind == "IBAN":
        return value.replace(" ", "").upper()
    if kind in ("EMAIL", "HANDLE"):
        return value.lower().lstrip("@")
    if kind == "PROFILE":
        return _PROFILE_PREFIX.sub("", value).rstrip("/").lower()
    if kind == "PERSON" and lemma is not None and any("а" <= c.lower() <= "я" for c in value):
        value = lemma(value)
    return _SPACES.sub(" ", value).strip().lower().replace("ё", "е")


class Placeholders:
    """The table for one dataset, filled as its texts are scrubbed in file order."""

    def __init__(self, lemma: Lemma | None = None) -> None:
        self.lemma = lemma
        self.numbers: dict[str, dict[str, int]] = {kind: {} for kind in KINDS}
        self.counts: Counter[str] = Counter()  # placeholders written, per kind

    def placeholder(self, kind: str, value: str) -> str:
        key = hashlib.sha256(normalise(kind, value, self.lemma).encode("utf-8", "replace"))
        table = self.numbers.setdefault(kind, {})
        number = table.setdefault(key.hexdigest(), len(table) + 1)
        self.counts[kind] += 1
        return f"<{kind}_{number}>"

    def replace(self, text: str, spans: list[Span]) -> str:
        """`text` with each span (in text order, none overlapping) replaced."""
        out: list[str] = []
        position = 0
        for span in spans:
            out.append(text[position : span.start])
            out.append(self.placeholder(span.kind, text[span.start : span.end]))
            position = span.end
        out.append(text[position:])
        return "".join(out)

    def report_counts(self) -> dict[str, int]:
        return {kind: self.counts[kind] for kind in KINDS if self.counts[kind]}
