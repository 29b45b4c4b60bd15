"""What a detector finds: a span of the text and the kind of personal data in it."""

from __future__ import annotations

import re
from typing import NamedTuple

# The kinds, in the order a placeholder table and a scrub report list them. Structured kinds
# are found by pattern and (where one exists) a checksum; PERSON by named-entity recognition.
STRUCTURED = ("EMAIL", "PHONE", "HANDLE", "PROFILE", "CARD", "IBAN", "INN", "SNILS", "PASSPORT")
KINDS = (*STRUCTURED, "PERSON")

# A placeholder the scrubber wrote (`<PHONE_2>`): never personal data itself.
PLACEHOLDER = re.compile(rf"<(?:{'|'.join(KINDS)})_[0-9]{{1,9}}>")


class Span(NamedTuple):
    kind: str  # one of KINDS
    start: int
    end: int  # exclusive, as in text[start:end]


def resolve(spans: list[Span]) -> list[Span]:
    """Overlapping spans reduced to one each, in text order: the one found first in
    `spans` wins (callers list the more precise detectors first)."""
    taken: list[Span] = []
    for span in spans:
        if span.end > span.start and not any(
            span.start < other.end and other.start < span.end for other in taken
        ):
            taken.append(span)
    return sorted(taken, key=lambda s: (s.start, s.end))


def outside_placeholders(text: str, spans: list[Span]) -> list[Span]:
    """The spans that do not touch a placeholder already in the text."""
    marks = [(m.start(), m.end()) for m in PLACEHOLDER.finditer(text)]
    if not marks:
        return spans
    return [s for s in spans if not any(s.start < e and b < s.end for b, e in marks)]


def occurrences(text: str, spans: list[Span], known: dict[str, str]) -> list[Span]:
    """`spans` and every other occurrence, not inside a longer word, in `text` of a value found anywhere
    (`known`: the value's text -> its kind), so that a name the recogniser took in one
    sentence is not left in the next one. Resolved, in text order."""
    extra: list[Span] = []
    for value, kind in known.items():
        start = text.find(value)
        while start != -1:
            end = start + len(value)
            if _word_edge(text, start - 1) and _word_edge(text, end):
                extra.append(Span(kind, start, end))
            start = text.find(value, start + 1)
    return resolve([*spans, *extra]) if extra else spans


def _word_edge(text: str, index: int) -> bool:
    return index < 0 or index >= len(text) or not text[index].isalpha()
